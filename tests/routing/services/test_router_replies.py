from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from provisioning.models import PhoneLine
from provisioning.providers.base import ProviderError
from provisioning.providers.fake import FakeProvider
from routing.models import ReplyState, RouterReply
from routing.services.router import inbound_route
from routing.services.router_replies import router_reply_deliver, router_reply_sweep
from tests.routing.conftest import PERSON
from tests.routing.factories import RouterReplyFactory

pytestmark = pytest.mark.django_db


def test_a_reply_survives_a_broker_outage_and_the_sweep_sends_it(
    router: PhoneLine, fake_provider: FakeProvider, django_capture_on_commit_callbacks: Any
) -> None:
    with (
        mock.patch(
            "routing.tasks.router_reply_deliver_task.apply_async",
            side_effect=ConnectionError("broker down"),
        ),
        django_capture_on_commit_callbacks(execute=True),
    ):
        inbound_route(line=router, sender=PERSON, text="hi")

    reply = RouterReply.objects.get()
    assert reply.state == ReplyState.QUEUED
    assert fake_provider.calls_to("send_message") == []

    RouterReply.objects.filter(pk=reply.pk).update(updated_at=timezone.now() - timedelta(minutes=1))
    assert router_reply_sweep() == 1

    reply.refresh_from_db()
    assert reply.state == ReplyState.SENT
    assert len(fake_provider.calls_to("send_message")) == 1


def test_a_reply_is_sent_at_most_once_per_claim(
    router: PhoneLine, fake_provider: FakeProvider
) -> None:
    reply = RouterReplyFactory(line=router)

    assert router_reply_deliver(reply_id=reply.id) == ReplyState.SENT
    assert router_reply_deliver(reply_id=reply.id) == "skipped"
    assert len(fake_provider.calls_to("send_message")) == 1


def test_a_transient_provider_error_requeues_with_a_delay(
    router: PhoneLine, fake_provider: FakeProvider
) -> None:
    reply = RouterReplyFactory(line=router)
    fake_provider.fail_next.append(ProviderError("timeout", permanent=False))

    assert router_reply_deliver(reply_id=reply.id) == ReplyState.QUEUED

    reply.refresh_from_db()
    assert reply.next_attempt_at is not None and reply.next_attempt_at > timezone.now()
    assert router_reply_deliver(reply_id=reply.id) == "skipped"


def test_a_permanent_provider_error_fails_the_reply(
    router: PhoneLine, fake_provider: FakeProvider
) -> None:
    reply = RouterReplyFactory(line=router)
    fake_provider.fail_next.append(ProviderError("bad number", permanent=True))

    assert router_reply_deliver(reply_id=reply.id) == ReplyState.FAILED


def test_the_sweep_recovers_a_reply_stuck_in_sending(
    router: PhoneLine, fake_provider: FakeProvider
) -> None:
    reply = RouterReplyFactory(
        line=router, state=ReplyState.SENDING, claimed_at=timezone.now() - timedelta(hours=1)
    )

    router_reply_sweep()

    reply.refresh_from_db()
    assert reply.state == ReplyState.SENT
