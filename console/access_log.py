"""Access-log scrubbing for the web servers we run (gunicorn, Django's runserver).

Query strings can carry an API key someone pasted (`api_key=`, never accepted but still
logged), search text (`q=`) and phone numbers. Access logs keep the parameter names and
the values of a few harmless paging and filter parameters; every other value is replaced
with `[filtered]`. Request headers that carry credentials are never logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

FILTERED = "[filtered]"
# Values safe to log: numbers, booleans, enumerations and ids that identify no person.
SAFE_PARAMETERS = frozenset(
    {
        "limit",
        "offset",
        "cursor",
        "page",
        "status",
        "direction",
        "action",
        "match_type",
        "scope",
        "event_type",
        "success",
        "is_read",
        "is_blocked",
        "include_groups",
        "format",
        "role",
        "state",
    }
)
_PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-\[\]]{0,63}$")
# gunicorn atoms (headers `{name}i`/`{name}o`, environ `{name}e`) whose names contain one of
# these carry credentials: never logged, whatever the log format says.
SECRET_ATOM_MARKERS = ("api-key", "api_key", "authorization", "cookie", "signing", "csrf")
_QUERY_ATOMS = frozenset({"q", "{query_string}e"})


def scrub_query(query: str) -> str:
    """The query string with every value not known to be harmless replaced."""
    if not query:
        return query
    pairs = []
    for pair in query.split("&"):
        name, has_value, _ = pair.partition("=")
        if not _PARAMETER_NAME.match(name):
            pairs.append(FILTERED)
        elif has_value and name.lower() not in SAFE_PARAMETERS:
            pairs.append(f"{name}={FILTERED}")
        else:
            pairs.append(pair)
    return "&".join(pairs)


def scrub_url(url: str) -> str:
    """A URL or path with its query string scrubbed (the fragment is dropped)."""
    base, has_query, query = url.partition("?")
    if not has_query:
        return url
    return f"{base}?{scrub_query(query.split('#', 1)[0])}"


def scrub_request_line(line: str) -> str:
    """`GET /path?query HTTP/1.1` with its query string scrubbed."""
    parts = line.split(" ")
    if len(parts) >= 2:
        parts[1] = scrub_url(parts[1])
    return " ".join(parts)


class ScrubbingGunicornLogger(GunicornLogger):
    """gunicorn's logger with scrubbed access-log atoms (configured in
    `console/gunicorn_config.py`)."""

    def atoms(self, resp: Any, req: Any, environ: Mapping[str, Any], request_time: Any) -> Any:
        atoms = super().atoms(resp, req, environ, request_time)
        for name, value in atoms.items():
            if not isinstance(value, str):
                continue
            lowered = name.lower()
            if any(marker in lowered for marker in SECRET_ATOM_MARKERS):
                atoms[name] = "-"
            elif name == "r":
                atoms[name] = scrub_request_line(value)
            elif lowered in _QUERY_ATOMS:
                atoms[name] = scrub_query(value)
            elif "?" in value:
                atoms[name] = scrub_url(value)
        return atoms


class RunserverQueryFilter(logging.Filter):
    """Scrubs the request line Django's development server logs (`django.server`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args and isinstance(args[0], str):
            record.args = (scrub_request_line(args[0]), *args[1:])
        return True
