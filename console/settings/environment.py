"""Reading settings from the environment: typed values that fail at start-up when
malformed, and secrets from the variable or from a file it names."""

from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()


def env_bool(name: str, default: bool) -> bool:
    """A boolean must be exactly true or false; anything else fails at start-up."""
    raw = env.str(name, default="")
    if raw == "":
        return default
    if raw.lower() in {"true", "1", "yes", "on"}:
        return True
    if raw.lower() in {"false", "0", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}")


def env_count(name: str, default: int) -> int:
    """A whole number of at least 1; anything else fails at start-up."""
    value = env.int(name, default=default)
    if value < 1:
        raise ImproperlyConfigured(f"{name} must be at least 1, got {value}")
    return value


def env_secret(name: str, default: str = "") -> str:
    """Secrets may come from NAME or from a file named by NAME_FILE."""
    path = env.str(f"{name}_FILE", default="")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE is set but {path} cannot be read ({exc.strerror})"
            ) from exc
    return env.str(name, default=default)
