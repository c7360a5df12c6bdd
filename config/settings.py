"""The one settings module. Every value that differs between machines comes from the environment.

Defaults make `make run` work on a developer's machine; anything malformed raises
ImproperlyConfigured at start-up (see config/env.py). The README lists every variable.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from config.beat_schedule import beat_schedule
from config.env import (
    env_bool,
    env_credentials,
    env_file_load,
    env_int,
    env_list,
    env_proxies,
    env_str,
    env_url,
)
from config.logconfig import logging_settings

BASE_DIR = Path(__file__).resolve().parent.parent
env_file_load(BASE_DIR / ".env")  # only what `make run` wrote, for a plain shell; none in production

DEBUG = env_bool("DEBUG", False)
_DEV_SECRET_KEY = "django-insecure-dev-only-key-do-not-use-in-production"
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET_KEY if DEBUG else None)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Served over HTTPS (directly or behind a proxy that sets X-Forwarded-Proto): secure cookies,
# redirects to https and HSTS. `manage.py check --deploy` passes with HTTPS=true.
HTTPS = env_bool("HTTPS", False)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", HTTPS)
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The proxies (addresses, CIDR ranges, or *) whose X-Forwarded-For and -Proto uvicorn believes
# (bin/web). None by default: the client's address, which throttles and lockouts count by, is
# the connection's, and a spoofed header changes nothing.
TRUSTED_PROXIES = env_proxies("TRUSTED_PROXIES")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_results",
    "django_celery_beat",
    "django_tasks",
    "axes",
    "jobs",
    "webhooks",
    "reports",
]

MIDDLEWARE = [
    # Before the host check and the HTTPS redirect: /livez and /readyz answer any probe.
    "ops.probes.ProbeMiddleware",
    "ops.requestid.RequestIdMiddleware",
    "common.chunked.ChunkedBodyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: it answers locked-out logins
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_DATABASE_URL = env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:54320/jobs")
if not _DATABASE_URL.startswith(("postgres://", "postgresql://")):
    raise ImproperlyConfigured(f"DATABASE_URL must be a postgres:// URL, got {_DATABASE_URL!r}.")
# The web (ASGI) runs each view on a thread of its own, where a per-thread connection (CONN_MAX_AGE)
# would be a PostgreSQL session per request: it borrows from a psycopg pool (config/asgi.py, wsgi.py).
# The prefork worker keeps one connection per process: a pool does not survive the fork.
DATABASE_POOL = env_bool("DATABASE_POOL", False)
# Connections per web process at most; the web holds WEB_CONCURRENCY times this at most. A
# request that finds them all busy waits up to DATABASE_POOL_TIMEOUT_S, then gets a 503.
DATABASE_POOL_MIN_SIZE = env_int("DATABASE_POOL_MIN_SIZE", 2, minimum=0)
DATABASE_POOL_MAX_SIZE = env_int("DATABASE_POOL_MAX_SIZE", 8, minimum=1)
if DATABASE_POOL_MAX_SIZE < DATABASE_POOL_MIN_SIZE:
    raise ImproperlyConfigured("DATABASE_POOL_MAX_SIZE must not be below DATABASE_POOL_MIN_SIZE.")
DATABASE_POOL_TIMEOUT_S = env_int("DATABASE_POOL_TIMEOUT_S", 10, minimum=1)
DATABASES = {
    "default": dj_database_url.parse(
        _DATABASE_URL,
        conn_max_age=0 if DATABASE_POOL else env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        # With the pool, this makes it check a connection before lending it. Without it, no
        # SELECT 1 before every task: the worker's claim retries once on a broken connection.
        conn_health_checks=DATABASE_POOL,
    )
}
if DATABASE_POOL:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": DATABASE_POOL_MIN_SIZE,
        "max_size": DATABASE_POOL_MAX_SIZE,
        "timeout": DATABASE_POOL_TIMEOUT_S,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Larger request bodies are refused with 413 (a batch of 1,000 jobs is far below this).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024, minimum=1024)

# --- Logins: the token endpoint, the admin's and the browsable API's (README, "Security") ----
# django-axes locks an address, and a username, out for LOGIN_COOLOFF_S after LOGIN_FAILURE_LIMIT
# failures. Failures during a lockout do not extend it: every lockout ends on time. A username's
# lockout, which anyone can cause, does not reach an address the user logged in from within
# LOGIN_KNOWN_ADDRESS_DAYS (0: none is remembered).
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10, minimum=1)
LOGIN_COOLOFF_S = env_int("LOGIN_COOLOFF_S", 900, minimum=1)
LOGIN_KNOWN_ADDRESS_DAYS = env_int("LOGIN_KNOWN_ADDRESS_DAYS", 30, minimum=0)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_COOLOFF_S)
AXES_LOCKOUT_PARAMETERS = "common.logins.lockout_parameters"  # address and username; see above
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Not True: axes would then delete every failure of the address too, so an attacker could
# log in to an account of their own between guesses and never be locked out.
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_CALLABLE = "common.logins.lockout_response"  # 429 with Retry-After
AXES_CLIENT_IP_CALLABLE = "common.logins.client_address"  # REMOTE_ADDR (TRUSTED_PROXIES), always
AXES_VERBOSE = False  # no banner on every start (manage.py's output included)
AXES_SENSITIVE_PARAMETERS: list[str] = []  # failures are logged with the username and address
AXES_DISABLE_ACCESS_LOG = True  # failures are logged and kept; successes (every token login) are not
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "common.logins.AddressRememberingBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r} is not a logging level.")
# text (the default) or json: one object per line, with the job's id, type and attempt on the
# lines logged while it runs, and the request id on the web's (ops/logformat.py).
LOG_FORMAT = env_str("LOG_FORMAT", "text").lower()
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} is neither text nor json.")
LOGGING_CONFIG = "ops.logformat.logging_configure"
LOGGING = logging_settings(log_format=LOG_FORMAT, level=LOG_LEVEL)

# --- Email (the email.send job type): SMTP with EMAIL_HOST set, else printed by the worker ---
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "jobs@localhost")

# --- The API ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header turns "no credentials" into 401 rather than 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "common.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "common.api.pagination.NewestFirstCursorPagination",
    "PAGE_SIZE": env_int("API_PAGE_SIZE", 50, minimum=1, maximum=1000),
    "EXCEPTION_HANDLER": "common.api.errors.exception_handler",
    # Per user (per address for anonymous requests); 429 with Retry-After beyond these.
    "DEFAULT_THROTTLE_CLASSES": ["common.api.throttles.UserThrottle", "common.api.throttles.AnonThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": env_str("API_THROTTLE_USER", "6000/min"),
        "anon": env_str("API_THROTTLE_ANON", "120/min"),
        "login": env_str("API_THROTTLE_LOGIN", "20/min"),  # the token endpoint, per address and username
    },
    # The client's address is REMOTE_ADDR, which uvicorn sets from X-Forwarded-For only for a
    # request from TRUSTED_PROXIES: DRF itself never reads the header.
    "NUM_PROXIES": 0,
    # Nested at most JSON_MAX_DEPTH (100) levels: deeper is a 400, on every endpoint.
    "DEFAULT_PARSER_CLASSES": [
        "common.api.parsers.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Job service API",
    "DESCRIPTION": "Submit background jobs, follow their progress and read their results.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the installed sidecar package, not a CDN: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Jobs ------------------------------------------------------------------------------
# A user with this many unfinished jobs gets 429 on further submits until some finish.
JOB_MAX_ACTIVE_PER_USER = env_int("JOB_MAX_ACTIVE_PER_USER", 10_000, minimum=1)
# Modules imported at start-up whose @job_type decorators fill the registry.
JOB_TYPE_MODULES = env_list(
    "JOB_TYPE_MODULES", ["jobs.builtin_types", "jobs.builtin_io_types", "reports.job_types"]
)
# Liveness: a running job's worker marks it alive this often; the reconciler (run every
# JOB_RECONCILE_INTERVAL_S) runs a job again when it has been silent for the timeout, up to
# JOB_MAX_ATTEMPTS_ON_WORKER_LOST attempts, and republishes queued jobs not started after
# JOB_RECONCILE_QUEUED_AFTER_S (or whose publishing failed).
JOB_HEARTBEAT_S = env_int("JOB_HEARTBEAT_S", 10, minimum=1)
JOB_HEARTBEAT_TIMEOUT_S = env_int("JOB_HEARTBEAT_TIMEOUT_S", 60, minimum=2)
if JOB_HEARTBEAT_TIMEOUT_S <= JOB_HEARTBEAT_S:
    raise ImproperlyConfigured("JOB_HEARTBEAT_TIMEOUT_S must be greater than JOB_HEARTBEAT_S.")
JOB_MAX_ATTEMPTS_ON_WORKER_LOST = env_int("JOB_MAX_ATTEMPTS_ON_WORKER_LOST", 3, minimum=1)
JOB_RECONCILE_INTERVAL_S = env_int("JOB_RECONCILE_INTERVAL_S", 60, minimum=1)
JOB_RECONCILE_QUEUED_AFTER_S = env_int("JOB_RECONCILE_QUEUED_AFTER_S", 300, minimum=1)
# Progress is written to the job row at most this often per job (the last step always is).
JOB_PROGRESS_MIN_INTERVAL_S = 0.2
# Server-Sent Events: a comment line this often on an idle stream, and a stream's longest life
# (the client reconnects with Last-Event-ID and loses nothing).
JOB_EVENTS_HEARTBEAT_S = env_int("JOB_EVENTS_HEARTBEAT_S", 15, minimum=1)
JOB_EVENTS_MAX_STREAM_S = env_int("JOB_EVENTS_MAX_STREAM_S", 3600, minimum=10)
# Outgoing requests (webhooks, http.fetch) refuse private, loopback, link-local and metadata
# addresses. Loopback can be allowed for local testing only.
OUTBOUND_ALLOW_LOOPBACK = env_bool("OUTBOUND_ALLOW_LOOPBACK", False)
# Django's Tasks API: `@task` functions enqueue into the ledger (README, "Using Django's Tasks API").
TASKS = {"default": {"BACKEND": "jobs.tasks_api.backend.LedgerBackend"}}

ADMIN_USERNAME = env_str("ADMIN_USERNAME", "admin")
ADMIN_PASSWORD = env_str("ADMIN_PASSWORD", "admin")
ADMIN_EMAIL = env_str("ADMIN_EMAIL", "admin@localhost")

FLOWER_BASIC_AUTH = env_credentials("FLOWER_BASIC_AUTH", "admin:admin")
FLOWER_PORT = env_int("FLOWER_PORT", 5555, minimum=1, maximum=65535)
# Every Flower page asks for FLOWER_BASIC_AUTH; this opens /healthcheck ("OK") for a probe.
FLOWER_OPEN_HEALTHCHECK = env_bool("FLOWER_OPEN_HEALTHCHECK", False)
WEB_PORT = env_int("WEB_PORT", 8000, minimum=1, maximum=65535)
BIND_HOST = env_str("BIND_HOST", "127.0.0.1")

# /metrics (ops/exposition.py): open when empty, else it asks for `Authorization: Bearer <token>`.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
# prometheus-client's multiprocess folder, where the counts of bin/web and bin/worker add up; it
# reads the variable itself, checked here so that a typo fails at start-up, not as lost counts.
_METRICS_DIR = env_str("PROMETHEUS_MULTIPROC_DIR", "")
if _METRICS_DIR and not Path(_METRICS_DIR).is_dir():
    raise ImproperlyConfigured(f"PROMETHEUS_MULTIPROC_DIR={_METRICS_DIR!r} is not a folder.")
# A worker's own /metrics port (0: none; on one machine the web serves its counts from the folder).
WORKER_METRICS_PORT = env_int("WORKER_METRICS_PORT", 0, minimum=0, maximum=65535)
# Where people reach Flower, for links from the admin to a job's task.
FLOWER_URL = env_str("FLOWER_URL", f"http://127.0.0.1:{FLOWER_PORT}").rstrip("/")

# --- Celery (read by config/celery_app.py through the CELERY_ namespace) ---------------
# Redis or RabbitMQ (README, "Choosing a broker").
_REDIS_SCHEMES = ("redis", "rediss")
CELERY_BROKER_URL = env_url(
    "CELERY_BROKER_URL", "redis://127.0.0.1:63790/0", schemes=(*_REDIS_SCHEMES, "amqp", "amqps", "pyamqp")
)
BROKER_IS_REDIS = urlsplit(CELERY_BROKER_URL).scheme in _REDIS_SCHEMES
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The home of the job events (SSE), the locks and the cache, whichever the broker is: by
# default the broker's Redis; with RabbitMQ, a Redis of its own that must be named.
REDIS_URL = env_url("REDIS_URL", CELERY_BROKER_URL if BROKER_IS_REDIS else None, schemes=_REDIS_SCHEMES)

# Shared by every web process, so throttling counts a user's requests across all of them.
# By default database 1 of REDIS_URL's server.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env_url(
            "CACHE_URL", urlsplit(REDIS_URL)._replace(path="/1").geturl(), schemes=_REDIS_SCHEMES
        ),
        "KEY_PREFIX": "cache",
    }
}
# django-celery-results' "django-db" backend, storing each state in one upsert (jobs/results.py).
CELERY_RESULT_BACKEND = "jobs.results:UpsertDatabaseBackend"
CELERY_RESULT_EXTENDED = True
# Results live as long as their job (pruned with it), not until Celery's daily backend_cleanup.
CELERY_RESULT_EXPIRES = None
CELERY_TASK_TRACK_STARTED = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_ACCEPT_CONTENT = ["json"]
CELERY_EVENT_SERIALIZER = "json"
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 330, minimum=2)
if CELERY_TASK_TIME_LIMIT <= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured(
        "CELERY_TASK_TIME_LIMIT must be greater than CELERY_TASK_SOFT_TIME_LIMIT, "
        "so a job gets the soft limit's chance to clean up before it is killed."
    )
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = [Queue("default", routing_key="default"), Queue("long", routing_key="long")]
CELERY_WORKER_CONCURRENCY = env_int("CELERY_WORKER_CONCURRENCY", 2, minimum=1)
# Flower builds its view from task events; the worker sends them unless this is off.
CELERY_WORKER_SEND_TASK_EVENTS = env_bool("CELERY_WORKER_SEND_TASK_EVENTS", True)
# No "sent" events: beat would send one for every routine tick, and queued jobs are in the ledger.
CELERY_TASK_SEND_SENT_EVENT = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# django-celery-beat's DatabaseScheduler behind a Redis lock: a second beat never doubles a run.
CELERY_BEAT_SCHEDULER = "jobs.beat:SingleBeatScheduler"
BEAT_LOCK_TTL_S = env_int("BEAT_LOCK_TTL_S", 30, minimum=3)
# Default periodic tasks (config/beat_schedule.py); edits in the admin are kept (jobs/periodic.py).
CELERY_BEAT_SCHEDULE = beat_schedule(reconcile_interval_s=JOB_RECONCILE_INTERVAL_S)
# --- Delivery: how a job survives crashes (the README's "Delivery guarantees" explains) ---
# Acknowledge a message after the job ran, not before: a killed worker cannot swallow a job.
# A pool process dying mid-job is WorkerLostError (jobs/worker/outcomes.py): the ledger queues a
# new attempt; the old message would only be a delivery the claim ignores.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False
# With late acks, a prefetched message is stuck behind a long job; take one at a time.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis hands an unacknowledged message to another worker after this long: it must exceed the
# longest hard time limit, or a long job would be delivered twice while it still runs.
CELERY_VISIBILITY_TIMEOUT_S = env_int("CELERY_VISIBILITY_TIMEOUT_S", 3600, minimum=60)
if CELERY_VISIBILITY_TIMEOUT_S <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT_S must be greater than CELERY_TASK_TIME_LIMIT.")
# If the worker loses the broker, stop long-running tasks: their messages go back to the queue.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # keep trying while Redis restarts
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True  # and while PostgreSQL restarts
CELERY_RESULT_BACKEND_MAX_RETRIES = 20
if BROKER_IS_REDIS:
    # Priorities 0-9 on Redis: one list per priority per queue, served most urgent first.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "priority_steps": list(range(10)),
        "sep": ":",
        "queue_order_strategy": "priority",
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT_S,
        "socket_connect_timeout": 5,
    }
    CELERY_TASK_DEFAULT_PRIORITY = 4  # Redis serves 0 first: the API's default priority 5
else:
    # RabbitMQ: classic durable queues with priorities 0-9 (x-max-priority, which quorum queues
    # only honour from RabbitMQ 4.0 on), and publisher confirms, so that a publish returns once
    # the broker has the message. An unacknowledged message comes back when its consumer's
    # connection goes; the broker's consumer_timeout must exceed CELERY_VISIBILITY_TIMEOUT_S
    # (scripts/stack.sh sets 65 min), or it closes the channel of a worker on a long job.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
    CELERY_TASK_QUEUE_MAX_PRIORITY = 10
    CELERY_TASK_DEFAULT_PRIORITY = 5  # RabbitMQ serves 9 first, as the API means it
CELERY_TIMEZONE = TIME_ZONE
# Celery's Django fixup closes every database connection before and after every task unless
# this is set; jobs/apps.py closes them the way Django does for requests instead.
CELERY_DB_REUSE_MAX = 1_000_000_000
