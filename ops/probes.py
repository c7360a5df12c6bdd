"""/livez, /readyz and /metrics: answered before any other middleware, so that a probe or a
scrape needs no session and no allowed Host (kubelet and Prometheus send the pod's IP), and is
never redirected to HTTPS."""

from django.http import JsonResponse

from ops.checks import dependencies_failing
from ops.exposition import metrics


def livez(request) -> JsonResponse:
    """The process is up and serving: no dependency is checked, so an outage of PostgreSQL or
    Redis takes the pods out of service (readyz) without restarting all of them."""
    return JsonResponse({"status": "ok"})


def readyz(request) -> JsonResponse:
    failing = dependencies_failing()
    if failing:
        return JsonResponse({"status": "unavailable", "failing": failing}, status=503)
    return JsonResponse({"status": "ok"})


PROBES = {"/livez": livez, "/readyz": readyz, "/metrics": metrics}


class ProbeMiddleware:
    """First in MIDDLEWARE: these paths are answered here, for GET and HEAD, whatever the Host."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        probe = PROBES.get(request.path_info)
        if probe is not None and request.method in {"GET", "HEAD"}:
            return probe(request)
        return self.get_response(request)
