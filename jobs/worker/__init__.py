"""The worker's side of a job: the claim, the run, heartbeats, the context and progress."""
