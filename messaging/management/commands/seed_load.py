"""Fill the database with a realistic benchmark dataset, fast.

    python manage.py seed_load --messages 1000000 --conversations 100000 --identities 50

Rows go in with PostgreSQL COPY (psycopg 3 `cursor.copy`): secondary indexes are dropped
first and rebuilt afterwards, and foreign-key triggers are skipped for the session when the
role may do so, because building an index once is far cheaper than maintaining it per row.
The generator only writes consistent rows, so the skipped checks cannot be violated.
The conversation counters' insert trigger is off for the load too (replica mode skips it
and the send cap's bucket triggers anyway): one recount of each at the end sets them
(`conversation_counts_refresh`, `cap_buckets_refresh`).
On other databases (SQLite) it falls back to `bulk_create` in large batches
(`messaging/bench_data/loader.py`). What the dataset holds: `messaging/bench_data/dataset.py`.

API keys (one admin key per organisation, one scoped key per identity) and the provider
webhook secret are written, in plaintext, to `--keys-file` for the load generator only.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from messaging.bench_data.dataset import Dataset
from messaging.bench_data.loader import Loader, secondary_indexes
from messaging.models import Conversation, Message, Reaction
from messaging.services.cap_buckets import cap_buckets_refresh
from messaging.services.conversation_counts import conversation_counts_refresh
from messaging.webhooks.models import WebhookDelivery, WebhookEvent
from provisioning.models import ProviderEvent
from routing.models import Assignment

# The statement trigger that counts inserted messages into their conversations (0013).
COUNTS = "messaging_message_counts_insert"


class Command(BaseCommand):
    help = "Fill the database with a realistic benchmark dataset (COPY on PostgreSQL)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--messages", type=int, default=100_000)
        parser.add_argument("--conversations", type=int, default=10_000)
        parser.add_argument("--identities", type=int, default=50)
        parser.add_argument("--organizations", type=int, default=0, help="default: ids/10")
        parser.add_argument("--pool-lines", type=int, default=40)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--keys-file", default="bench/scratch/keys.json")
        parser.add_argument(
            "--webhook-secret",
            default="",
            help="provider webhook secret of every seeded setup (random when empty)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        n_messages: int = opts["messages"]
        n_convs: int = opts["conversations"]
        n_ids: int = opts["identities"]
        if n_convs < 1 or n_ids < 1 or n_messages < n_convs:
            raise CommandError(
                "need identities >= 1, conversations >= 1, messages >= conversations"
            )
        if Message.objects.exists():
            raise CommandError("the database already holds messages; seed an empty database")
        n_orgs = opts["organizations"] or max(1, n_ids // 10)
        rng = random.Random(opts["seed"])  # noqa: S311 -- reproducible data, not secrets
        dataset = Dataset(rng=rng, now=timezone.now())
        started = time.monotonic()
        use_copy = connection.vendor == "postgresql"
        loader = Loader(use_copy=use_copy)
        webhook_secret = opts["webhook_secret"] or secrets.token_urlsafe(24)

        with transaction.atomic():
            dropped: list[tuple[str, str]] = []
            if use_copy:
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit = off")
                    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
                    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                    if cursor.fetchone()[0]:
                        # Skip per-row FK triggers; the generator writes consistent rows.
                        cursor.execute("SET LOCAL session_replication_role = replica")
                    tables = [
                        m._meta.db_table
                        for m in (
                            Message,
                            Conversation,
                            Reaction,
                            Assignment,
                            ProviderEvent,
                            WebhookEvent,
                            WebhookDelivery,
                        )
                    ]
                    dropped = secondary_indexes(tables)
                    for name, _ in dropped:
                        cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
                    cursor.execute(f"ALTER TABLE messaging_message DISABLE TRIGGER {COUNTS}")
            keys = dataset.seed(
                loader, n_orgs, n_ids, n_convs, n_messages, webhook_secret, opts["pool_lines"]
            )
            if use_copy:
                self.stdout.write("recounting conversation counters")
                with connection.cursor() as cursor:
                    cursor.execute(f"ALTER TABLE messaging_message ENABLE TRIGGER {COUNTS}")
                conversation_counts_refresh()
                cap_buckets_refresh()
            if dropped:
                self.stdout.write(f"rebuilding {len(dropped)} indexes")
                with connection.cursor() as cursor:
                    for _, definition in dropped:
                        cursor.execute(definition)
        if use_copy:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")

        path = Path(opts["keys_file"])
        if not path.is_absolute():
            path = Path(settings.BASE_DIR) / path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(keys, indent=1))
        path.chmod(0o600)
        summary = ", ".join(f"{k}={v}" for k, v in sorted(loader.counts.items()))
        self.stdout.write(
            f"seeded in {time.monotonic() - started:.1f}s: {summary}; keys in {opts['keys_file']}"
        )
