"""The header's search box: one query read as a phone number, a handle, a setup's name or
a message id, answered with results grouped by kind, each linking to its console page.

Every kind is read through its app's scoped selector (the viewer's organisations only),
at most `PER_KIND` rows each, one query per kind the text can mean. Messages show a short
preview at most, never a whole body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import HttpResponse

from console.access import Viewed, access_record_many
from console.models import AccessKind
from console.phone import number_search_digits
from console.scope import Scope
from console.selectors import identity_search
from console.ui.access import ConsoleRequest, console_page, user_viewer
from console.ui.rendering import render_page
from messaging.console_selectors import conversation_list_for_scope, message_find_for_scope
from provisioning.selectors import line_search, setup_search

PER_KIND = 20
MAX_QUERY = 100
MIN_TEXT = 2
PREVIEW_CHARS = 60


@dataclass(frozen=True)
class Terms:
    """What a query can mean: `digits` of a phone number (empty when it is not
    number-like), `text` for names and handles, `reference` for a message id."""

    text: str
    digits: str

    @classmethod
    def parse(cls, raw: str) -> Terms:
        text = " ".join(raw.split())[:MAX_QUERY]
        return cls(text=text, digits=number_search_digits(text))

    @property
    def searchable(self) -> bool:
        return bool(self.digits) or len(self.text) >= MIN_TEXT

    @property
    def is_reference(self) -> bool:
        """Ids and provider handles are one word."""
        return bool(self.text) and " " not in self.text and not self.digits


@dataclass
class Group:
    kind: str
    title: str
    rows: list[Any]
    # Only PER_KIND rows are shown; `more` says there were others (refine the query).
    more: bool = False


@dataclass
class Results:
    terms: Terms
    groups: list[Group] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(group.rows) for group in self.groups)


def _group(kind: str, title: str, rows: list[Any]) -> Group:
    return Group(kind=kind, title=title, rows=rows[:PER_KIND], more=len(rows) > PER_KIND)


def search(*, scope: Scope, raw: str) -> Results:
    terms = Terms.parse(raw)
    results = Results(terms=terms)
    if not terms.searchable:
        return results
    limit = PER_KIND + 1
    found: list[Group] = []
    if terms.digits:
        people = conversation_list_for_scope(scope=scope, number=terms.digits)[:limit]
        found.append(_group("conversations", "People and conversations", list(people)))
        lines = line_search(scope=scope, digits=terms.digits, limit=limit)
        found.append(_group("lines", "Lines", lines))
    else:
        identities = identity_search(scope=scope, text=terms.text, limit=limit)
        found.append(_group("identities", "Identities", identities))
        setups = setup_search(scope=scope, text=terms.text, limit=limit)
        found.append(_group("setups", "Setups", setups))
    if terms.is_reference:
        messages = message_find_for_scope(scope=scope, reference=terms.text, limit=limit)
        found.append(_group("messages", "Messages", messages))
    results.groups = [group for group in found if group.rows]
    return results


def _record_previews(request: ConsoleRequest, results: Results) -> None:
    """Message previews are patient text: one access row per message shown, one INSERT."""
    messages = [row for group in results.groups if group.kind == "messages" for row in group.rows]
    access_record_many(
        viewer=user_viewer(request),
        viewed=[
            Viewed(
                organization_id=m.organization_id,
                kind=AccessKind.MESSAGE,
                object_id=m.id,
                number=m.remote_number,
            )
            for m in messages
        ],
    )


@console_page
def search_page(request: ConsoleRequest) -> HttpResponse:
    raw = request.GET.get("q", "")
    results = search(scope=request.console.scope, raw=raw)
    _record_previews(request, results)
    return render_page(
        request,
        "console/search.html",
        {
            "nav": "search",
            "q": raw[:MAX_QUERY],
            "results": results,
            "preview_chars": PREVIEW_CHARS,
        },
        partial="search-results",
    )
