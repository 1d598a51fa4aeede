"""The router's reply outbox: replies are rows, sent by a task after commit, swept when lost."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from provisioning.models import PhoneLine
from provisioning.providers import get_adapter
from provisioning.providers.base import ProviderError
from provisioning.services.credentials import setup_credentials
from routing.models import ReplyState, RouterReply

logger = logging.getLogger(__name__)

REPLY_MAX_ATTEMPTS = 5
REPLY_CLAIM_TIMEOUT = timedelta(minutes=5)


def router_reply_queue(
    *, line: PhoneLine, to: str, kind: str, text: str, media_url: str = ""
) -> RouterReply:
    """Write a reply to the outbox; a task sends it after commit (the sweep if it is lost)."""
    reply = RouterReply.objects.create(
        line=line, to_number=to, kind=kind, text=text, media_url=media_url
    )
    transaction.on_commit(lambda: _enqueue_reply(reply.id))
    logger.info("router reply %s queued kind=%s line=%s", reply.id, kind, line.id)
    return reply


def _enqueue_reply(reply_id: uuid.UUID) -> None:
    from routing.tasks import router_reply_send_task

    try:
        router_reply_send_task.delay(str(reply_id))
    except Exception:
        # The broker is down: the row stays queued and the sweep sends it later.
        logger.warning("router reply %s not enqueued; the sweep will retry", reply_id)


def router_reply_deliver(*, reply_id: uuid.UUID | str) -> str:
    """Send one queued reply at most once per claim; returns the reply's final state.

    The claim is a conditional update (queued -> sending), so duplicate jobs are no-ops.
    """
    now = timezone.now()
    claimed = RouterReply.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        pk=reply_id,
        state=ReplyState.QUEUED,
    ).update(state=ReplyState.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
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
        final = exc.permanent or reply.attempts >= REPLY_MAX_ATTEMPTS
        delay = exc.retry_after or min(30 * 2 ** (reply.attempts - 1), 1800)
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


def router_reply_sweep(*, stale_after: timedelta = timedelta(seconds=30)) -> int:
    """Re-enqueue replies whose job was lost (broker down at commit, worker died).

    Replies stuck in `sending` past the claim timeout go back to `queued`: a duplicate
    automatic reply is harmless, a lost connect confirmation is not.
    """
    now = timezone.now()
    RouterReply.objects.filter(
        state=ReplyState.SENDING, claimed_at__lt=now - REPLY_CLAIM_TIMEOUT
    ).update(state=ReplyState.QUEUED, next_attempt_at=now, updated_at=now)
    due = list(
        RouterReply.objects.filter(state=ReplyState.QUEUED)
        .filter(
            Q(next_attempt_at__lte=now)
            | Q(next_attempt_at__isnull=True, updated_at__lt=now - stale_after)
        )
        .values_list("id", flat=True)[:500]
    )
    for reply_id in due:
        _enqueue_reply(reply_id)
    return len(due)
