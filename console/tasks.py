"""Celery tasks of the console package."""

from __future__ import annotations

from celery import shared_task

from console.access_tally_queue import tally_drain


@shared_task(name="console.access_tally_drain")
def access_tally_drain_task() -> int:
    return tally_drain()
