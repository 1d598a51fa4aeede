"""Routing jobs: send router replies from the outbox, and the sweep that recovers lost jobs
(scheduled by beat from CELERY_BEAT_SCHEDULE, like every outbox sweep). Tasks are named
for the service they run; a reply job published under an older name before a deploy is
published again by the sweep."""

from __future__ import annotations

from celery import shared_task

from routing.services import router_replies


@shared_task(name="routing.router_reply_deliver", ignore_result=True)
def router_reply_deliver_task(reply_id: str) -> str:
    return router_replies.router_reply_deliver(reply_id=reply_id)


@shared_task(name="routing.router_reply_sweep", ignore_result=True)
def router_reply_sweep_task() -> int:
    return router_replies.router_reply_sweep()
