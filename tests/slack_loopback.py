"""A loopback server speaking Slack's Web API, recording what Slack would receive.

`POST /api/<method>` answers like Slack (form or JSON bodies, `{"ok": ...}` replies);
`POST /response/<id>` stands for a slash command's response_url. Failures are scripted with
`fail(method, status=429, retry_after=1)`. `wait_for(predicate)` blocks until a call arrives.
"""

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T0001"


@dataclass
class Call:
    method: str
    params: dict
    token: str
    at: float
    status: int = 200


@dataclass
class Failure:
    status: int
    retry_after: int | None
    error: str | None
    times: int


@dataclass
class SlackWebAPI:
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[Failure]] = field(default_factory=dict)

    def __post_init__(self):
        self._cond = threading.Condition()
        self._ts = itertools.count(1)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    params = json.loads(raw or "{}")
                else:
                    params = dict(parse_qsl(raw))
                    for key in ("blocks", "attachments"):
                        if isinstance(params.get(key), str):
                            params[key] = json.loads(params[key])
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                method = self.path.lstrip("/").removeprefix("api/").split("?")[0]
                status, headers, payload = server.answer(method, params, token)
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json" if not isinstance(payload, str) else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/api/"

    def response_url(self, name: str = "cmd") -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/response/{name}"

    def __enter__(self) -> "SlackWebAPI":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- scripting and inspection ------------------------------------------------------------

    def fail(self, method: str, *, status: int = 429, retry_after: int | None = 1, error: str | None = None, times=1):
        self.failures.setdefault(method, []).append(Failure(status, retry_after, error, times))

    def of(self, method: str) -> list[Call]:
        with self._cond:
            return [call for call in self.calls if call.method == method]

    def wait_for(self, predicate, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout=timeout)

    # --- Slack's answers ---------------------------------------------------------------------

    def _next_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.000100"

    def answer(self, method: str, params: dict, token: str):
        with self._cond:
            try:
                pending = self.failures.get(method) or []
                if pending:
                    failure = pending[0]
                    failure.times -= 1
                    if failure.times <= 0:
                        pending.pop(0)
                    self.calls.append(Call(method, params, token, time.monotonic(), failure.status))
                    headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
                    if failure.status == 200:
                        return 200, headers, {"ok": False, "error": failure.error or "fatal_error"}
                    return failure.status, headers, {"ok": False, "error": failure.error or "ratelimited"}
                self.calls.append(Call(method, params, token, time.monotonic()))
                return 200, {}, self._ok(method, params)
            finally:
                self._cond.notify_all()

    def _ok(self, method: str, params: dict):
        if method.startswith("response/"):
            return "ok"
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://aspora-demo.slack.com/",
                "team": "Aspora demo",
                "user": "aspora",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        if method in ("chat.postMessage", "chat.startStream"):
            ts = self._next_ts()
            return {"ok": True, "channel": params.get("channel"), "ts": ts, "message": {"ts": ts, **params}}
        if method in ("chat.update", "chat.appendStream", "chat.stopStream"):
            return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(params.get("users", "X"))}}
        if method == "users.info":
            user = params.get("user", "U0")
            return {"ok": True, "user": {"id": user, "team_id": TEAM_ID, "name": user.lower(), "profile": {}}}
        if method == "oauth.v2.access":
            return {
                "ok": True,
                "app_id": "A0001",
                "access_token": "xoxb-installed",
                "token_type": "bot",
                "scope": "chat:write,commands",
                "bot_user_id": BOT_USER_ID,
                "team": {"id": "T0002", "name": "Second workspace"},
                "enterprise": None,
                "authed_user": {"id": "UINSTALLER"},
                "is_enterprise_install": False,
            }
        return {"ok": False, "error": "unknown_method"}
