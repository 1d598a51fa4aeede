"""Query-parameter parsing shared by list endpoints (`limit`/`offset`, booleans, UUIDs,
date ranges)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.dateparse import parse_datetime

from console.errors import ValidationFailed
from console.scope import DateRange

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# The largest value every database we run on takes as an integer parameter (PostgreSQL's
# `integer`); larger offsets would overflow `offset + limit` in SQL and answer 500.
DB_INT_MAX = 2**31 - 1
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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


def parse_tz(raw: str | None) -> ZoneInfo:
    if not raw:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise _invalid("tz", "must be an IANA time zone name") from None


def _parse_bound(name: str, raw: str, zone: ZoneInfo, *, is_end: bool) -> tuple[datetime, bool]:
    """Returns the instant and whether the bound is inclusive.

    A bare date is the start of that day in `zone` (for the end: the whole day, so the
    bound is the next midnight, exclusive); a naive value is read in `zone`; a zoned
    value is exact."""
    raw = raw.strip()
    if _DATE_ONLY.match(raw):
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise _invalid(name, "must be a date or an ISO 8601 datetime") from None
        if is_end:
            return datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone), False
        return datetime.combine(day, time.min, tzinfo=zone), True
    try:
        value = parse_datetime(raw.replace(" ", "T", 1)) or datetime.fromisoformat(raw)
    except ValueError:
        raise _invalid(name, "must be a date or an ISO 8601 datetime") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value, True


def parse_date_range(params: Any) -> DateRange:
    zone = parse_tz(params.get("tz"))
    start = end = None
    end_inclusive = True
    if params.get("start_datetime"):
        start, _ = _parse_bound("start_datetime", params["start_datetime"], zone, is_end=False)
    if params.get("end_datetime"):
        end, end_inclusive = _parse_bound("end_datetime", params["end_datetime"], zone, is_end=True)
    if start is not None and end is not None and end < start:
        raise _invalid("end_datetime", "must not be before start_datetime")
    return DateRange(start=start, end=end, end_inclusive=end_inclusive)
