"""The send cap's hourly buckets (`SendCapBucket`): which hour a cap time falls in, their
recount (a repair) and their pruning.

Triggers on messaging_message keep each identity's count of outbound cap times per UTC
hour exact on every write (migration 0016). The recount is for whatever went around them:
rows loaded with the triggers off (`seed_load`), a restore of one table, a hand edit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from messaging.models import SendCapBucket

BUCKET = timedelta(hours=1)
# No window of a send accepted now reaches further back than its 24 hours.
KEPT = timedelta(hours=25)

# When a message row `m` counts, and the hour of its cap time, as migration 0016's
# triggers have them (keep the two in step).
_COUNTS = "m.direction = 'outbound' AND m.identity_id IS NOT NULL"
# A window of a send accepted now reaches cap times from this on (see KEPT).
_SINCE = {
    "postgresql": "now() - interval '25 hours'",
    "sqlite": "datetime('now', '-25 hours')",
}
_HOUR = {
    "postgresql": (
        "date_bin('1 hour', COALESCE(m.scheduled_for, m.created_at),"
        " TIMESTAMPTZ '2000-01-01 00:00:00+00')"
    ),
    "sqlite": "strftime('%Y-%m-%d %H:00:00', COALESCE(m.scheduled_for, m.created_at))",
}


def bucket_start(at: datetime) -> datetime:
    """The start of the UTC hour `at` falls in: its bucket's `starts_at`."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@transaction.atomic
def cap_buckets_refresh() -> None:
    """Recount the buckets a window can still reach (cap times from KEPT ago on) from the
    messages: the buckets are emptied and filled again in one transaction, which holds the
    messages still while it counts (a send waits)."""
    hour, since = _HOUR[connection.vendor], _SINCE[connection.vendor]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("LOCK TABLE messaging_message IN SHARE MODE")
        cursor.execute("DELETE FROM messaging_sendcapbucket")
        cursor.execute(
            "INSERT INTO messaging_sendcapbucket (identity_id, starts_at, sends)"  # noqa: S608
            f" SELECT m.identity_id, {hour}, count(*) FROM messaging_message AS m"
            f" WHERE {_COUNTS} AND COALESCE(m.scheduled_for, m.created_at) >= {since}"
            " GROUP BY 1, 2"
        )


def cap_buckets_prune(*, now: datetime | None = None) -> int:
    """Delete the buckets no window can reach any more (before `now` minus KEPT): a send
    is accepted now or later, and its windows look back 24 hours. Returns how many."""
    before = bucket_start((now or timezone.now()) - KEPT)
    deleted, _ = SendCapBucket.objects.filter(starts_at__lt=before).delete()
    return deleted
