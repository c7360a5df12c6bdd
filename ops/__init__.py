"""Running the service: health probes and liveness files, /metrics, JSON logs with job and
request ids, and the worker's bootsteps for them; imports no app (the apps add their metrics)."""
