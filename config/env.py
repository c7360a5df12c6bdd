"""Typed readers for environment variables.

Every reader raises ImproperlyConfigured naming the variable and the bad value, so a
typo in a deployment fails at start-up instead of surfacing as odd behaviour later.
"""

import ipaddress
import os
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str | None = None) -> str:
    value = _raw(name)
    if value is None:
        if default is None:
            raise ImproperlyConfigured(f"Set the {name} environment variable.")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean; use true or false.")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}.")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name}={number} is above the maximum of {maximum}.")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_credentials(name: str, default: str) -> tuple[str, str]:
    """A ``user:password`` pair; both halves must be non-empty."""
    value = env_str(name, default)
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ImproperlyConfigured(f"{name} must look like user:password (both parts non-empty).")
    return user, password


def env_url(name: str, default: str | None, *, schemes: tuple[str, ...]) -> str:
    """A URL with one of `schemes`, a host, and a port that is a number if one is given."""
    value = env_str(name, default)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (a port that is not a number raises ValueError here)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name}={value!r} is not a valid URL: {error}.") from None
    if parts.scheme not in schemes:
        raise ImproperlyConfigured(
            f"{name} must be a {' or '.join(f'{s}://' for s in schemes)} URL, got {value!r}."
        )
    if not parts.hostname:
        raise ImproperlyConfigured(f"{name}={value!r} names no host.")
    return value


def env_file_load(default: Path) -> None:
    """Fill the variables not set from a file of NAME=value lines, as cookiecutter-django reads
    its .env: the file ENV_FILE names, or `default` if there is one; ENV_FILE= (empty) reads
    none. A variable set in the environment wins over the file. `make run` writes the .env that
    lets a plain shell reach its stack (README, "From a shell"); without one nothing changes.
    """
    named = os.environ.get("ENV_FILE")
    if named == "":
        return
    path = Path(named) if named else default
    if not path.is_file():
        if named:
            raise ImproperlyConfigured(f"ENV_FILE={named!r} is not a file.")
        return
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, equals, value = line.removeprefix("export ").partition("=")
        if not name.strip().isidentifier():
            raise ImproperlyConfigured(f"{path}, line {number}: expected NAME=value, got {line!r}.")
        if not equals:
            continue  # a bare NAME, as Docker Compose allows: taken from the environment, if set
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        os.environ.setdefault(name.strip(), value)


def env_proxies(name: str) -> list[str]:
    """Comma-separated IP addresses or CIDR ranges, or `*` (any); empty by default."""
    items = env_list(name, [])
    for item in items:
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {item!r} is neither an IP address nor a CIDR range."
            ) from None
    return items
