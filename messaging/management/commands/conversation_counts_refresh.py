"""`manage.py conversation_counts_refresh [CONVERSATION_ID ...]`: recount the counters."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from messaging.services.conversation_counts import conversation_counts_refresh


class Command(BaseCommand):
    help = (
        "Recount conversations' message counters (visible, blocked, unread) from their "
        "messages: a repair for rows written around the database triggers."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "conversation_ids", nargs="*", type=uuid.UUID, help="Only these (default: all)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        repaired = conversation_counts_refresh(conversation_ids=options["conversation_ids"] or None)
        self.stdout.write(f"Recounted: {repaired} conversations had wrong counters.")
