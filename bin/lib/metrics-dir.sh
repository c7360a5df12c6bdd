# Sourced by bin/web and bin/worker: prometheus-client's multiprocess folder (ops/metrics.py),
# where this machine's web and worker processes add up their counts. Under Kubernetes, each pod
# has its own (an emptyDir); `make run` empties .var/run/metrics at each start.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-${TMPDIR:-/tmp}/jobs-metrics}"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
