"""Reads for the records page: legal holds, retention runs and person exports, in the
viewer's scope."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from console.scope import Scope, scoped_get
from messaging.models import LegalHold, PersonExport, RetentionRun

HOLD_NOT_FOUND = "Legal hold not found."
EXPORT_NOT_FOUND = "Export not found."


def legal_hold_list(*, scope: Scope) -> QuerySet[LegalHold]:
    """Active holds first, then lifted ones, newest first."""
    return (
        scope.filter(LegalHold.objects.all())
        .select_related("organization", "identity", "conversation")
        .order_by("lifted_at", "-placed_at")
    )


def legal_hold_get(*, scope: Scope, hold_id: uuid.UUID | str) -> LegalHold:
    return scoped_get(
        scope.filter(LegalHold.objects.select_related("organization")),
        not_found=HOLD_NOT_FOUND,
        id=hold_id,
    )


def retention_run_list(*, scope: Scope, limit: int = 10) -> list[RetentionRun]:
    return list(
        scope.filter(RetentionRun.objects.select_related("organization")).order_by(
            "-started_at", "-id"
        )[:limit]
    )


def retention_last_run(*, scope: Scope) -> RetentionRun | None:
    return (
        scope.filter(RetentionRun.objects.filter(finished_at__isnull=False))
        .order_by("-started_at", "-id")
        .first()
    )


def person_export_list(*, scope: Scope, limit: int) -> list[PersonExport]:
    """The newest exports first."""
    return list(
        scope.filter(PersonExport.objects.select_related("organization")).order_by("-created_at")[
            :limit
        ]
    )


def person_export_get(*, scope: Scope, export_id: uuid.UUID | str) -> PersonExport:
    return scoped_get(
        scope.filter(PersonExport.objects.select_related("organization")),
        not_found=EXPORT_NOT_FOUND,
        id=export_id,
    )
