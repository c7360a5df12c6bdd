import json

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.exceptions import ValidationError

from jobs import selectors
from jobs.api.serializers import JobCreateInput
from jobs.management.commands._jobcli import Watcher, job_with_result, to_json, validation_messages
from jobs.models import JobStatus
from jobs.services.submit import JobSpec, job_create, job_spec_build


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_value(raw: str):
    """The value as JSON if it parses (2, true, null, {"a": 1}, "quoted"), else the text itself."""
    try:
        # Python's json also reads NaN and Infinity, which JSON does not have: keep them text.
        return json.loads(raw, parse_constant=_refuse_constant)
    except ValueError:
        return raw


def parse_params(pairs: list[str]) -> dict:
    """Turn ["x=2", "word=hello"] into {"x": 2, "word": "hello"}."""
    params = {}
    for pair in pairs:
        key, equals, raw = pair.partition("=")
        if not equals or not key:
            raise CommandError(f"Expected a param as key=value, got {pair!r}.")
        if key in params:
            raise CommandError(f"The param {key!r} is given more than once.")
        params[key] = parse_value(raw)
    return params


# The request serializer's field names, as this command's options are called.
OPTION_OF_FIELD = {"priority": "--priority", "delay_s": "--delay", "run_at": "--run-at"}


class Command(BaseCommand):
    help = (
        "Submit a job, as POST /api/jobs/ does, and print its id. Params are key=value pairs; each "
        "value is read as JSON if it parses, else as text: x=2 is a number, data='{\"a\": 1}' an object, "
        "word=hello a string. With --wait, show the job's progress on stderr until it finishes, then "
        "print its result as JSON; exit 1 if it failed or was cancelled."
    )

    def add_arguments(self, parser):
        parser.add_argument("type", help="The job type, e.g. math.add (see /api/job-types/).")
        parser.add_argument(
            "params", nargs="*", metavar="key=value", help="A param of the type; repeat for each param."
        )
        parser.add_argument(
            "--user", help=f"The job's owner (default: ADMIN_USERNAME, now {settings.ADMIN_USERNAME!r})."
        )
        parser.add_argument(
            "--priority", type=int, metavar="N", help="0 (least urgent) to 9 (most urgent); default 5."
        )
        when = parser.add_mutually_exclusive_group()
        when.add_argument("--delay", type=float, metavar="S", help="Start no sooner than S seconds from now.")
        when.add_argument("--run-at", metavar="ISO", help="Start no sooner than this ISO 8601 time.")
        parser.add_argument(
            "--wait", action="store_true", help="Wait for the job to finish and print its result."
        )
        parser.add_argument(
            "--timeout", type=float, metavar="S", help="With --wait: give up waiting after S seconds."
        )

    def handle(self, *args, **options):
        timeout = options["timeout"]
        if timeout is not None and not options["wait"]:
            raise CommandError("--timeout only applies with --wait.")
        if timeout is not None and timeout <= 0:
            raise CommandError("--timeout must be a positive number of seconds.")
        spec = self._spec(options)
        owner = self._owner(options["user"] or settings.ADMIN_USERNAME)
        job, _ = job_create(owner=owner, spec=spec)
        self.stdout.write(str(job.pk))
        if not options["wait"]:
            return
        job = Watcher(self.stderr).wait(job, timeout=timeout)
        if job.status != JobStatus.SUCCEEDED:
            raise CommandError(f"Job {job.pk} {job.status}: {job.error_type}: {job.error_message}")
        self.stdout.write(to_json(selectors.job_result(job_with_result(job))))

    def _owner(self, username: str):
        User = get_user_model()
        owner = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
        if owner is None:
            hint = " (manage.py ensure_admin creates it)" if username == settings.ADMIN_USERNAME else ""
            raise CommandError(f"No user {username!r}{hint}. Name the job's owner with --user.")
        return owner

    def _spec(self, options) -> JobSpec:
        """Validate as the API does: the request serializer, then the type's params."""
        data = {"type": options["type"], "params": parse_params(options["params"])}
        for field, option in OPTION_OF_FIELD.items():
            value = options[option.lstrip("-").replace("-", "_")]
            if value is not None:
                data[field] = value
        try:
            request = JobCreateInput(data=data)
            request.is_valid(raise_exception=True)
            return job_spec_build(**request.validated_data)
        except ValidationError as error:
            detail = {OPTION_OF_FIELD.get(field, field): value for field, value in error.detail.items()}
            lines = "\n".join(f"  {line}" for line in validation_messages(detail))
            raise CommandError(f"The job was not submitted:\n{lines}") from None
