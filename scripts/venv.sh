#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install a requirements file into it; a no-op when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUIREMENTS=${1:?usage: scripts/venv.sh requirements.txt|requirements-dev.txt}
PYTHON=${PYTHON:-python3}

die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null || die "$PYTHON not found; install Python 3.11 or newer."
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "Python 3.11 or newer is needed; $PYTHON is $("$PYTHON" --version 2>&1)."

if [ ! -x .venv/bin/python ]; then
  # Debian and Ubuntu ship venv's pip bootstrap separately, as python3-venv.
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      "$PYTHON" -m venv .venv
    else
      die "'$PYTHON -m venv' failed; install the python3-venv package."
    fi
  fi
fi

# The stamp records what was installed: the hash of the requirements files involved.
stamp=.venv/.installed-$(basename "$REQUIREMENTS" .txt)
digest=$(cat requirements*.txt constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
  printf '\033[1m==> Installing %s into .venv\033[0m\n' "$REQUIREMENTS"
  # constraints.txt pins the transitive packages too, as the Dockerfile installs them.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" -c constraints.txt
  echo "$digest" >"$stamp"
fi
