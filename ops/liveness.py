"""Liveness files for the processes that serve no HTTP: a worker and beat each touch a file
while their main loop turns, and `python -m ops.liveness worker|beat` (the Kubernetes exec
probe and the Compose healthcheck) fails once it has gone stale.

A file rather than `celery inspect ping`: a ping is a broadcast through the broker to every
worker and a wait for the replies, once per probe per pod; it costs each worker a message,
and fails whenever the broker is slow, restarting healthy workers for the broker's fault.
"""

import os
import sys
import time
from pathlib import Path

# No Django or Celery here: the probe runs every few seconds, and should cost a file's stat.
TOUCH_EVERY_S = 10
STALE_AFTER_S = 60


def liveness_file(role: str) -> Path:
    """WORKER_LIVENESS_FILE or BEAT_LIVENESS_FILE, by default in the temporary folder."""
    default = Path(os.environ.get("TMPDIR", "/tmp")) / f"jobs-{role}.alive"
    return Path(os.environ.get(f"{role.upper()}_LIVENESS_FILE") or default)


def touch(role: str) -> None:
    liveness_file(role).touch()


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in {"worker", "beat"}:
        print("usage: python -m ops.liveness worker|beat", file=sys.stderr)
        return 2
    path = liveness_file(argv[0])
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        print(f"{argv[0]} is not alive: {path} does not exist", file=sys.stderr)
        return 1
    if age > STALE_AFTER_S:
        print(f"{argv[0]} is not alive: {path} is {age:.0f} s old", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
