import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_credentials, env_file_load, env_int, env_list, env_str
from tests.conftest import ROOT

# A subprocess's settings read no .env (`make run` may have written one in the project folder).
NO_ENV_FILE = {"ENV_FILE": ""}


def test_it_reads_booleans_in_the_usual_spellings(monkeypatch):
    monkeypatch.setenv("FLAG", "Yes")
    assert env_bool("FLAG", False) is True
    monkeypatch.setenv("FLAG", "off")
    assert env_bool("FLAG", True) is False


def test_it_uses_the_default_for_unset_or_blank_variables(monkeypatch):
    monkeypatch.setenv("BLANK", "  ")
    assert env_int("BLANK", 7) == 7
    assert env_list("UNSET_FOR_SURE", ["a"]) == ["a"]


def test_it_splits_lists_on_commas_and_drops_empty_items(monkeypatch):
    monkeypatch.setenv("HOSTS", "a.example, b.example,,")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]


@pytest.mark.parametrize(
    ("reader", "value", "message"),
    [
        (lambda: env_bool("V", False), "maybe", "is not a boolean"),
        (lambda: env_int("V", 1), "ten", "is not a whole number"),
        (lambda: env_int("V", 1, minimum=1), "0", "below the minimum"),
        (lambda: env_credentials("V", "a:b"), "no-colon", "user:password"),
        (lambda: env_credentials("V", "a:b"), "user:", "user:password"),
    ],
)
def test_it_refuses_malformed_values_naming_the_variable(monkeypatch, reader, value, message):
    monkeypatch.setenv("V", value)
    with pytest.raises(ImproperlyConfigured, match=message):
        reader()


def test_it_requires_a_variable_without_default(monkeypatch):
    monkeypatch.delenv("SURELY_UNSET", raising=False)
    with pytest.raises(ImproperlyConfigured, match="Set the SURELY_UNSET"):
        env_str("SURELY_UNSET")


