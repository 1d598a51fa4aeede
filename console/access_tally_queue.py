"""Agent-read tallies queued in Redis by every web process and written by one drain.

With `ACCESS_TALLY_REDIS_URL` set, each process's buffer (`console.access_tally_buffer`)
pushes its merged counts here every few seconds in one command, and `tally_drain` (beat,
every `ACCESS_TALLY_DRAIN_SECONDS`) merges what all processes pushed into one upsert of
distinct (key, conversation, hour) rows per batch: the web processes never write tallies
to the database, and each row is written once per interval, not once per process and flush.

Exactly once: a drain renames the list to a batch key of its own, merges the whole batch
into one count per row, writes them together with an `AccessTallyBatch` marker named after
the batch in one transaction, and deletes the batch key last. A drain that dies midway
leaves the batch key, which the next drain finishes unless its marker says it was written;
the marker's primary key makes two drains taking the same leftover write it once. What
Redis holds is lost if Redis itself loses it (a restart without persistence): at most one
drain interval of agent-read counts.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from console.access_tally import TallyCount, TallyKey, tally_upsert
from console.db.inserts import insert_if_absent
from console.models import AccessTallyBatch
from console.redis_pool import redis_client

logger = logging.getLogger(__name__)

QUEUE_KEY = "bluewire:access-tally"
BATCH_PREFIX = "bluewire:access-tally:batch:"
# Entries (one process's flush for one key and hour each) read per round trip; the drain
# holds only their merged counts, one per distinct row.
PAGE_ENTRIES = 500
# Markers only have to outlive a leftover batch, which the next drain finishes.
BATCH_MARKER_DAYS = 7


def queue_client() -> redis.Redis | None:
    """The tally queue's Redis, or None when `ACCESS_TALLY_REDIS_URL` is not set."""
    url = settings.ACCESS_TALLY_REDIS_URL
    return redis_client(url) if url else None


def tally_entries(counts: Mapping[TallyKey, TallyCount]) -> list[str]:
    """`counts` as queue entries: one per key, hour, organisation and key label, listing
    each conversation with the person's number and its count."""
    groups: dict[tuple[Any, dt.datetime, Any, str], list[list[Any]]] = {}
    for key, count in counts.items():
        group = (key.api_key_id, key.hour, count.organization_id, count.key_label)
        rows = groups.get(group)
        if rows is None:
            rows = groups[group] = []
        rows.append([str(key.conversation_id), count.remote_number, count.count])
    return [
        json.dumps([str(key_id), label, hour.isoformat(), str(organization_id), rows])
        for (key_id, hour, organization_id, label), rows in groups.items()
    ]


def queue_push(counts: Mapping[TallyKey, TallyCount]) -> bool:
    """Queue `counts` in one command; False when no queue is configured. Redis errors
    raise (`console.access_tally_buffer` then writes the counts to the database)."""
    client = queue_client()
    if client is None:
        return False
    if counts:
        client.rpush(QUEUE_KEY, *tally_entries(counts))
    return True


def merge_into(counts: dict[TallyKey, TallyCount], entries: Sequence[bytes | str]) -> None:
    """Add queue entries to `counts`, one count per (key, conversation, hour)."""
    for raw in entries:
        try:
            key_id, label, hour_text, organization_id, rows = json.loads(raw)
            hour = dt.datetime.fromisoformat(hour_text)
            added = [(TallyKey(key_id, c, hour), number, int(n)) for c, number, n in rows]
        except (ValueError, TypeError):
            # Only this module writes the queue; one unreadable entry must not stop the rest.
            logger.error("access tally queue: skipped an unreadable entry")
            continue
        for tally_key, number, n in added:
            held = counts.get(tally_key)
            if held is None:
                counts[tally_key] = TallyCount(organization_id, label, number, n)
            else:
                held.count += n


def _batch_drain(client: redis.Redis, batch: str) -> int:
    """Write one batch unless it was written already, then delete it; returns the reads
    written. The batch's entries are merged first, so each (key, conversation, hour) row
    is written once however many processes and flushes counted it."""
    counts: dict[TallyKey, TallyCount] = {}
    for start in range(0, client.llen(batch), PAGE_ENTRIES):
        merge_into(counts, client.lrange(batch, start, start + PAGE_ENTRIES - 1))
    written = 0
    with transaction.atomic():
        if insert_if_absent(AccessTallyBatch, name=batch) is not None:
            tally_upsert(counts)
            written = sum(count.count for count in counts.values())
    client.delete(batch)
    return written


def tally_drain() -> int:
    """Write every read queued so far (and any batch a dead drain left); returns the reads
    written. Nothing to do when the queue is not configured."""
    client = queue_client()
    if client is None:
        return 0
    leftovers = [
        name.decode() if isinstance(name, bytes) else name
        for name in client.scan_iter(match=BATCH_PREFIX + "*", count=100)
    ]
    batch = f"{BATCH_PREFIX}{timezone.now():%Y%m%dT%H%M%S}:{uuid.uuid4().hex}"
    try:
        client.rename(QUEUE_KEY, batch)
    except redis.ResponseError:
        batch = ""  # nothing queued since the last drain
    written = sum(_batch_drain(client, name) for name in [*leftovers, batch] if name)
    AccessTallyBatch.objects.filter(
        written_at__lt=timezone.now() - dt.timedelta(days=BATCH_MARKER_DAYS)
    ).delete()
    return written
