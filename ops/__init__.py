"""Running the service: health probes and liveness files for Kubernetes, Compose and load balancers."""