def test_an_env_file_fills_only_the_variables_not_set(monkeypatch, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# written by make run\n\nDATABASE_URL=postgres://from-file/jobs\nexport DEBUG='true'\nKEPT=file\n"
        "COMPOSE_STYLE_BARE_NAME\n"
    )
    monkeypatch.delenv("ENV_FILE", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DEBUG", raising=False)
    monkeypatch.setenv("KEPT", "exported")
    env_file_load(env_file)
    assert env_str("DATABASE_URL") == "postgres://from-file/jobs"
    assert env_bool("DEBUG", False) is True
    assert env_str("KEPT") == "exported"


def test_env_file_empty_reads_none_and_a_missing_default_file_changes_nothing(monkeypatch, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("SURELY_FROM_FILE=1\n")
    monkeypatch.delenv("SURELY_FROM_FILE", raising=False)
    monkeypatch.setenv("ENV_FILE", "")
    env_file_load(env_file)
    monkeypatch.delenv("ENV_FILE")
    env_file_load(tmp_path / "absent.env")
    assert env_str("SURELY_FROM_FILE", "unset") == "unset"


@pytest.mark.parametrize(
    ("content", "message"),
    [("DATABASE_URL postgres://x\n", "line 1: expected NAME=value"), ("ok=1\n1BAD=2\n", "line 2")],
)
def test_a_malformed_env_file_fails_naming_the_line(monkeypatch, tmp_path, content, message):
    env_file = tmp_path / ".env"
    env_file.write_text(content)
    monkeypatch.setenv("ENV_FILE", str(env_file))
    with pytest.raises(ImproperlyConfigured, match=message):
        env_file_load(tmp_path / "unused")
    monkeypatch.setenv("ENV_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match=r"ENV_FILE=.* is not a file"):
        env_file_load(tmp_path / "unused")


def test_without_an_env_file_the_production_defaults_hold(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=true\n")
    base = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings"}
    check = [sys.executable, "manage.py", "check"]
    bare = subprocess.run(check, cwd=ROOT, env=base | NO_ENV_FILE, capture_output=True, text=True)
    assert bare.returncode != 0
    assert "Set the SECRET_KEY environment variable" in bare.stderr
    with_file = subprocess.run(check, cwd=ROOT, env=base | {"ENV_FILE": str(env_file)}, capture_output=True)
    assert with_file.returncode == 0, with_file.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "false", "SECRET_KEY": ""}, "Set the SECRET_KEY environment variable"),
        ({"DATABASE_URL": "sqlite:///db.sqlite3"}, "DATABASE_URL must be a postgres:// URL"),
        ({"CELERY_BROKER_URL": "kafka://localhost"}, "CELERY_BROKER_URL must be a redis:// or rediss://"),
        (
            {"CELERY_BROKER_URL": "redis://localhost:notaport/0"},
            "CELERY_BROKER_URL='redis://localhost:notaport/0' is not",
        ),
        ({"CELERY_BROKER_URL": "redis:///0"}, "CELERY_BROKER_URL='redis:///0' names no host"),
        ({"CELERY_BROKER_URL": "amqp://localhost//"}, "Set the REDIS_URL environment variable"),
        (
            {"CELERY_BROKER_URL": "amqp://localhost//", "REDIS_URL": "http://x"},
            "REDIS_URL must be a redis://",
        ),
        ({"CELERY_TASK_SOFT_TIME_LIMIT": "60", "CELERY_TASK_TIME_LIMIT": "60"}, "must be greater than"),
        ({"FLOWER_BASIC_AUTH": "admin"}, "FLOWER_BASIC_AUTH must look like user:password"),
        ({"LOG_LEVEL": "chatty"}, "is not a logging level"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT='xml' is neither text nor json"),
        (
            {"PROMETHEUS_MULTIPROC_DIR": "/surely/not/here"},
            "PROMETHEUS_MULTIPROC_DIR='/surely/not/here' is not",
        ),
    ],
)
def test_the_settings_module_fails_loudly_at_start_up_on_bad_values(env, message):
    base = {
        "PATH": "/usr/bin:/bin",
        "DEBUG": "true",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    } | NO_ENV_FILE
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=base | env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_routine_dispatcher_chatter_is_kept_out_of_the_logs_but_its_errors_are_not():
    import logging

    from config.logconfig import QuietRoutineTasks

    def record(level, message):
        return logging.LogRecord("celery.beat", level, __file__, 1, message, None, None)

    quiet = QuietRoutineTasks()
    assert not quiet.filter(record(logging.INFO, "Sending due task dispatch-due-jobs (jobs.dispatch_due)"))
    assert quiet.filter(record(logging.ERROR, "Task jobs.dispatch_due raised: OperationalError"))
    assert quiet.filter(record(logging.INFO, "Task math.add[1] succeeded"))


def test_a_record_logged_as_an_exception_outside_one_prints_no_empty_traceback():
    import logging

    from config.logconfig import NoEmptyTraceback

    logger = logging.getLogger("django_tasks")

    def record():
        return logger.makeRecord(
            "django_tasks", logging.ERROR, __file__, 1, "state=FAILED", None, (None,) * 3
        )

    assert "NoneType: None" in logging.Formatter().format(record())
    filtered = record()
    assert NoEmptyTraceback().filter(filtered)
    assert logging.Formatter().format(filtered) == "state=FAILED"
    try:
        raise ValueError("real")
    except ValueError:
        import sys

        real = logger.makeRecord("django_tasks", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    NoEmptyTraceback().filter(real)
    assert "ValueError: real" in logging.Formatter().format(real)


def test_production_settings_pass_the_deploy_check_without_warnings():
    production = {
        **NO_ENV_FILE,
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "HTTPS": "true",
        "SECRET_KEY": "k" + "".join(chr(ord("a") + (i * 7) % 26) for i in range(60)) + "9$Qz!",
        "ALLOWED_HOSTS": "jobs.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_the_repository_holds_no_secrets():
    import re

    patterns = [
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
        r"AKIA[0-9A-Z]{16}",
        r"whsec_[A-Za-z0-9_-]{30,}",
        r"(?i)(secret_key|password|token)[\"']?\s*[:=]\s*[\"'][^\"'\s]{24,}[\"']",
    ]
    # Placeholders that say what they are, for development and the compose demo.
    placeholders = ("insecure", "dev-only", "change-me", "build-only", "example")
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    found = []
    for name in tracked.split():
        path = ROOT / name
        if path.suffix in {".png", ".ico"} or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="ignore").splitlines(), 1):
            if any(re.search(p, line) for p in patterns) and not any(word in line for word in placeholders):
                found.append(f"{name}:{number}")
    assert found == []


def test_rabbitmq_as_the_broker_gets_priority_queues_and_publisher_confirms():
    env = {
        **NO_ENV_FILE,
        "PATH": "/usr/bin:/bin",
        "DEBUG": "true",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    shown = (
        "from django.conf import settings as s; print(s.BROKER_IS_REDIS, s.CELERY_TASK_QUEUE_MAX_PRIORITY,"
        " s.CELERY_BROKER_TRANSPORT_OPTIONS, s.CACHES['default']['LOCATION'])"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", shown], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.stdout.split("\n")[-2] == "False 10 {'confirm_publish': True} redis://127.0.0.1:6379/1", (
        result
    )


@pytest.mark.django_db
def test_the_job_kind_column_keeps_a_database_default_for_code_that_predates_it():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_default FROM information_schema.columns "
            "WHERE table_name = 'jobs_job' AND column_name = 'kind'"
        )
        assert cursor.fetchone()[0].startswith("'type'")
