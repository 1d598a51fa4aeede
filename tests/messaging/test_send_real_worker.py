"""The send pipeline with a real Celery worker on Redis (no eager execution).

Skipped only when Redis is absent (and never under REQUIRE_REDIS=true, as in CI)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from messaging.models import Message, SendState
from messaging.services import common
from messaging.services.delivery import message_send_sweep
from messaging.services.sending import message_send
from tests.realworker import RealWorker, real_celery_worker  # noqa: F401 - fixture

pytestmark = [
    pytest.mark.slow,
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),
]

WAIT_SECONDS = 30


def wait_for_state(message_ids: list[str], state: str, worker: RealWorker) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        states = set(
            Message.objects.filter(pk__in=message_ids).values_list("send_state", flat=True)
        )
        if states == {state}:
            return
        time.sleep(0.2)
    raise AssertionError(f"messages did not reach {state}: {states}\n{worker.log_text()[-3000:]}")


def test_sends_are_delivered_by_a_real_worker_after_commit(
    real_celery_worker: RealWorker,  # noqa: F811 - the imported fixture
    identity_client,
    conversation,
):
    ids = [
        identity_client.post(
            "/api/v1/imessage/messages",
            {"conversation_id": str(conversation.id), "text": f"n{i}"},
            format="json",
        ).json()["message"]["id"]
        for i in range(5)
    ]

    wait_for_state(ids, SendState.SENT, real_celery_worker)

    sent = Message.objects.filter(pk__in=ids)
    assert all(m.provider_handle and m.status == "sent" and m.send_attempts == 1 for m in sent)


def test_a_job_lost_with_the_broker_is_recovered_by_the_sweep_on_a_real_worker(
    real_celery_worker: RealWorker,  # noqa: F811 - the imported fixture
    conversation,
    monkeypatch,
):
    monkeypatch.setattr(common, "enqueue", lambda *a, **k: None)  # the broker "lost" it
    message = message_send(
        identity=conversation.identity,
        conversation=conversation,
        to=None,
        text="lost",
        media_urls=[],
        send_style=None,
    ).message
    monkeypatch.undo()

    with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=True):
        result = message_send_sweep()

    assert result.requeued == 1
    wait_for_state([str(message.id)], SendState.SENT, real_celery_worker)
