"""Outages and lost outcomes of sends, proven against the provider simulator: our real
adapter talks HTTP to it, and its status callbacks come back through our intake."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from messaging.models import Message, SendState
from messaging.services import common
from messaging.services.delivery import SweepResult, message_deliver, message_send_sweep
from provisioning.providers.sendblue.adapter import SendblueAdapter
from tests.messaging.conftest import PERSON
from tests.messaging.sends import conversation_on_a_new_line, queue_message, run_due_jobs
from tests.provisioning.simulator import test_end_to_end as simulator_end_to_end
from tests.provisioning.simulator.test_end_to_end import AGENCY, Harness

# The in-process simulator wired to our intake (a fixture of the provisioning tests).
harness = simulator_end_to_end.harness

pytestmark = pytest.mark.django_db


class Killed(BaseException):
    """The worker process dies here (nothing after this line of the job runs)."""


class OutageTransport(httpx.BaseTransport):
    """The way to the simulator, refused as a provider outage would be until `down_until`."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.down_until: datetime | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.down_until is not None and timezone.now() < self.down_until:
            raise httpx.ConnectError("connection refused", request=request)
        return self.inner.handle_request(request)


@pytest.fixture
def outage(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Iterator[OutageTransport]:
    transport = OutageTransport(httpx.WSGITransport(app=harness.simulator))
    adapter = SendblueAdapter(
        base_url="http://sim.test",
        agency=AGENCY,
        max_retries=0,
        transport=transport,
        sleep=lambda seconds: None,
    )
    monkeypatch.setattr(common, "provider_adapter", lambda: adapter)
    yield transport


@pytest.fixture
def conversation(identity: Any, harness: Harness) -> Any:
    """The identity's conversation with PERSON over a line the simulator placed."""
    harness.simulator.assign_immediately = True
    return conversation_on_a_new_line(identity)


def handset(harness: Harness) -> list[dict[str, Any]]:
    return harness.control("GET", "/phone/messages", number=PERSON).json()


def window() -> timedelta:
    return timedelta(minutes=settings.SEND_RETRY_WINDOW_MINUTES)


@contextmanager
def killed_after_the_provider_accepts() -> Iterator[None]:
    """The job's worker dies right after the provider accepted the message, before the
    answer is stored."""
    adapter = common.provider_adapter()
    original = adapter.send_message

    def accepted_then_killed(**kwargs: Any) -> Any:
        original(**kwargs)
        raise Killed

    with pytest.MonkeyPatch.context() as mp, pytest.raises(Killed):
        mp.setattr(adapter, "send_message", accepted_then_killed)
        yield


def lose_every_callback(harness: Harness) -> None:
    """Run the simulator's jobs with our intake unreachable: every callback is lost."""
    harness.simulator.deliver_client = httpx.Client(
        transport=httpx.MockTransport(lambda request: httpx.Response(503))
    )
    harness.flush()


def sweep_after_the_stuck_timeout() -> SweepResult:
    later = timezone.now() + timedelta(seconds=settings.SEND_STUCK_TIMEOUT_SECONDS + 60)
    with time_machine.travel(later, tick=False):
        return message_send_sweep()


# --- Item: sends ride out a provider outage ------------------------------------------------


def test_a_provider_down_for_30_minutes_then_up_delivers_the_message_once(
    conversation: Any,
    harness: Harness,
    outage: OutageTransport,
    emitted: Any,
) -> None:
    message = queue_message(conversation, text="Your results are ready")
    outage.down_until = message.created_at + timedelta(minutes=30)

    message_deliver(message_id=message.id)
    message.refresh_from_db()
    assert (message.send_state, message.status) == (SendState.QUEUED, "queued")
    message = run_due_jobs(message)
    harness.flush()  # the simulator's status callbacks reach our intake

    message.refresh_from_db()
    assert (message.send_state, message.status) == (SendState.SENT, "delivered")
    assert [m["content"] for m in handset(harness)] == ["Your results are ready"]
    assert emitted.types() == ["imessage.sent", "imessage.delivered"]


def test_a_provider_down_past_the_window_fails_the_message_once_with_a_reason(
    conversation: Any,
    harness: Harness,
    outage: OutageTransport,
    emitted: Any,
) -> None:
    message = queue_message(conversation)
    outage.down_until = message.created_at + window() + timedelta(hours=1)

    message_deliver(message_id=message.id)
    message = run_due_jobs(message)

    assert (message.send_state, message.status) == (SendState.FAILED, "error")
    assert message.error_reason
    assert handset(harness) == []
    assert emitted.types() == ["imessage.delivery_failed"]


# --- Item: a message the person received is never reported failed ---------------------------


def test_a_worker_killed_after_the_simulator_accepted_ends_delivered_by_the_callback(
    conversation: Any,
    harness: Harness,
    outage: OutageTransport,
    emitted: Any,
) -> None:
    message = queue_message(conversation)
    with killed_after_the_provider_accepts():
        message_deliver(message_id=message.id)
    assert Message.objects.get(pk=message.pk).provider_handle is None

    harness.flush()  # QUEUED -> SENT -> DELIVERED, posted to the message's own callback URL

    message.refresh_from_db()
    assert (message.send_state, message.status) == (SendState.SENT, "delivered")
    assert len(handset(harness)) == 1
    assert sweep_after_the_stuck_timeout().recovered == 0
    assert emitted.types() == ["imessage.sent", "imessage.delivered"]


def test_a_worker_killed_after_the_simulator_accepted_is_found_in_its_message_list(
    conversation: Any,
    harness: Harness,
    outage: OutageTransport,
    emitted: Any,
) -> None:
    message = queue_message(conversation, text="See you at 3")
    with killed_after_the_provider_accepts():
        message_deliver(message_id=message.id)
    lose_every_callback(harness)

    assert sweep_after_the_stuck_timeout().recovered == 1

    message.refresh_from_db()
    assert (message.send_state, message.status) == (SendState.SENT, "delivered")
    assert message.provider_handle == handset(harness)[0]["message_handle"]
    assert len(handset(harness)) == 1
    assert emitted.types() == ["imessage.sent", "imessage.delivered"]


def test_a_worker_killed_after_the_simulator_accepted_ends_unknown_when_nothing_confirms_it(
    conversation: Any,
    harness: Harness,
    outage: OutageTransport,
    emitted: Any,
) -> None:
    message = queue_message(conversation)
    with killed_after_the_provider_accepts():
        message_deliver(message_id=message.id)
    lose_every_callback(harness)
    outage.down_until = message.created_at + window() * 2  # and its message list is away

    sweep_after_the_stuck_timeout()
    message = run_due_jobs(message)

    assert (message.send_state, message.status) == (SendState.UNKNOWN, "error")
    assert message.error_reason == "outcome_unknown"
    assert len(handset(harness)) == 1  # the person has it: never reported failed
    assert emitted.types() == ["imessage.delivery_unknown"]
