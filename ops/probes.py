"""/livez and /readyz: answered before any other middleware, so that a probe needs no
credentials and no allowed Host (kubelet sends the pod's IP), and is never redirected to HTTPS."""

from django.http import JsonResponse

from ops.checks import dependencies_failing


def livez(request) -> JsonResponse:
    """The process is up and serving: no dependency is checked, so an outage of PostgreSQL or
    Redis takes the pods out of service (readyz) without restarting all of them."""
    return JsonResponse({"status": "ok"})


def readyz(request) -> JsonResponse:
    failing = dependencies_failing()
    if failing:
        return JsonResponse({"status": "unavailable", "failing": failing}, status=503)
    return JsonResponse({"status": "ok"})


PROBES = {"/livez": livez, "/readyz": readyz}


class ProbeMiddleware:
    """First in MIDDLEWARE: the probe paths are answered here, for GET and HEAD, whatever the Host."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        probe = PROBES.get(request.path_info)
        if probe is not None and request.method in {"GET", "HEAD"}:
            return probe(request)
        return self.get_response(request)
