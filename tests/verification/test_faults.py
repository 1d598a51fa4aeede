"""Faults, each with a test that shows nothing is lost: provider outages during sends (over
the real HTTP adapter), a Celery worker killed mid-task, a dropped database connection."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from messaging.models import Message, SendState
from messaging.services import common
from messaging.webhooks.delivery import _lease, delivery_sweep
from messaging.webhooks.events import event_emit
from messaging.webhooks.models import DeliveryStatus, WebhookDelivery
from provisioning.providers.base import AccountCredentials
from provisioning.providers.sendblue.adapter import SendblueAdapter
from tests.console.factories import AgentIdentityFactory
from tests.dbfaults import terminate_own_backend
from tests.messaging.factories import MessageFactory
from tests.messaging.sends import run_due_jobs
from tests.messaging.webhooks.conftest import Reply
from tests.messaging.webhooks.factories import SigningKeyFactory, WebhookSubscriptionFactory
from tests.realworker import (  # noqa: F401
    RealWorker,
    _start_worker,
    _stop_worker,
    real_celery_worker,
)

SENT_BODY = {
    "message_handle": "fault-handle-0001",
    "status": "QUEUED",
    "accountEmail": "ops@acme.test",
    "error_code": None,
    "was_downgraded": False,
    "service": "iMessage",
}


def scripted_adapter(script: list[str], calls: list[str]) -> SendblueAdapter:
    """The real Sendblue adapter over a transport that plays `script` then succeeds.

    A "timeout" step is a send the provider accepted whose answer never came back: its
    message list (`GET /api/v2/messages`) shows it from then on."""
    accepted: list[dict[str, Any]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        step = script.pop(0) if script else "ok"
        lookup = request.method == "GET" and request.url.path == "/api/v2/messages"
        calls.append(f"lookup:{step}" if lookup else step)
        if step == "500":
            return httpx.Response(500, json={"status": "ERROR", "message": "upstream down"})
        if step == "unreachable":
            raise httpx.ConnectError("connection refused", request=request)
        if step == "timeout":
            if not lookup:
                sent = json.loads(request.content)
                accepted.append({**SENT_BODY, "is_outbound": True, "content": sent["content"]})
            raise httpx.ReadTimeout("read timed out", request=request)
        if lookup:
            return httpx.Response(200, json={"status": "OK", "data": accepted})
        return httpx.Response(200, json=SENT_BODY)

    return SendblueAdapter(
        base_url="https://provider.invalid",
        agency=AccountCredentials(key_id="agency-key-id", secret="agency-secret-value"),
        max_retries=0,
        transport=httpx.MockTransport(handle),
        sleep=lambda seconds: None,
    )


@pytest.fixture
def countdowns(monkeypatch: pytest.MonkeyPatch) -> list[float | None]:
    """The backoff of every re-enqueued send job (eager Celery runs them at once)."""
    seen: list[float | None] = []
    original: Callable[..., Any] = common.enqueue

    def recording(task: Any, *args: Any, countdown: float | None = None) -> None:
        seen.append(countdown)
        original(task, *args, countdown=countdown)

    monkeypatch.setattr(common, "enqueue", recording)
    return seen


def send(client: Any, conversation: Any, capture: Any) -> Message:
    with capture(execute=True):
        response = client.post(
            "/api/v1/imessage/messages",
            {"conversation_id": str(conversation.id), "text": "fault drill"},
            format="json",
        )
    assert response.status_code == 201, response.content
    return Message.objects.get(pk=response.json()["message"]["id"])


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["500", "unreachable"])
def test_a_provider_fault_during_a_send_is_retried_with_backoff_and_delivered_on_recovery(
    fault: str,
    conversation: Any,
    identity_client: Any,
    emitted: Any,
    countdowns: list[float | None],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    calls: list[str] = []
    adapter = scripted_adapter([fault, fault], calls)
    monkeypatch.setattr(common, "provider_adapter", lambda: adapter)

    message = run_due_jobs(send(identity_client, conversation, django_capture_on_commit_callbacks))

    assert calls == [fault, fault, "ok"]
    assert message.send_state == SendState.SENT
    assert message.provider_handle == SENT_BODY["message_handle"]
    retries = [c for c in countdowns if c]
    assert len(retries) == 2 and retries[1] >= retries[0]
    assert emitted.types().count("imessage.sent") == 1
    assert "imessage.delivery_failed" not in emitted.types()


@pytest.mark.django_db
def test_a_send_that_timed_out_after_the_provider_took_it_is_found_not_sent_twice(
    conversation: Any,
    identity_client: Any,
    emitted: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    calls: list[str] = []
    adapter = scripted_adapter(["timeout"], calls)
    monkeypatch.setattr(common, "provider_adapter", lambda: adapter)

    message = run_due_jobs(send(identity_client, conversation, django_capture_on_commit_callbacks))

    assert calls == ["timeout", "lookup:ok"]
    assert message.send_state == SendState.SENT
    assert message.provider_handle == SENT_BODY["message_handle"]
    assert emitted.types() == ["imessage.sent"]


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["500", "unreachable"])
def test_a_provider_that_never_recovers_fails_the_message_with_a_reason(
    fault: str,
    conversation: Any,
    identity_client: Any,
    emitted: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    calls: list[str] = []
    adapter = scripted_adapter([fault] * 500, calls)
    monkeypatch.setattr(common, "provider_adapter", lambda: adapter)

    message = run_due_jobs(send(identity_client, conversation, django_capture_on_commit_callbacks))

    assert len(calls) > 5  # retried across the whole window
    assert message.send_state == SendState.FAILED
    assert message.status == "error"
    assert message.error_message
    assert message.updated_at >= message.created_at + timedelta(
        minutes=settings.SEND_RETRY_WINDOW_MINUTES
    )
    assert emitted.types().count("imessage.delivery_failed") == 1
    assert "imessage.sent" not in emitted.types()


@pytest.mark.django_db
def test_a_provider_that_keeps_timing_out_ends_outcome_unknown_not_failed(
    conversation: Any,
    identity_client: Any,
    emitted: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    calls: list[str] = []
    adapter = scripted_adapter(["timeout"] * 500, calls)
    monkeypatch.setattr(common, "provider_adapter", lambda: adapter)

    message = run_due_jobs(send(identity_client, conversation, django_capture_on_commit_callbacks))

    assert calls.count("timeout") == 1  # sent once, then only looked up
    assert (message.send_state, message.error_reason) == (SendState.UNKNOWN, "outcome_unknown")
    assert emitted.types() == ["imessage.delivery_unknown"]


@pytest.mark.django_db(transaction=True)
def test_a_dropped_database_connection_does_not_fail_the_next_request(
    admin_client: Any,
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite is an in-process file: there is no server connection to drop")
    assert admin_client.get("/api/whoami").status_code == 200
    terminate_own_backend()
    # What the WSGI handler does at the start of every request (the test client skips it):
    # with CONN_HEALTH_CHECKS the dead persistent connection is noticed and replaced.
    close_old_connections()
    response = admin_client.get("/api/whoami")
    assert response.status_code == 200


def _wait_for(
    predicate: Callable[[], bool], worker: RealWorker | None, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"condition not met in {timeout}s\n{worker.log_text() if worker else ''}")


@pytest.mark.slow
@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_delivery_leaves_the_job_to_run_again_with_the_same_event_id(
    real_celery_worker: RealWorker,  # noqa: F811
    receiver: Any,
    tmp_path: Any,
) -> None:
    identity = AgentIdentityFactory(imessage_enabled=True)
    SigningKeyFactory(identity=identity)
    WebhookSubscriptionFactory(
        identity=identity, url=receiver.url, event_types=["imessage.received"]
    )
    # The first attempt hangs in the receiver: the worker is mid-task when it dies.
    receiver.reply(Reply(delay=15))
    message = MessageFactory(conversation__identity=identity)
    with transaction.atomic():
        event = event_emit(event_type="imessage.received", identity=identity, message=message)
    assert event is not None
    _wait_for(lambda: len(receiver.requests) == 1, real_celery_worker)

    os.killpg(real_celery_worker.process.pid, signal.SIGKILL)
    real_celery_worker.process.wait(timeout=10)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.claimed_at is not None

    second = _start_worker(
        broker_url=real_celery_worker.broker_url,
        queue=real_celery_worker.queue,
        log_path=tmp_path / "second-worker.log",
        concurrency=2,
    )
    try:
        # Let the dead worker's lease run out without sleeping through it.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            claimed_at=F("claimed_at") - _lease() - timedelta(seconds=1),
            next_attempt_at=timezone.now() - timedelta(minutes=10),
        )
        assert delivery_sweep() == 1
        _wait_for(
            lambda: WebhookDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.SUCCEEDED,
            second,
        )
    finally:
        _stop_worker(second)

    ids = [json.loads(r.body)["id"] for r in receiver.requests]
    assert ids == [event.id, event.id]  # at least once, one stable id for the receiver
    assert WebhookDelivery.objects.count() == 1
