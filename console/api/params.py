"""Query-parameter parsing shared by list endpoints (`limit`/`offset`, booleans, UUIDs)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from console.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# The largest value every database we run on takes as an integer parameter (PostgreSQL's
# `integer`); larger offsets would overflow `offset + limit` in SQL and answer 500.
DB_INT_MAX = 2**31 - 1


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{name}: {message}", extra={"fields": {name: [message]}})


def _integer(params: Mapping[str, str], name: str) -> int | None:
    """The parameter as an int within the database's integer range; None when absent.
    Raises `ValidationFailed` (400) for anything else."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise _invalid(name, "must be an integer") from None
    if not -DB_INT_MAX <= value <= DB_INT_MAX:
        raise _invalid(name, f"must be between {-DB_INT_MAX} and {DB_INT_MAX}")
    return value


def parse_int(
    params: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int | None
) -> int:
    """An integer parameter within [minimum, maximum]; out of range answers 400."""
    value = _integer(params, name)
    if value is None:
        return default
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise _invalid(name, f"must be {bound}")
    return value


def parse_clamped_int(
    params: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int | None
) -> int:
    """An integer parameter clamped into [minimum, maximum]; beyond the database's integer
    range it still answers 400."""
    value = _integer(params, name)
    if value is None:
        return default
    value = max(value, minimum)
    return min(value, maximum) if maximum is not None else value


def parse_limit_offset(
    params: Mapping[str, str], *, default_limit: int = DEFAULT_LIMIT, max_limit: int = MAX_LIMIT
) -> tuple[int, int]:
    limit = parse_int(params, "limit", default_limit, minimum=1, maximum=max_limit)
    offset = parse_int(params, "offset", 0, minimum=0, maximum=DB_INT_MAX)
    return limit, offset


def parse_bool(params: Mapping[str, str], name: str) -> bool | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() == "true":
        return True
    if raw.lower() == "false":
        return False
    raise _invalid(name, "must be true or false")


def parse_uuid(params: Mapping[str, str], name: str) -> uuid.UUID | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise _invalid(name, "must be a UUID") from None
