"""`manage.py access_tally_drain [--every SECONDS]`: write the agent reads queued in Redis
now, or keep doing so (beat's job, for a deployment that runs no beat, and the bench)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, close_old_connections

from console.access_tally_queue import queue_client, tally_drain

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Write the identity-key reads queued in Redis to the access tallies."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--every",
            type=float,
            default=0.0,
            help="keep draining every this many seconds until stopped",
        )

    def handle(self, *args: Any, every: float, **options: Any) -> None:
        if queue_client() is None:
            raise CommandError("ACCESS_TALLY_REDIS_URL is not set: reads are written in process")
        if every <= 0:
            self.stdout.write(f"{tally_drain()} reads written")
            return
        stopped = threading.Event()
        while not stopped.wait(every):
            close_old_connections()
            try:
                tally_drain()
            except (DatabaseError, redis.RedisError, OSError):
                # The queue keeps what was not written; the next round tries again.
                logger.exception("access tallies not drained this round")
