"""A loopback server speaking the Graph API messages endpoint, recording what WhatsApp would get."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class GraphAPIServer:
    def __init__(self, *, fail_first_with: int | None = None):
        self.sent: list[dict] = []
        self.headers: list[dict] = []
        self.fail_first_with = fail_first_with
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                if not self.path.endswith("/messages"):
                    self.send_error(404)
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if server.fail_first_with:
                    status, server.fail_first_with = server.fail_first_with, None
                    self.send_response(status)
                    self.send_header("Retry-After", "0")
                    self.end_headers()
                    return
                server.sent.append(body)
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                data = json.dumps(
                    {"messaging_product": "whatsapp", "messages": [{"id": f"wamid.out{len(server.sent)}"}]}
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(data.encode())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v21.0"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
