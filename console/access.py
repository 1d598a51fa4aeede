"""The access log: who viewed patient text, written without slowing the read.

A console view or an admin-key API read writes one `AccessLog` row per thing it showed,
with one INSERT per request (`access_record` for one, `access_record_many` for a list).
An identity-scoped key reading its own conversations is the agent doing its job: those
reads are tallied per key, conversation and hour, counted in memory and handed on every few
seconds per process (`console.access_tally_buffer`), so the agent's reads carry no write.
Rows are append-only; the database refuses to change or delete them (migration 0006).

Not to be confused with `console.access_log`, the scrubber of gunicorn's request log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.http import HttpRequest
from django.utils import timezone

from console.access_tally import tally_counts
from console.access_tally_buffer import TALLIES
from console.login_throttle import client_ip
from console.models import AccessLog, ApiKey
from console.services import Actor

REASON_LIMIT = 1000


@dataclass(frozen=True)
class Viewer:
    """Who viewed, and from where."""

    actor: Actor
    ip: str | None

    @classmethod
    def of(cls, request: HttpRequest, actor: Actor) -> Viewer:
        """The request's client address is the socket's peer, or the last X-Forwarded-For
        entry when `LOGIN_TRUST_X_FORWARDED_FOR` says our own proxy sets it."""
        return cls(actor=actor, ip=client_ip(request))


class Viewed(NamedTuple):
    """One thing a view showed: its organisation, kind, id and the person's number. A named
    tuple: list reads build one per row."""

    organization_id: Any
    kind: str
    object_id: Any
    number: str = ""
    conversation_id: Any = None


def _row(
    viewer: Viewer,
    viewed: Viewed,
    *,
    reason: str = "",
    count: int = 1,
    detail: Mapping[str, Any] | None = None,
) -> AccessLog:
    return AccessLog(
        organization_id=viewed.organization_id,
        actor_type=viewer.actor.type,
        actor_id=viewer.actor.id,
        actor_label=viewer.actor.label[:255],
        object_kind=viewed.kind,
        object_id=str(viewed.object_id)[:64],
        remote_number=viewed.number or "",
        ip=viewer.ip,
        reason=reason.strip()[:REASON_LIMIT],
        count=count,
        detail=dict(detail) if detail is not None else None,
    )


def access_record(
    *,
    viewer: Viewer,
    viewed: Viewed,
    reason: str = "",
    count: int = 1,
    detail: Mapping[str, Any] | None = None,
) -> AccessLog:
    """One view of one thing: one INSERT."""
    row = _row(viewer, viewed, reason=reason, count=count, detail=detail)
    row.save(force_insert=True)
    return row


def access_record_many(
    *,
    viewer: Viewer,
    viewed: Iterable[Viewed],
    reason: str = "",
    count: int = 1,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """A list's view: one row per thing it showed, in one INSERT. Returns the rows written."""
    rows = [_row(viewer, item, reason=reason, count=count, detail=detail) for item in viewed]
    if rows:
        AccessLog.objects.bulk_create(rows)
    return len(rows)


def api_read_record(*, request: HttpRequest, key: ApiKey, viewed: Sequence[Viewed]) -> None:
    """An API read of message content: logged per item for an organisation admin key,
    tallied per conversation and hour for an identity-scoped key."""
    if not viewed:
        return
    if key.is_admin:
        access_record_many(viewer=Viewer.of(request, Actor.for_api_key(key)), viewed=viewed)
        return
    TALLIES.add(tally_counts(key=key, viewed=viewed, now=timezone.now()))
