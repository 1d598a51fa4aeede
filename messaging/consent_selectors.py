"""Consent reads: the ledger of opt-outs and opt-ins, cut to the caller's scope.

Router opt-outs belong to no organisation, so no scope ever lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from console.scope import Scope, filter_given, local_days_q
from console.timestamps import iso
from messaging.models import ConsentEvent, OptOut


@dataclass(frozen=True)
class ConsentFilters:
    identity: str = ""  # a handle
    number: str = ""
    kind: str = ""
    date_from: date | None = None
    date_to: date | None = None
    # True: only the events that opted a person out who is still opted out.
    current: bool = False


def consent_event_list(*, scope: Scope, filters: ConsentFilters) -> QuerySet[ConsentEvent]:
    """Newest first."""
    qs = (
        scope.filter(ConsentEvent.objects.all(), identity="identity_id")
        .select_related("identity")
        .order_by("-created_at", "-id")
    )
    qs = filter_given(
        qs, identity__handle=filters.identity, remote_number=filters.number, kind=filters.kind
    )
    if filters.current:
        qs = qs.filter(Exists(OptOut.objects.filter(event=OuterRef("pk"))))
    return qs.filter(local_days_q(filters.date_from, filters.date_to))


def consent_event_wire(event: ConsentEvent) -> dict[str, Any]:
    """One ledger row as `GET /imessage/opt-outs` returns it."""
    return {
        "id": str(event.id),
        "kind": event.kind,
        "remote_number": event.remote_number,
        "agent_identity_id": str(event.identity_id) if event.identity_id else None,
        "agent_handle": event.identity.handle if event.identity else None,
        "source": event.source,
        "keyword": event.keyword or None,
        "operator": event.operator_label or None,
        "source_message_id": str(event.source_message_id) if event.source_message_id else None,
        "reason": event.reason or None,
        "created_at": iso(event.created_at),
    }
