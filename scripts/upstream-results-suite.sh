#!/usr/bin/env bash
# django-celery-results' own unit tests, from the source distribution of the version that
# requirements.txt pins, against PostgreSQL (DATABASE_URL) with this project's result store in
# place of the stock one (tests/upstream_results/). make test runs it; a new pin runs its suite.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VERSION=$(sed -n 's/^django-celery-results==\(.*\)$/\1/p' "$ROOT/requirements.txt")
[ -n "$VERSION" ] || { echo "requirements.txt pins no django-celery-results" >&2; exit 2; }
SUITE="$ROOT/.var/upstream/django-celery-results-$VERSION"
if [ ! -d "$SUITE/t/unit" ]; then
  download=$(mktemp -d)
  pip download --quiet --no-binary :all: --no-deps "django-celery-results==$VERSION" -d "$download"
  mkdir -p "$SUITE"
  tar -xzf "$download/django_celery_results-$VERSION.tar.gz" -C "$SUITE" --strip-components=1
  rm -rf "$download"
fi
# In the suite's folder, with its own pytest options (setup.cfg); the settings and the swap are ours.
cd "$SUITE"
PYTHONPATH="$ROOT" exec pytest t/unit -p tests.upstream_results.swap --ds=tests.upstream_results.settings \
  -p no:cacheprovider -q "$@"
