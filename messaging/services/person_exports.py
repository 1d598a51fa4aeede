"""Record exports requested from the console: queued with a reason, built by a worker with
progress, kept for `PERSON_EXPORT_TTL_HOURS`, then deleted.

A build claims its row with a conditional update (queued → running), so a job published
twice builds once; the hourly sweep publishes again any export still queued (its job was
lost with the broker) and deletes expired files.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from console.errors import ValidationFailed
from console.models import Organization
from console.outbox import publish, publish_on_commit
from console.phone import to_e164
from console.services import Actor, audit_record
from messaging.models import ExportStatus, PersonExport
from messaging.services.person_record import person_record_write

logger = logging.getLogger(__name__)
REQUEUE_AFTER = timedelta(minutes=2)


def _build_task() -> object:
    from messaging.tasks import person_export_build_task

    return person_export_build_task


@transaction.atomic
def person_export_request(
    *, organization: Organization, number: str, reason: str, actor: Actor
) -> PersonExport:
    e164 = to_e164(number, region="US")
    if e164 is None:
        raise ValidationFailed("Enter the person's phone number, e.g. +14155550100.")
    if not reason.strip():
        raise ValidationFailed("Say why the record is exported.")
    export = PersonExport.objects.create(
        organization=organization,
        remote_number=e164,
        reason=reason.strip(),
        requested_by=actor.label,
        requested_by_user_id=actor.id if actor.type == "user" else "",
    )
    audit_record(
        organization=organization,
        actor=actor,
        action="person_record.request",
        obj=export,
        after={"number": e164, "reason": export.reason},
    )
    publish_on_commit(_build_task(), [export.id])
    return export


def person_export_build(*, export_id: str) -> None:
    claimed = PersonExport.objects.filter(id=export_id, status=ExportStatus.QUEUED).update(
        status=ExportStatus.RUNNING, progress=0
    )
    if not claimed:
        return
    export = PersonExport.objects.select_related("organization").get(id=export_id)

    def progress(done: int, total: int) -> None:
        percent = 99 if not total else min(99, done * 100 // total)
        PersonExport.objects.filter(id=export_id).update(progress=percent)

    try:
        with tempfile.TemporaryFile() as out:
            person_record_write(
                organization=export.organization,
                number=export.remote_number,
                out=out,
                progress=progress,
            )
            size = out.tell()
            out.seek(0)
            export.file.save(f"record-{export.id}.zip", File(out), save=False)
    except Exception as exc:
        logger.exception("record export %s failed", export_id)
        PersonExport.objects.filter(id=export_id).update(
            status=ExportStatus.FAILED, error=type(exc).__name__, finished_at=timezone.now()
        )
        return
    now = timezone.now()
    PersonExport.objects.filter(id=export_id).update(
        status=ExportStatus.READY,
        progress=100,
        file=export.file.name,
        size=size,
        finished_at=now,
        expires_at=now + timedelta(hours=settings.PERSON_EXPORT_TTL_HOURS),
    )


@dataclass(frozen=True)
class ExportSweep:
    expired: int
    republished: int


def person_exports_sweep() -> ExportSweep:
    moment = timezone.now()
    expired = 0
    for export in PersonExport.objects.filter(status=ExportStatus.READY, expires_at__lte=moment):
        if export.file:
            export.file.delete(save=False)
        expired += PersonExport.objects.filter(id=export.id, status=ExportStatus.READY).update(
            status=ExportStatus.EXPIRED, file=""
        )
    stale = list(
        PersonExport.objects.filter(
            status=ExportStatus.QUEUED, created_at__lte=moment - REQUEUE_AFTER
        ).values_list("id", flat=True)[:100]
    )
    return ExportSweep(expired=expired, republished=publish(_build_task(), stale))


def person_export_downloaded(*, export: PersonExport, actor: Actor) -> None:
    audit_record(
        organization=export.organization,
        actor=actor,
        action="person_record.download",
        obj=export,
        after={"number": export.remote_number},
    )
