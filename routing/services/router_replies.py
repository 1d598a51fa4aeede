"""The router's reply outbox (`console.outbox`): replies are rows, sent by a task after
commit, retried under the `router_reply` policy, swept when lost."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.db.models import F, Q
from django.utils import timezone

from console.outbox import Outbox, publish_on_commit, retry_policy, task_at
from provisioning.models import PhoneLine
from provisioning.providers import get_adapter
from provisioning.providers.base import ProviderError
from provisioning.services.credentials import setup_credentials
from routing.models import ReplyState, RouterReply

logger = logging.getLogger(__name__)

REPLY_CLAIM_TIMEOUT = timedelta(minutes=5)
# A queued reply with no due time whose job has not run this long after it was written.
REPLY_STALE_AFTER = timedelta(seconds=30)


def _due(now: datetime) -> Q:
    return Q(state=ReplyState.QUEUED) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )


def _overdue(now: datetime) -> Q:
    return Q(state=ReplyState.QUEUED) & (
        Q(next_attempt_at__lte=now)
        | Q(next_attempt_at__isnull=True, updated_at__lt=now - REPLY_STALE_AFTER)
    )


REPLIES = Outbox(
    name="router reply",
    model=RouterReply,
    task=task_at("routing.tasks.router_reply_deliver_task"),
    due=_due,
    claim_fields=lambda now: {
        "state": ReplyState.SENDING,
        "claimed_at": now,
        "attempts": F("attempts") + 1,
    },
    overdue=_overdue,
    # A duplicate automatic reply is harmless, a lost connect confirmation is not.
    expired=lambda now: Q(state=ReplyState.SENDING, claimed_at__lt=now - REPLY_CLAIM_TIMEOUT),
    release=lambda now: {
        "state": ReplyState.QUEUED,
        "next_attempt_at": now,
        "updated_at": now,
    },
)


def router_reply_queue(
    *, line: PhoneLine, to: str, kind: str, text: str, media_url: str = ""
) -> RouterReply:
    """Write a reply to the outbox; a task sends it after commit (the sweep if it is lost)."""
    reply = RouterReply.objects.create(
        line=line, to_number=to, kind=kind, text=text, media_url=media_url
    )
    publish_on_commit(REPLIES.task(), [reply.id])
    logger.info("router reply %s queued kind=%s line=%s", reply.id, kind, line.id)
    return reply


def router_reply_deliver(*, reply_id: uuid.UUID | str) -> str:
    """Send one queued reply at most once per claim; returns the reply's final state.

    The claim is a conditional update (queued -> sending), so duplicate jobs are no-ops.
    """
    if not REPLIES.claim(reply_id, now=timezone.now()):
        return "skipped"
    reply = RouterReply.objects.select_related("line", "line__setup").get(pk=reply_id)
    line = reply.line
    try:
        result = get_adapter().send_message(
            credentials=setup_credentials(line.setup),
            from_number=line.number or "",
            to_number=reply.to_number,
            content=reply.text,
            media_url=reply.media_url or None,
            send_style=None,
            status_callback=None,
        )
    except ProviderError as exc:
        policy = retry_policy("router_reply")
        final = exc.permanent or policy.exhausted(reply.attempts)
        delay = exc.retry_after or policy.backoff(reply.attempts)
        RouterReply.objects.filter(pk=reply.pk).update(
            state=ReplyState.FAILED if final else ReplyState.QUEUED,
            next_attempt_at=None if final else timezone.now() + timedelta(seconds=delay),
            last_error=exc.message[:1000],
            updated_at=timezone.now(),
        )
        logger.warning("router reply %s failed permanent=%s", reply.id, final)
        return ReplyState.FAILED if final else ReplyState.QUEUED
    RouterReply.objects.filter(pk=reply.pk).update(
        state=ReplyState.SENT, provider_handle=result.provider_handle, updated_at=timezone.now()
    )
    return ReplyState.SENT


def router_reply_sweep() -> int:
    """Re-publish replies whose job was lost (broker down at commit, worker died): replies
    stuck in `sending` past the claim timeout go back to `queued` and are sent again.
    Returns how many jobs were published."""
    counts = REPLIES.sweep()
    return counts.recovered + counts.requeued
