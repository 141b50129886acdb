"""Loopback servers that speak real providers' HTTP protocols, for tests that keep the real clients."""

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One chat-completions answer: text, tool calls, or an HTTP error; optionally slow."""

    text: str = ""
    tool_calls: list[tuple[str, dict]] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0
    prompt_tokens: int = 120
    completion_tokens: int = 30


class OpenAIChatServer:
    """`POST /v1/chat/completions`, streamed (SSE chunks) or not, as the OpenAI API answers it.

    `script(request_body) -> Reply` decides each answer; every request is kept in `requests`.
    """

    def __init__(self, script: Callable[[dict], Reply]):
        self.script = script
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self.send_error(404)
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.headers.append({key.lower(): value for key, value in self.headers.items()})
                reply = server.script(body)
                time.sleep(reply.delay)
                if reply.status != 200:
                    self._json(reply.status, {"error": {"message": "upstream exploded", "type": "server_error"}})
                elif body.get("stream"):
                    self._stream(body, reply)
                else:
                    self._json(200, server.completion(body, reply))

            def _json(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict, reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for chunk in server.chunks(body, reply):
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "OpenAIChatServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @staticmethod
    def _tool_calls(reply: Reply) -> list[dict]:
        return [
            {
                "index": i,
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for i, (name, args) in enumerate(reply.tool_calls)
        ]

    def _usage(self, reply: Reply) -> dict:
        return {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        }

    def completion(self, body: dict, reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if reply.tool_calls:
            message["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in self._tool_calls(reply)]
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {"index": 0, "message": message, "finish_reason": "tool_calls" if reply.tool_calls else "stop"}
            ],
            "usage": self._usage(reply),
        }

    def chunks(self, body: dict, reply: Reply) -> list[dict]:
        base = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": body["model"],
        }
        chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}]
        if reply.tool_calls:
            chunks.append(
                {
                    **base,
                    "choices": [{"index": 0, "delta": {"tool_calls": self._tool_calls(reply)}, "finish_reason": None}],
                }
            )
        words = reply.text.split(" ")
        for i, word in enumerate(words):
            piece = word if i == len(words) - 1 else word + " "
            if piece:
                chunks.append({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
        finish = "tool_calls" if reply.tool_calls else "stop"
        chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        chunks.append({**base, "choices": [], "usage": self._usage(reply)})
        return chunks
