"""A real HTTP server on 127.0.0.1, in a thread, for tests of outgoing requests."""

import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class LocalServer:
    """Answers the n-th request with the n-th response (the last one repeats) and records each request.

    A response is (status, headers, body). Content-Length is added unless headers maps it to None,
    in which case the body simply ends when the connection closes. Use it as a context manager:

        with LocalServer((500, {}, b""), (200, {}, b"ok")) as server:
            requests.post(server.url("/hook"))
    """

    def __init__(
        self, *responses: tuple[int, dict[str, str | None], bytes], tls: ssl.SSLContext | None = None
    ):
        self.responses = responses
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_port

    def url(self, path: str = "/", *, host: str = "127.0.0.1") -> str:
        scheme = "https" if isinstance(self._server.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def __enter__(self):
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info):
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, request: Received) -> tuple[int, dict[str, str | None], bytes]:
        with self._lock:
            self.received.append(request)
            return self.responses[min(len(self.received), len(self.responses)) - 1]

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def handle_one_request(self):
                self.raw_requestline = self.rfile.readline(65537)
                if not self.raw_requestline or not self.parse_request():
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, content = server._answer(
                    Received(self.command, self.path, dict(self.headers), body)
                )
                self.send_response(status)
                for name, value in {"Content-Length": str(len(content)), **headers}.items():
                    if value is not None:
                        self.send_header(name, value)
                self.end_headers()
                self.wfile.write(content)
                self.wfile.flush()

            def log_message(self, format, *args):
                pass  # keep the test output clean

        return Handler
