"""/metrics: the Prometheus text format, behind METRICS_TOKEN when it is set; served by the web
(a Django view) and, where WORKER_METRICS_PORT is set, by a worker (a small WSGI server)."""

import hmac
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings
from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ops.metrics import scrape_registry

UNAUTHORIZED = b'{"detail": "Send the metrics token: Authorization: Bearer <METRICS_TOKEN>."}'
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="metrics"'}


def authorized(authorization: str) -> bool:
    token = settings.METRICS_TOKEN
    return not token or hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode())


def metrics(request) -> HttpResponse:
    if not authorized(request.headers.get("Authorization", "")):
        return HttpResponse(UNAUTHORIZED, status=401, content_type="application/json", headers=CHALLENGE)
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)


def _wsgi_metrics(environ, start_response):
    if environ.get("PATH_INFO") != "/metrics":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not found; the metrics are at /metrics.\n"]
    if not authorized(environ.get("HTTP_AUTHORIZATION", "")):
        start_response("401 Unauthorized", [("Content-Type", "application/json"), *CHALLENGE.items()])
        return [UNAUTHORIZED]
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
    return [generate_latest(scrape_registry())]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # a scrape every few seconds is not news
        pass


def metrics_server_start(*, host: str, port: int) -> WSGIServer:
    """Serve /metrics from a thread of this process (a worker's main process)."""
    server = make_server(
        host, port, _wsgi_metrics, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True).start()
    return server
