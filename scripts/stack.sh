#!/usr/bin/env bash
# Private PostgreSQL and Redis (and RabbitMQ, when asked) for one "stack", and what runs on top.
#
#   scripts/stack.sh run            services, migrations, admin user, then web/worker/beat/flower (Ctrl-C stops all)
#   scripts/stack.sh test [ARGS]    services, then lint, Django checks and pytest ARGS
#   scripts/stack.sh bench [ARGS]   services (fsync on, as in production), then benchmarks/compare.py ARGS
#   scripts/stack.sh up run|test    start that stack's PostgreSQL and Redis and leave them running
#
# BROKER=rabbitmq makes RabbitMQ the broker (Redis stays, for events, locks and the cache);
# `test` starts RabbitMQ anyway, and runs the broker-dependent tests on it once more.
#   scripts/stack.sh stop run|test  stop that stack's PostgreSQL and Redis
#
# Each stack keeps its data in .var/<stack>/ and listens on 127.0.0.1 ports of its own,
# so `make test` can run beside `make run`. System-wide services are never touched.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$ROOT/.venv/bin:$PATH"
MODE=${1:?usage: scripts/stack.sh run|test|stop ...}
shift

case "$MODE" in
  run) STACK=run ;;
  test) STACK=test ;;
  bench) STACK=bench ;;
  up | stop) STACK=${1:?usage: scripts/stack.sh $MODE run|test}; shift ;;
  *) echo "unknown mode: $MODE (use run, test, bench, up or stop)" >&2; exit 2 ;;
esac

case "$STACK" in
  run) PG_PORT=${PG_PORT:-54320}; REDIS_PORT=${REDIS_PORT:-63790}; RABBIT_PORT=${RABBIT_PORT:-56720} ;;
  test) PG_PORT=${PG_PORT:-54321}; REDIS_PORT=${REDIS_PORT:-63791}; RABBIT_PORT=${RABBIT_PORT:-56721} ;;
  bench) PG_PORT=${PG_PORT:-54322}; REDIS_PORT=${REDIS_PORT:-63792}; RABBIT_PORT=${RABBIT_PORT:-56722} ;;
  *) echo "unknown stack: $STACK (use run, test or bench)" >&2; exit 2 ;;
esac

VAR=${STACK_VAR_DIR:-$ROOT/.var/$STACK}
mkdir -p "$VAR"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# --- Finding or installing the servers --------------------------------------------------
APT_UPDATED=
apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    die "$1 is not installed. Install $2 with your package manager (e.g. sudo apt-get install $2), or use 'docker compose up'."
  fi
  say "Installing $2 (apt-get)"
  if [ -z "$APT_UPDATED" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}

find_pg_bin() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/psql" ] && { echo "$dir"; return; }
  done
  if command -v pg_ctl >/dev/null && command -v initdb >/dev/null && command -v psql >/dev/null; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
  fi
}

PG_BIN=$(find_pg_bin)
if [ -z "$PG_BIN" ]; then
  apt_install "PostgreSQL" postgresql
  PG_BIN=$(find_pg_bin)
  [ -n "$PG_BIN" ] || die "PostgreSQL was installed but initdb/pg_ctl/psql were not found."
fi
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  apt_install "Redis" redis-server
fi
BROKER=${BROKER:-redis}
case "$BROKER" in
  redis | rabbitmq) ;;
  *) die "BROKER=$BROKER: use redis or rabbitmq." ;;
esac
# Debian's RabbitMQ 3.10; its scripts in /usr/lib/rabbitmq/bin run as the calling user.
RABBIT_BIN=/usr/lib/rabbitmq/bin
if { [ "$BROKER" = rabbitmq ] || [ "$MODE" = test ] || [ "$MODE" = stop ]; } && [ ! -x "$RABBIT_BIN/rabbitmq-server" ]; then
  [ "$MODE" = stop ] || apt_install "RabbitMQ" rabbitmq-server
fi
if [ "$MODE" = test ] && ! command -v openssl >/dev/null; then
  apt_install "OpenSSL (the tests make a certificate with it)" openssl
