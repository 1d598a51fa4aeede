"""Helpers for tests of the send pipeline: queue a message without running its job, drive
its retries through time as the broker would, and build provider answers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import transaction

from console.services import Actor
from messaging.models import Conversation, Message, SendState
from messaging.services import delivery
from messaging.services.delivery import message_deliver
from messaging.services.sending import message_send
from provisioning.providers.base import ProviderError, StatusUpdate
from provisioning.services.setups import setup_create
from tests.messaging.conftest import PERSON
from tests.messaging.factories import ConversationFactory, MessageFactory


def send_now(conversation: Any, text: str = "hello") -> Message:
    """An agent reply, stored and published after commit, as the API does: in a
    transaction of its own (the send path takes no savepoint, so a refused send leaves
    the test's transaction usable only through this one)."""
    with transaction.atomic():
        return message_send(
            identity=conversation.identity,
            conversation=conversation,
            to=None,
            text=text,
            media_urls=[],
            send_style=None,
        ).message


def queue_message(conversation: Any, text: str = "hello") -> Message:
    """Store a message queued without running its job (as if the broker lost it)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(delivery, "sends_publish", lambda *a, **k: None)
        return send_now(conversation, text)


def conversation_on_a_new_line(identity: Any) -> Conversation:
    """The identity's conversation with PERSON over the dedicated line of a setup created
    at the current provider (which must place lines at once)."""
    setup = setup_create(
        organization=identity.organization,
        business_name="Riverside Clinic LLC",
        label="Front desk",
        actor=Actor.system(),
    )
    line = setup.lines.get()
    line.identity = identity
    line.save(update_fields=["identity"])
    conversation: Conversation = ConversationFactory(
        identity=identity, remote_number=PERSON, line=line
    )
    return conversation


def run_due_jobs(message: Message, *, limit: int = 200) -> Message:
    """Run the message's job at each retry time it asks for (the clock moved with
    time-machine), until it leaves `queued`; returns it reloaded."""
    for _ in range(limit):
        message.refresh_from_db()
        if message.send_state != SendState.QUEUED:
            return message
        due = message.next_attempt_at + timedelta(milliseconds=1)
        with time_machine.travel(due, tick=False):
            message_deliver(message_id=message.id)
    raise AssertionError(f"message {message.pk} still queued after {limit} jobs")


def status(handle: str, value: str, **kwargs: Any) -> StatusUpdate:
    return StatusUpdate(
        provider_handle=handle,
        status=value,
        service=kwargs.pop("service", None),
        was_downgraded=kwargs.pop("was_downgraded", None),
        error_code=kwargs.pop("error_code", None),
        error_message=kwargs.pop("error_message", None),
        **kwargs,
    )


def transient(message: str = "upstream 503") -> ProviderError:
    return ProviderError(message, permanent=False, status_code=503)


def outbound_at(conversation: Any, *, at: datetime, scheduled: bool = False) -> Message:
    """An earlier outbound message with cap time `at`: accepted then, or (`scheduled`)
    accepted days before and scheduled for `at`."""
    return MessageFactory(
        conversation=conversation,
        direction="outbound",
        created_at=at - timedelta(days=3) if scheduled else at,
        scheduled_for=at if scheduled else None,
    )
