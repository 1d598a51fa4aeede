"""Celery tasks: thin, take ids, idempotent (claims are conditional updates).

Each task is registered under the name of the service it runs. A job published under
an older name before a deploy is not lost: the send sweep publishes overdue sends and
unfetched media again under these names."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from messaging import media
from messaging.services import after_hours, delivery, handoff, person_exports, retention, scheduling


@shared_task(name="messaging.message_deliver")
def message_deliver_task(message_id: str) -> None:
    delivery.message_deliver(message_id=message_id)


@shared_task(name="messaging.message_send_drain", ignore_result=True)
def message_send_drain_task() -> int:
    return delivery.message_send_drain()


@shared_task(name="messaging.message_send_sweep")
def message_send_sweep_task() -> dict[str, int]:
    result = delivery.message_send_sweep()
    return dict(vars(result))


@shared_task(name="messaging.scheduled_due_publish")
def scheduled_due_publish_task() -> int:
    return scheduling.scheduled_due_publish()


@shared_task(name="messaging.after_hours_reply")
def after_hours_reply_task(message_id: str) -> None:
    after_hours.after_hours_reply(message_id=message_id)


@shared_task(name="messaging.handoff_idle_sweep")
def handoff_idle_sweep_task() -> int:
    return handoff.idle_handback_sweep()


@shared_task(
    name="messaging.media_rehost",
    bind=True,
    max_retries=5,
    autoretry_for=(media.MediaFetchError,),
    retry_backoff=10,
    retry_backoff_max=600,
    retry_jitter=True,
)
def media_rehost_task(self: Any, message_id: str) -> None:
    media.media_rehost(message_id=message_id)


@shared_task(name="messaging.retention_run")
def retention_run_task() -> list[dict[str, int]]:
    return [
        {"messages_redacted": run.messages_redacted, "messages_held": run.messages_held}
        for run in retention.retention_run_all()
    ]


@shared_task(name="messaging.person_export_build")
def person_export_build_task(export_id: str) -> None:
    person_exports.person_export_build(export_id=export_id)


@shared_task(name="messaging.person_exports_sweep")
def person_exports_sweep_task() -> dict[str, int]:
    return dict(vars(person_exports.person_exports_sweep()))
