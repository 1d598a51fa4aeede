"""Parsing of the text people send to the router and pool lines.

A pure function with its own error type: any text at all (emoji, very long, non-Latin,
control characters) either parses into a command or raises `CommandParseError`, never
anything else, so property-based tests can fuzz it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

# Longer text is never a command; bounding it keeps the regex cheap on huge messages.
MAX_COMMAND_LENGTH = 100
# The verb and the handle are separated by whitespace, an `@`, or both.
_HANDLE = r"(?:\s+@?|\s*@)\s*(?P<handle>[a-z0-9-]{3,63})"
_CONNECT = re.compile(rf"^connect{_HANDLE}$")
_DISCONNECT_HANDLE = re.compile(rf"^disconnect{_HANDLE}$")
_DISCONNECT = re.compile(r"^disconnect$")
# Punctuation that phones add or people type after a command ("connect @bot.").
_TRAILING = ".!?,;:"


class CommandParseError(ValueError):
    """The text is not a router command."""


@dataclass(frozen=True)
class RouterCommand:
    verb: Literal["connect", "disconnect"]
    handle: str | None  # None only for a bare `disconnect`


def _canonical(text: str) -> str:
    # NFKC folds full-width letters and odd spaces; casefold makes "CONNECT" match.
    folded = unicodedata.normalize("NFKC", text).casefold()
    collapsed = " ".join(folded.split())
    return collapsed.strip().rstrip(_TRAILING).strip()


def parse_command(text: str) -> RouterCommand:
    """Parse `connect @handle`, `disconnect @handle` or a bare `disconnect`.

    Case-insensitive; surrounding and repeated whitespace and a missing `@` are tolerated.
    Raises `CommandParseError` for anything else.
    """
    if not isinstance(text, str):
        raise CommandParseError("not text")
    if len(text) > MAX_COMMAND_LENGTH * 4:
        raise CommandParseError("too long to be a command")
    canonical = _canonical(text)
    if not canonical or len(canonical) > MAX_COMMAND_LENGTH:
        raise CommandParseError("not a command")
    if match := _CONNECT.match(canonical):
        return RouterCommand(verb="connect", handle=match.group("handle"))
    if match := _DISCONNECT_HANDLE.match(canonical):
        return RouterCommand(verb="disconnect", handle=match.group("handle"))
    if _DISCONNECT.match(canonical):
        return RouterCommand(verb="disconnect", handle=None)
    raise CommandParseError("not a command")
