"""Scheduled sends: the cap counted at each message's scheduled time, cancelling, and the
beat job that publishes due messages."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from console import outbox
from console.errors import Conflict, RateLimited, ValidationFailed
from console.models import AgentIdentity, AuditEntry
from console.services import Actor
from messaging.models import Message, SendState
from messaging.send_policy import send_retry_at
from messaging.services import scheduling
from messaging.services.delivery import message_deliver
from messaging.services.sending import message_send
from provisioning.providers.base import ProviderError
from tests.messaging.factories import QuietHoursFactory
from tests.messaging.sends import outbound_at

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def send(conversation, send_at=None):
    return message_send(
        identity=conversation.identity,
        conversation=conversation,
        to=None,
        text="Reminder",
        media_urls=[],
        send_style=None,
        send_at=send_at,
    ).message


@pytest.fixture
def cap_of_3(settings):
    settings.SEND_CAP_PER_24H = 3


def test_a_scheduled_send_is_stored_pending_with_its_time(conversation):
    with time_machine.travel(NOW, tick=False):
        message = send(conversation, send_at=NOW + timedelta(hours=2))

    assert message.status == "pending"
    assert message.scheduled_for == NOW + timedelta(hours=2)
    assert message.send_state == SendState.QUEUED


def test_a_scheduled_send_is_not_claimed_before_its_time(conversation, fake_provider):
    with time_machine.travel(NOW, tick=False):
        message = send(conversation, send_at=NOW + timedelta(hours=2))
        message_deliver(message_id=message.id)

    assert fake_provider.calls_to("send_message") == []


def test_send_at_must_be_at_least_a_minute_ahead():
    with pytest.raises(ValidationFailed):
        scheduling.send_at_check(NOW + timedelta(seconds=59), now=NOW)


def test_send_at_may_be_35_days_ahead_but_not_more():
    scheduling.send_at_check(NOW + timedelta(days=35), now=NOW)
    with pytest.raises(ValidationFailed):
        scheduling.send_at_check(NOW + timedelta(days=35, seconds=1), now=NOW)


# --- The cap at the scheduled time ----------------------------------------------------


def test_a_send_is_refused_when_scheduled_messages_fill_a_window_it_falls_in(
    conversation, cap_of_3
):
    for hours in (2, 3, 4):
        outbound_at(conversation, at=NOW + timedelta(hours=hours), scheduled=True)

    with time_machine.travel(NOW, tick=False), pytest.raises(RateLimited) as caught:
        send(conversation)

    assert caught.value.code == "send_rate_limited"


def test_a_scheduled_send_is_refused_when_the_window_ending_at_its_time_is_full(
    conversation, cap_of_3
):
    for minutes in (0, 10, 20):
        outbound_at(conversation, at=NOW - timedelta(minutes=minutes))

    with time_machine.travel(NOW, tick=False), pytest.raises(RateLimited):
        send(conversation, send_at=NOW + timedelta(hours=23))


def test_a_scheduled_send_fits_once_the_earlier_sends_left_its_window(conversation, cap_of_3):
    for minutes in (0, 10, 20):
        outbound_at(conversation, at=NOW - timedelta(minutes=minutes))

    with time_machine.travel(NOW, tick=False):
        message = send(conversation, send_at=NOW + timedelta(hours=24, minutes=1))

    assert message.status == "pending"


def test_a_scheduled_send_is_refused_when_later_messages_fill_a_window_after_it(
    conversation, cap_of_3
):
    outbound_at(conversation, at=NOW + timedelta(hours=20), scheduled=True)
    outbound_at(conversation, at=NOW + timedelta(hours=30), scheduled=True)
    outbound_at(conversation, at=NOW + timedelta(hours=31), scheduled=True)

    with time_machine.travel(NOW, tick=False), pytest.raises(RateLimited):
        # Window (hours 7, 31] would hold 10, 20, 30 and 31.
        send(conversation, send_at=NOW + timedelta(hours=10))


def test_the_scheduled_reply_reports_the_remaining_room_of_its_fullest_window(
    conversation, cap_of_3
):
    outbound_at(conversation, at=NOW + timedelta(hours=2), scheduled=True)

    with time_machine.travel(NOW, tick=False):
        outcome = message_send(
            identity=conversation.identity,
            conversation=conversation,
            to=None,
            text="Later",
            media_urls=[],
            send_style=None,
            send_at=NOW + timedelta(hours=1),
        )

    assert outcome.rate.remaining == 1


def test_cancelling_frees_the_cap_slot(conversation, cap_of_3):
    with time_machine.travel(NOW, tick=False):
        scheduled = [send(conversation, send_at=NOW + timedelta(hours=h)) for h in (1, 2, 3)]
        scheduling.scheduled_cancel(message=scheduled[0], actor=Actor.system())
        message = send(conversation)

    assert message.status == "queued"


# --- Cancelling -----------------------------------------------------------------------


def test_cancelling_deletes_the_scheduled_message(conversation):
    with time_machine.travel(NOW, tick=False):
        message = send(conversation, send_at=NOW + timedelta(hours=1))
        scheduling.scheduled_cancel(message=message, actor=Actor.system())

    assert not Message.objects.filter(pk=message.pk).exists()


def test_cancelling_is_audited_without_the_text(conversation):
    with time_machine.travel(NOW, tick=False):
        message = send(conversation, send_at=NOW + timedelta(hours=1))
        scheduling.scheduled_cancel(message=message, actor=Actor.system())

    entry = AuditEntry.objects.get(action="message.scheduled_cancel")
    assert entry.before["message_id"] == str(message.id)
    assert "Reminder" not in str(entry.before)


def test_a_message_already_sending_cannot_be_cancelled(conversation):
    with time_machine.travel(NOW, tick=False):
        message = send(conversation, send_at=NOW + timedelta(hours=1))
    Message.objects.filter(pk=message.pk).update(send_state=SendState.SENDING, send_attempts=1)

    with pytest.raises(Conflict) as caught:
        scheduling.scheduled_cancel(message=message, actor=Actor.system())

    assert caught.value.code == "already_sending"
    assert Message.objects.filter(pk=message.pk).exists()


def test_an_immediate_send_cannot_be_cancelled(conversation):
    message = send(conversation)

    with pytest.raises(Conflict) as caught:
        scheduling.scheduled_cancel(message=message, actor=Actor.system())

    assert caught.value.code == "not_scheduled"


# --- Going out ---------------------------------------------------------------------------


def test_the_beat_job_publishes_only_due_scheduled_messages(conversation, monkeypatch):
    with time_machine.travel(NOW, tick=False):
        due = send(conversation, send_at=NOW + timedelta(minutes=5))
        send(conversation, send_at=NOW + timedelta(hours=5))
        send(conversation)
    published: list[str] = []
    monkeypatch.setattr(
        outbox, "publish", lambda task, ids, **k: published.extend(map(str, ids)) or len(ids)
    )

    with time_machine.travel(NOW + timedelta(minutes=5, seconds=1), tick=False):
        scheduling.scheduled_due_publish()

    assert published == [str(due.id)]


def test_a_due_scheduled_send_goes_out_once(conversation, fake_provider):
    with time_machine.travel(NOW, tick=False):
        message = send(conversation, send_at=NOW + timedelta(minutes=5))
    with time_machine.travel(NOW + timedelta(minutes=5, seconds=10), tick=False):
        message_deliver(message_id=message.id)
        message_deliver(message_id=message.id)

    message.refresh_from_db()
    assert message.send_state == SendState.SENT
    assert message.status == "sent"
    assert len(fake_provider.calls_to("send_message")) == 1


def test_a_scheduled_sends_retry_window_starts_at_its_scheduled_time(conversation):
    with time_machine.travel(NOW, tick=False):
        message = send(conversation, send_at=NOW + timedelta(days=3))
    message.send_attempts = 1

    retry_at = send_retry_at(
        message, now=NOW + timedelta(days=3), exc=ProviderError("down", permanent=False)
    )

    assert retry_at is not None  # a window from created_at would have closed days ago


# --- The send lock -----------------------------------------------------------------------


def test_the_send_lock_locks_the_identity_row_for_no_key_update(identity):
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        scheduling.send_lock(identity)

    (locking,) = (q["sql"] for q in queries if "console_agentidentity" in q["sql"])
    if connection.vendor == "postgresql":
        assert locking.endswith('FOR NO KEY UPDATE OF "console_agentidentity"')


def test_the_send_lock_answers_the_identitys_quiet_hours(identity):
    QuietHoursFactory(identity=identity, start=time(21), end=time(8), timezone="UTC")

    with transaction.atomic():
        quiet = scheduling.send_lock(identity)

    assert quiet is not None
    assert (quiet.start, quiet.end, quiet.timezone) == (time(21), time(8), "UTC")


def test_the_send_lock_answers_none_without_quiet_hours(identity):
    with transaction.atomic():
        assert scheduling.send_lock(identity) is None


@pytest.mark.django_db(transaction=True)
def test_the_send_lock_needs_a_transaction(identity):
    with pytest.raises(TransactionManagementError):
        scheduling.send_lock(identity)


def test_the_send_lock_of_a_deleted_identity_raises(identity):
    AgentIdentity.objects.filter(pk=identity.pk).delete()

    with pytest.raises(AgentIdentity.DoesNotExist), transaction.atomic():
        scheduling.send_lock(identity)
