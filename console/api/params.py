"""Query-parameter parsing shared by list endpoints (`limit`/`offset`, booleans, UUIDs)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from console.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{name}: {message}", extra={"fields": {name: [message]}})


def parse_int(
    params: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int | None
) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _invalid(name, "must be an integer") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise _invalid(name, f"must be {bound}")
    return value


def parse_limit_offset(
    params: Mapping[str, str], *, default_limit: int = DEFAULT_LIMIT, max_limit: int = MAX_LIMIT
) -> tuple[int, int]:
    limit = parse_int(params, "limit", default_limit, minimum=1, maximum=max_limit)
    offset = parse_int(params, "offset", 0, minimum=0, maximum=None)
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