fi
# The benchmark (and its smoke in the tests) loads the web servers with wrk.
if { [ "$MODE" = test ] || [ "$MODE" = bench ]; } && ! command -v wrk >/dev/null; then
  apt_install "wrk (the HTTP load generator of make bench)" wrk
fi
# The browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
if [ "$MODE" = test ] && [ ! -x /usr/bin/chromium ]; then
  apt_install "Chromium (for the browser tests)" chromium
fi

# --- PostgreSQL ---------------------------------------------------------------------------
# PostgreSQL refuses to run as root; as root, the cluster belongs to the 'postgres' user.
PG_DATA=$VAR/pg
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

prepare_pg_dir() {
  mkdir -p "$PG_DATA"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
    chown postgres "$PG_DATA"
    chmod 700 "$PG_DATA"
    if ! runuser -u postgres -- test -w "$PG_DATA"; then
      die "the 'postgres' user cannot reach $PG_DATA (a parent folder is private). Clone the project somewhere world-traversable, e.g. under /work or /srv."
    fi
  fi
}

pg_running() { as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

start_pg() {
  prepare_pg_dir
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    say "Creating a PostgreSQL cluster in $PG_DATA"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C --no-instructions >"$VAR/initdb.log" 2>&1 \
      || die "initdb failed; see $VAR/initdb.log"
  fi
  if pg_running; then
    return 1
  fi
  local extra=""
  if [ "$STACK" = test ]; then
    # Test data is disposable: skip the disk flushes that make durable commits slow.
    extra="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  elif [ "$STACK" = bench ]; then
    # Durable commits, as in production; every connection logged, so the bench can count them.
    extra="-c log_connections=on"
  fi
  say "Starting PostgreSQL on 127.0.0.1:$PG_PORT"
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" -w -t 60 \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories= $extra" start >/dev/null \
    || die "PostgreSQL did not start; see $PG_DATA/server.log"
  return 0
}

ensure_database() {
  local exists
  exists=$("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'jobs'")
  [ "$exists" = 1 ] || "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE jobs" >/dev/null
}

stop_pg() {
  pg_running && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null || true
}

# --- Redis --------------------------------------------------------------------------------
REDIS_DIR=$VAR/redis
redis_running() { [ -f "$REDIS_DIR/redis.pid" ] && kill -0 "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null; }

start_redis() {
  mkdir -p "$REDIS_DIR"
  if redis_running; then
    return 1
  fi
  say "Starting Redis on 127.0.0.1:$REDIS_PORT (append-only file in $REDIS_DIR)"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDIS_DIR" \
    --appendonly yes --appendfsync everysec --save "" \
    --daemonize yes --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log"
  for _ in $(seq 100); do
    [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && return 0
    sleep 0.1
  done
  die "Redis did not answer on port $REDIS_PORT; see $REDIS_DIR/redis.log"
}

stop_redis() {
  if redis_running; then
    local pid
    pid=$(cat "$REDIS_DIR/redis.pid")
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  fi
}

# --- RabbitMQ -----------------------------------------------------------------------------
# A node of this stack's own: its name, ports, config and data under .var/<stack>/rabbitmq,
# listening on loopback only (AMQP; Erlang distribution on the port 1000 below it; epmd),
# without plugins.
RABBIT_DIR=$VAR/rabbitmq
RABBIT_NODE=jobs-$RABBIT_PORT@localhost  # unique per port: a chaos run beside the test stack
rabbit() {
  HOME=$RABBIT_DIR RABBITMQ_NODENAME=$RABBIT_NODE RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT=$RABBIT_PORT RABBITMQ_DIST_PORT=$((RABBIT_PORT - 1000)) ERL_CRASH_DUMP=$RABBIT_DIR/erl_crash.dump \
    RABBITMQ_CONFIG_FILE=$RABBIT_DIR/rabbitmq RABBITMQ_ENABLED_PLUGINS_FILE=$RABBIT_DIR/enabled_plugins \
    RABBITMQ_MNESIA_BASE=$RABBIT_DIR/mnesia RABBITMQ_LOG_BASE=$RABBIT_DIR/log \
    RABBITMQ_PID_FILE=$RABBIT_DIR/rabbitmq.pid ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    "$@"
}
rabbit_running() { [ -f "$RABBIT_DIR/rabbitmq.pid" ] && kill -0 "$(cat "$RABBIT_DIR/rabbitmq.pid")" 2>/dev/null; }

start_rabbitmq() {
  mkdir -p "$RABBIT_DIR"
  if rabbit_running; then
    return 1
  fi
  # consumer_timeout: above CELERY_VISIBILITY_TIMEOUT_S (60 min by default), so that a worker
  # on its longest job keeps its channel (README, "Choosing a broker").
  cat >"$RABBIT_DIR/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$RABBIT_PORT
consumer_timeout = 3900000
CONF
  echo "[]." >"$RABBIT_DIR/enabled_plugins"
  # The test stack's queues start empty, as its Redis does (flushed before the tests).
  [ "$MODE" = test ] && rm -rf "$RABBIT_DIR/mnesia"
  say "Starting RabbitMQ on 127.0.0.1:$RABBIT_PORT (node $RABBIT_NODE, data in $RABBIT_DIR)"
  rm -f "$RABBIT_DIR/rabbitmq.pid"
  rabbit "$RABBIT_BIN/rabbitmq-server" >"$RABBIT_DIR/server.log" 2>&1 &
  rabbit "$RABBIT_BIN/rabbitmqctl" -q wait --timeout 60 "$RABBIT_DIR/rabbitmq.pid" >/dev/null 2>&1 \
    || die "RabbitMQ did not start on port $RABBIT_PORT; see $RABBIT_DIR/server.log"
}

stop_rabbitmq() {
  if rabbit_running; then
    rabbit "$RABBIT_BIN/rabbitmqctl" -q stop "$RABBIT_DIR/rabbitmq.pid" >/dev/null 2>&1 || true
  fi
}

# --- What a stack runs ----------------------------------------------------------------------
STARTED=()
stop_started() {
  local service
  for service in "${STARTED[@]}"; do "stop_$service"; done
}

start_services() {
  trap stop_started EXIT
  trap 'exit 130' INT TERM
  if start_pg; then STARTED+=(pg); fi
  ensure_database
  if start_redis; then STARTED+=(redis); fi
  if [ "$BROKER" = rabbitmq ] || [ -n "${TEST_ON_RABBITMQ:-}" ]; then
    if start_rabbitmq; then STARTED+=(rabbitmq); fi
  fi
  export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/jobs"
  RABBITMQ_URL="amqp://guest:guest@127.0.0.1:$RABBIT_PORT//"
  if [ "$BROKER" = rabbitmq ]; then
    export CELERY_BROKER_URL=$RABBITMQ_URL REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
  else
    export CELERY_BROKER_URL="redis://127.0.0.1:$REDIS_PORT/0"
  fi
  export DEBUG=${DEBUG:-true}
}

# The git-ignored .env the settings read (config/env.py), so that manage.py in another shell
# reaches this stack with nothing exported. ENV_FILE names another file; ENV_FILE= writes none.
# A .env that make run did not write is left alone.
ENV_FILE_HEADER="# Written by make run"
write_env_file() {
  local file=${ENV_FILE-$ROOT/.env}
  [ -n "$file" ] || return 0
  if [ -f "$file" ] && [ "$(head -c ${#ENV_FILE_HEADER} "$file")" != "$ENV_FILE_HEADER" ]; then
    say "Leaving $file as it is: make run did not write it"
    return 0
  fi
  {
    echo "$ENV_FILE_HEADER at each start: manage.py in any shell of this folder reaches this stack."
    echo "# Exported variables win over these lines. Without this file the production defaults hold."
    echo "DATABASE_URL=$DATABASE_URL"
    echo "CELERY_BROKER_URL=$CELERY_BROKER_URL"
    [ -z "${REDIS_URL:-}" ] || echo "REDIS_URL=$REDIS_URL"
    echo "DEBUG=$DEBUG"
    echo "PROMETHEUS_MULTIPROC_DIR=$PROMETHEUS_MULTIPROC_DIR"
  } >"$file"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

run_stack() {
  export WEB_PORT=${WEB_PORT:-8000} FLOWER_PORT=${FLOWER_PORT:-5555}
  export ADMIN_USERNAME=${ADMIN_USERNAME:-admin} ADMIN_PASSWORD=${ADMIN_PASSWORD:-admin}
  export FLOWER_BASIC_AUTH=${FLOWER_BASIC_AUTH:-admin:admin}
  local port
  for port in "$WEB_PORT" "$FLOWER_PORT"; do
    port_free "$port" || die "port $port on 127.0.0.1 is in use; set WEB_PORT / FLOWER_PORT to free ports."
  done
  start_services
  # The web's and the worker's counts add up in one folder (ops/metrics.py), emptied at each
  # start: a new run counts from zero, and no dead process's files pile up.
  export PROMETHEUS_MULTIPROC_DIR="$VAR/metrics"
  rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
  write_env_file
  say "Migrating, creating the admin user and collecting static files"
  bin/release
  python manage.py collectstatic --noinput --verbosity 0
  cat <<EOF

  API (browsable)   http://127.0.0.1:$WEB_PORT/api/
  Admin             http://127.0.0.1:$WEB_PORT/admin/       user $ADMIN_USERNAME / password $ADMIN_PASSWORD (as first created)
  OpenAPI docs      http://127.0.0.1:$WEB_PORT/api/docs/
  Flower            http://127.0.0.1:$FLOWER_PORT/           basic auth $FLOWER_BASIC_AUTH
  Token for curl    curl -s -X POST http://127.0.0.1:$WEB_PORT/api/auth/token/ -d username=$ADMIN_USERNAME -d password=$ADMIN_PASSWORD
  From a shell      .venv/bin/python manage.py jobs      (reads ${ENV_FILE-.env}, written now; nothing to export)

  PostgreSQL 127.0.0.1:$PG_PORT and Redis 127.0.0.1:$REDIS_PORT keep their data in .var/run/.
  The broker is $CELERY_BROKER_URL (BROKER=$BROKER).
  Press Ctrl-C to stop everything.

EOF
  honcho start --procfile Procfile
}

test_stack() {
  # The tests set every variable they mean; a .env from make run must not fill the others.
  export ENV_FILE=
  # The whole suite (no pytest arguments) runs its broker tests on RabbitMQ too.
  if [ $# = 0 ]; then TEST_ON_RABBITMQ=1; fi
  start_services
  # The suite starts its own workers and web servers; a clean broker keeps runs independent.
  redis-cli -p "$REDIS_PORT" flushall >/dev/null
  python manage.py collectstatic --noinput --verbosity 0
  say "ruff check"; ruff check .
  say "ruff format --check"; ruff format --check .
  say "mypy (jobs/services, jobs/worker)"; mypy
  say "manage.py check"; python manage.py check
  say "makemigrations --check"; python manage.py makemigrations --check --dry-run
  say "OpenAPI schema (no warnings)"; python manage.py spectacular --validate --fail-on-warn --file /dev/null
  say "pytest"; pytest "$@"
  if [ $# = 0 ] || [ "$*" = tests/unit ]; then
    say "django-celery-results' own tests, on this project's result store"
    scripts/upstream-results-suite.sh
  fi
  if [ -n "${TEST_ON_RABBITMQ:-}" ]; then
    # The tests of what the broker carries, again with RabbitMQ as the broker (README, "Tests").
    say "pytest -m broker, on RabbitMQ"
    BROKER=rabbitmq CELERY_BROKER_URL=$RABBITMQ_URL REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" \
      pytest -m broker -p no:cacheprovider
  fi
}

bench_stack() {
  export ENV_FILE=
  start_services
  PG_LOG="$PG_DATA/server.log" PG_PORT=$PG_PORT REDIS_PORT=$REDIS_PORT python benchmarks/compare.py "$@"
}

case "$MODE" in
  run) run_stack ;;
  test) test_stack "$@" ;;
  bench) bench_stack "$@" ;;
  up)
    start_services
    STARTED=()  # leave them running
    echo "export DATABASE_URL=$DATABASE_URL CELERY_BROKER_URL=$CELERY_BROKER_URL ${REDIS_URL:+REDIS_URL=$REDIS_URL }DEBUG=$DEBUG ENV_FILE="
    ;;
  stop) stop_pg; stop_redis; stop_rabbitmq ;;
esac
