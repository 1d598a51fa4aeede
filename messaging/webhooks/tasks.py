"""Thin Celery tasks: they take ids and call the services, which claim rows themselves."""

from __future__ import annotations

import uuid

from celery import shared_task

from messaging.webhooks import delivery


@shared_task(name="webhooks.delivery_send", ignore_result=True)
def delivery_send(delivery_id: str) -> str | None:
    """One attempt of one delivery (a no-op when it is not due or already claimed)."""
    return delivery.delivery_attempt(delivery_id=delivery_id)


@shared_task(name="webhooks.deliveries_enqueue", ignore_result=True)
def deliveries_enqueue(delivery_ids: list[str]) -> int:
    """Publish one delivery job per id (an event's fan-out, off the request path)."""
    return delivery.deliveries_publish([uuid.UUID(i) for i in delivery_ids])


@shared_task(name="webhooks.delivery_sweep", ignore_result=True)
def delivery_sweep() -> int:
    """Beat job: re-enqueue due deliveries whose job was lost."""
    return delivery.delivery_sweep()
