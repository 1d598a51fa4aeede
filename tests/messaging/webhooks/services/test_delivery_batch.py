"""Batch attempts: a job claims due deliveries in one statement, loads them in one query,
POSTs them concurrently over kept-alive connections and records them in one write."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from inkbox.signing_keys import verify_webhook
from standardwebhooks.webhooks import Webhook

from console.models import AgentIdentity
from console.outbox import CLAIM_PLANNING
from console.services import Actor
from messaging.webhooks import batches
from messaging.webhooks import delivery as webhook_delivery
from messaging.webhooks.delivery import (
    ERR_REPLAY_INACTIVE,
    _lease,
    deliveries_attempt,
    delivery_attempt,
    delivery_sweep,
    request_id_for,
)
from messaging.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from messaging.webhooks.subscriptions import subscription_create
from tests.messaging.webhooks.conftest import Reply
from tests.messaging.webhooks.factories import WebhookDeliveryFactory, WebhookSubscriptionFactory

CLAIMERS = 8


def subscribe(identity: AgentIdentity, url: str) -> tuple[WebhookSubscription, str]:
    created = subscription_create(
        identity=identity, url=url, event_types=["imessage.received"], actor=Actor.system()
    )
    # The identity's first subscription creates its signing key; later ones reuse it.
    return created.subscription, created.signing_key or ""


def due(subscription: WebhookSubscription, count: int) -> list[WebhookDelivery]:
    """Due deliveries whose jobs were not published (the batch under test takes them)."""
    return [WebhookDeliveryFactory(subscription=subscription) for _ in range(count)]


def statements(queries: CaptureQueriesContext) -> list[str]:
    """The statements that read or write rows (no transaction control, nor the claim's
    planner setting)."""
    return [
        q["sql"]
        for q in queries.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "BEGIN", "COMMIT"))
        and q["sql"] != CLAIM_PLANNING
    ]


def test_a_batch_is_claimed_in_one_statement_loaded_in_one_query_and_recorded_in_one_write(
    identity, receiver, settings
):
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement claim is PostgreSQL's (SQLite claims row by row)")
    settings.WEBHOOK_BATCH_SIZE = 5
    sub, _ = subscribe(identity, receiver.url)
    rows = due(sub, 5)

    with CaptureQueriesContext(connection) as queries:
        statuses = deliveries_attempt()

    assert statuses == {r.id: DeliveryStatus.SUCCEEDED for r in rows}
    claim, load, record = statements(queries)
    assert claim.startswith("UPDATE") and "SKIP LOCKED" in claim and "RETURNING" in claim
    assert load.startswith("SELECT") and "webhooks_signingkey" in load
    assert record.startswith("UPDATE") and "FROM (VALUES" in record
    assert len(receiver.requests) == 5


def test_a_batch_is_loaded_in_one_query_and_recorded_in_one_write_on_any_database(
    identity, receiver
):
    sub, _ = subscribe(identity, receiver.url)
    due(sub, 5)

    with CaptureQueriesContext(connection) as queries:
        deliveries_attempt()

    sql = statements(queries)
    assert len([s for s in sql if s.startswith("SELECT") and "webhooks_signingkey" in s]) == 1
    # PostgreSQL writes from a VALUES list; elsewhere it is bulk_update's CASE per field.
    record = [s for s in sql if s.startswith("UPDATE") and ("FROM (VALUES" in s or "CASE" in s)]
    assert len(record) == 1


def test_a_job_takes_its_own_delivery_and_other_due_ones_up_to_the_batch_size(
    identity, receiver, settings
):
    settings.WEBHOOK_BATCH_SIZE = 3
    sub, _ = subscribe(identity, receiver.url)
    rows = due(sub, 5)
    newest = rows[-1]
    WebhookDelivery.objects.filter(pk=newest.pk).update(next_attempt_at=timezone.now())

    assert delivery_attempt(delivery_id=newest.id) == DeliveryStatus.SUCCEEDED

    sent = WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED)
    assert sent.count() == 3
    assert sent.filter(pk=newest.pk).exists()
    assert len(receiver.requests) == 3


def test_a_job_whose_delivery_another_batch_took_sends_nothing(identity, receiver):
    sub, _ = subscribe(identity, receiver.url)
    (row,) = due(sub, 1)
    assert delivery_attempt(delivery_id=row.id) == DeliveryStatus.SUCCEEDED

    with CaptureQueriesContext(connection) as queries:
        assert delivery_attempt(delivery_id=row.id) is None

    assert len(statements(queries)) == 1  # the read that finds it taken
    assert len(receiver.requests) == 1


def test_a_job_whose_delivery_was_taken_leaves_other_due_ones_to_their_own_jobs(identity, receiver):
    sub, _ = subscribe(identity, receiver.url)
    taken, waiting = due(sub, 2)
    WebhookDelivery.objects.filter(pk=taken.pk).update(claimed_at=timezone.now())

    assert delivery_attempt(delivery_id=taken.id) is None

    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempt_count) == (DeliveryStatus.PENDING, 0)
    assert receiver.requests == []


def test_every_delivery_of_a_batch_is_signed_with_its_own_stable_request_id(identity, receiver):
    sub, secret = subscribe(identity, receiver.url)
    rows = due(sub, 6)

    deliveries_attempt()

    assert len(receiver.requests) == 6
    for request in receiver.requests:
        assert verify_webhook(payload=request.body, headers=request.headers, secret=secret)
        Webhook(secret).verify(request.body, request.headers)
    assert {r.headers["webhook-id"] for r in receiver.requests} == {
        request_id_for(row) for row in rows
    }


def test_a_mixed_batch_ends_each_delivery_as_a_single_attempt_would(identity, receiver, fake_dns):
    ok, _ = subscribe(identity, receiver.url + "/ok")
    busy, _ = subscribe(identity, receiver.url + "/busy")
    gone, _ = subscribe(identity, receiver.url + "/gone")
    stopped, _ = subscribe(identity, receiver.url + "/stopped")
    WebhookSubscription.objects.filter(pk=stopped.pk).update(status="deleted")
    unsafe = WebhookSubscriptionFactory(identity=identity, url="https://hooks.internal.test/in")
    fake_dns["hooks.internal.test"] = ["10.0.0.7"]
    receiver.by_path = {"/hook/busy": Reply(status=503), "/hook/gone": Reply(status=404)}
    subscriptions = {"ok": ok, "busy": busy, "gone": gone, "stopped": stopped, "unsafe": unsafe}
    rows = {name: due(sub, 1)[0] for name, sub in subscriptions.items()}

    statuses = deliveries_attempt()

    ended = {name: WebhookDelivery.objects.get(pk=row.pk) for name, row in rows.items()}
    assert statuses == {row.id: ended[name].status for name, row in rows.items()}
    assert {name: (d.status, d.response_status) for name, d in ended.items()} == {
        "ok": (DeliveryStatus.SUCCEEDED, 200),
        "busy": (DeliveryStatus.PENDING, 503),
        "gone": (DeliveryStatus.FAILED, 404),
        "stopped": (DeliveryStatus.FAILED, None),
        "unsafe": (DeliveryStatus.FAILED, None),
    }
    assert ended["busy"].next_attempt_at > timezone.now()
    assert ended["stopped"].error_detail == ERR_REPLAY_INACTIVE
    assert "private" in ended["unsafe"].error_detail
    assert all(d.attempt_count == 1 and d.claimed_at is None for d in ended.values())
    assert sorted(r.path for r in receiver.requests) == ["/hook/busy", "/hook/gone", "/hook/ok"]


def test_a_batch_without_a_sequential_budget_posts_its_deliveries_concurrently(
    identity, receiver, settings
):
    settings.WEBHOOK_BATCH_CONCURRENCY = 4
    settings.WEBHOOK_SEQUENTIAL_BUDGET_MS = 0
    sub, _ = subscribe(identity, receiver.url)
    due(sub, 4)
    # Each request is answered only once all four have arrived: one at a time never ends.
    arrived = threading.Barrier(4, timeout=5)
    receiver.on_request = lambda _: arrived.wait()

    statuses = deliveries_attempt()

    assert set(statuses.values()) == {DeliveryStatus.SUCCEEDED}


def threads_posting(monkeypatch) -> list[str]:
    """The name of the thread each attempt of a batch runs on, in order of starting."""
    names: list[str] = []
    attempt = webhook_delivery._attempt_or_error

    def recorded(delivery):
        names.append(threading.current_thread().name)
        return attempt(delivery)

    monkeypatch.setattr(webhook_delivery, "_attempt_or_error", recorded)
    return names


def test_a_batch_posts_one_after_another_within_its_sequential_budget(
    identity, receiver, settings, monkeypatch
):
    settings.WEBHOOK_BATCH_CONCURRENCY = 4
    settings.WEBHOOK_SEQUENTIAL_BUDGET_MS = 60_000
    settings.WEBHOOK_SLOW_ANSWER_MS = 60_000
    sub, _ = subscribe(identity, receiver.url)
    due(sub, 4)
    names = threads_posting(monkeypatch)

    statuses = deliveries_attempt()

    assert list(statuses.values()).count(DeliveryStatus.SUCCEEDED) == 4
    assert names == [threading.current_thread().name] * 4


def test_a_batch_whose_mean_answer_is_slow_posts_the_rest_concurrently(
    identity, receiver, settings, monkeypatch
):
    settings.WEBHOOK_BATCH_CONCURRENCY = 3
    settings.WEBHOOK_SEQUENTIAL_BUDGET_MS = 60_000
    settings.WEBHOOK_SLOW_ANSWER_MS = 500
    sub, _ = subscribe(identity, receiver.url)
    due(sub, 6)
    names = threads_posting(monkeypatch)
    # The clock moves a second per reading: every answer takes a second. The mean is
    # judged from the fifth answer on, so one slow answer alone changes nothing.
    ticks = itertools.count()
    monkeypatch.setattr(batches, "_clock", lambda: float(next(ticks)))

    statuses = deliveries_attempt()

    assert list(statuses.values()).count(DeliveryStatus.SUCCEEDED) == 6
    assert names[:5] == [threading.current_thread().name] * 5
    assert names[5].startswith("webhook-post")


def test_a_batch_that_spent_its_budget_posts_the_rest_concurrently(
    identity, receiver, settings, monkeypatch
):
    settings.WEBHOOK_BATCH_CONCURRENCY = 3
    settings.WEBHOOK_SEQUENTIAL_BUDGET_MS = 500
    settings.WEBHOOK_SLOW_ANSWER_MS = 60_000
    sub, _ = subscribe(identity, receiver.url)
    due(sub, 4)
    names = threads_posting(monkeypatch)
    # The clock moves a second per reading: the first POST spends the whole budget.
    ticks = itertools.count()
    monkeypatch.setattr(batches, "_clock", lambda: float(next(ticks)))
    # The other three are answered only once all three have arrived: in turn they never end.
    arrived = threading.Barrier(3, timeout=5)
    seen = itertools.count()
    receiver.on_request = lambda _: next(seen) and arrived.wait()

    statuses = deliveries_attempt()

    assert list(statuses.values()).count(DeliveryStatus.SUCCEEDED) == 4
    assert names[0] == threading.current_thread().name
    assert all(name.startswith("webhook-post") for name in names[1:])


def test_deliveries_to_one_receiver_reuse_a_kept_alive_connection(identity, receiver, settings):
    settings.WEBHOOK_BATCH_CONCURRENCY = 1
    sub, _ = subscribe(identity, receiver.url)
    due(sub, 3)

    deliveries_attempt()

    assert len({r.client_port for r in receiver.requests}) == 1


def test_host_names_sharing_an_address_never_share_a_connection(identity, receiver, settings):
    settings.WEBHOOK_BATCH_CONCURRENCY = 1
    by_name, _ = subscribe(identity, receiver.url.replace("127.0.0.1", "localhost"))
    by_address, _ = subscribe(identity, receiver.url)
    due(by_name, 2)
    due(by_address, 2)

    deliveries_attempt()

    ports: dict[str, set[int]] = {}
    for request in receiver.requests:
        ports.setdefault(request.headers["Host"].split(":")[0], set()).add(request.client_port)
    assert set(ports) == {"localhost", "127.0.0.1"}
    assert ports["localhost"].isdisjoint(ports["127.0.0.1"])


def test_an_error_in_one_attempt_leaves_that_delivery_claimed_and_records_the_rest(
    identity, receiver, monkeypatch
):
    sub, _ = subscribe(identity, receiver.url)
    broken, *fine = due(sub, 3)
    sign = webhook_delivery.signature_headers

    def signature_headers(**kwargs: Any) -> dict[str, str]:
        if kwargs["request_id"] == request_id_for(broken):
            raise RuntimeError("signing failed")
        return sign(**kwargs)

    monkeypatch.setattr(webhook_delivery, "signature_headers", signature_headers)

    with pytest.raises(RuntimeError):
        deliveries_attempt()

    broken.refresh_from_db()
    assert broken.status == DeliveryStatus.PENDING and broken.claimed_at is not None
    for row in fine:
        row.refresh_from_db()
        assert row.status == DeliveryStatus.SUCCEEDED and row.claimed_at is None


def test_a_worker_lost_between_claim_and_record_leaves_rows_the_sweep_hands_back(
    identity, receiver, monkeypatch
):
    sub, _ = subscribe(identity, receiver.url)
    rows = due(sub, 3)

    def crash(deliveries: list[WebhookDelivery], *_: Any, **__: Any) -> list[Any]:
        raise SystemExit("worker killed")

    with monkeypatch.context() as patched:
        patched.setattr(webhook_delivery, "post_batch", crash)
        with pytest.raises(SystemExit):
            deliveries_attempt()

    claimed = WebhookDelivery.objects.filter(claimed_at__isnull=False)
    assert claimed.count() == 3
    start = timezone.now()
    with time_machine.travel(start + timedelta(seconds=90), tick=True):
        assert delivery_sweep() == 0  # still within the lease
        assert receiver.requests == []
    with time_machine.travel(start + _lease() + timedelta(seconds=61), tick=True):
        assert delivery_sweep() == 3

    for row in rows:
        row.refresh_from_db()
        assert row.status == DeliveryStatus.SUCCEEDED
        assert row.attempt_count == 2
    assert len(receiver.requests) == 3


@pytest.mark.django_db(transaction=True)
def test_racing_jobs_send_every_due_delivery_exactly_once(identity, receiver, settings):
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"] == ":memory:":
        pytest.skip("a private in-memory SQLite database is invisible to other threads")
    settings.WEBHOOK_BATCH_SIZE = 4
    sub, _ = subscribe(identity, receiver.url)
    rows = due(sub, 40)
    start = threading.Barrier(CLAIMERS)

    def job(mine: list[WebhookDelivery]) -> None:
        try:
            start.wait()
            for row in mine:
                delivery_attempt(delivery_id=row.id)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=job, args=(rows[n::CLAIMERS],)) for n in range(CLAIMERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    ids = [json.loads(r.body)["id"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 40
    assert set(WebhookDelivery.objects.values_list("attempt_count", "status")) == {
        (1, DeliveryStatus.SUCCEEDED)
    }
