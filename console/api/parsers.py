"""The one JSON parser of the API.

DRF's own parser lets `RecursionError` out of `json.loads` (a body nested a couple of
thousand levels deep), which answered 500. This one refuses such bodies, and any body
nested deeper than any request of ours needs, with 400 `invalid_json`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import exceptions, parsers

# Our deepest request body is three levels; this leaves room without letting a hostile
# body reach the recursion limit of later code (validation, JSON columns, rendering).
MAX_JSON_DEPTH = 32
TOO_DEEP = f"JSON is nested more than {MAX_JSON_DEPTH} levels deep."


class InvalidJson(exceptions.ParseError):
    """A body that is JSON but not acceptable (nested too deeply)."""

    default_code = "invalid_json"


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether containers in `value` nest deeper than `limit` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class JsonParser(parsers.JSONParser):
    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        """Raises `InvalidJson` for bodies nested too deeply, `ParseError` for bad JSON."""
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise InvalidJson(TOO_DEEP) from None
        if json_depth_exceeds(data, MAX_JSON_DEPTH):
            raise InvalidJson(TOO_DEEP)
        return data
