"""Thin Celery tasks: they take ids and call the services, which claim rows themselves.

Each task is registered under the name of the service it runs; a job published under an
older name before a deploy is not lost, because the delivery sweep publishes every due
delivery again."""

from __future__ import annotations

import uuid

from celery import shared_task

from messaging.webhooks import delivery


@shared_task(name="webhooks.delivery_attempt", ignore_result=True)
def delivery_attempt_task(delivery_id: str) -> str | None:
    """One attempt of this delivery and of up to WEBHOOK_BATCH_SIZE - 1 other due ones
    (a cheap no-op when none is due: this one was taken by another job's batch)."""
    return delivery.delivery_attempt(delivery_id=delivery_id)


@shared_task(name="webhooks.deliveries_drain", ignore_result=True)
def deliveries_drain_task() -> int:
    """Attempt due deliveries until none is left or the job's share is done (a burst's
    one job, published through the outbox wake-up)."""
    return delivery.deliveries_drain()


@shared_task(name="webhooks.deliveries_publish", ignore_result=True)
def deliveries_publish_task(delivery_ids: list[str]) -> int:
    """Publish one delivery job per id (an event's fan-out, off the request path)."""
    return delivery.deliveries_publish([uuid.UUID(i) for i in delivery_ids])


@shared_task(name="webhooks.delivery_sweep", ignore_result=True)
def delivery_sweep_task() -> int:
    """Beat job: re-enqueue due deliveries whose job was lost."""
    return delivery.delivery_sweep()
