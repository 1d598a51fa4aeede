"""Routing jobs: send router replies from the outbox, and the sweep that recovers lost jobs."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from console.celery import app
from routing.services import router_replies


@shared_task(name="routing.router_reply_send", ignore_result=True)
def router_reply_send_task(reply_id: str) -> str:
    return router_replies.router_reply_deliver(reply_id=reply_id)


@shared_task(name="routing.router_reply_sweep", ignore_result=True)
def router_reply_sweep_task() -> int:
    return router_replies.router_reply_sweep()


@app.on_after_finalize.connect
def _schedule_sweep(sender: Any, **kwargs: Any) -> None:
    sender.add_periodic_task(
        settings.SWEEP_INTERVAL_SECONDS, router_reply_sweep_task.s(), name="routing reply sweep"
    )
