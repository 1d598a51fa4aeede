"""Concurrent duplicate `line_assigned` deliveries: exactly one line gets the number."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from provisioning.models import LineState, PhoneLine, ProviderEvent
from provisioning.services.lines import line_assign
from tests.provisioning.factories import PhoneLineFactory, SetupFactory, setup_secret

THREADS = 8


def run_concurrently(work: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(THREADS)
    results: list[Any] = [None] * THREADS

    def target(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as exc:  # surfaced by the assertions below
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_deliveries_record_one_event_and_assign_one_line() -> None:
    setup = SetupFactory()
    PhoneLineFactory.create_batch(2, setup=setup, pending=True)
    secret = setup_secret(setup)
    body = json.dumps({"type": "line_assigned", "sendblue_number": "+14155550123"})

    def deliver(_: int) -> int:
        response = Client().post(
            f"/api/v1/provider-webhooks/{setup.id}/line_assigned",
            data=body,
            content_type="application/json",
            HTTP_SB_SIGNING_SECRET=secret,
        )
        return response.status_code

    statuses = run_concurrently(deliver)

    assert statuses == [200] * THREADS
    assert ProviderEvent.objects.count() == 1
    lines = PhoneLine.objects.filter(setup=setup)
    assert lines.filter(state=LineState.ASSIGNED, number="+14155550123").count() == 1
    assert lines.filter(state=LineState.PENDING).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_assignments_of_one_number_with_different_event_keys_assign_one_line() -> None:
    setup = SetupFactory()
    PhoneLineFactory.create_batch(3, setup=setup, pending=True)

    results = run_concurrently(lambda _: line_assign(setup=setup, number="+14155550124"))

    assert not [r for r in results if isinstance(r, Exception)]
    assert len({r.id for r in results}) == 1
    assert PhoneLine.objects.filter(number="+14155550124").count() == 1
    assert PhoneLine.objects.filter(setup=setup, state=LineState.PENDING).count() == 2


@pytest.mark.django_db
def test_assigning_a_number_twice_is_a_no_op() -> None:
    setup = SetupFactory()
    PhoneLineFactory.create_batch(2, setup=setup, pending=True)

    first = line_assign(setup=setup, number="+14155550125")
    second = line_assign(setup=setup, number="+14155550125")

    assert first is not None and second is not None
    assert first.id == second.id
    assert PhoneLine.objects.filter(setup=setup, state=LineState.PENDING).count() == 1


@pytest.mark.django_db
def test_a_number_held_by_another_setup_is_not_taken() -> None:
    PhoneLineFactory(number="+14155550126")
    setup = SetupFactory()
    pending = PhoneLineFactory(setup=setup, pending=True)

    assert line_assign(setup=setup, number="+14155550126") is None

    pending.refresh_from_db()
    assert pending.state == LineState.PENDING


@pytest.mark.django_db
def test_the_line_named_by_the_request_id_is_the_one_assigned() -> None:
    setup = SetupFactory()
    PhoneLineFactory(setup=setup, pending=True, provider_request_id="1")
    target = PhoneLineFactory(setup=setup, pending=True, provider_request_id="2")

    line = line_assign(setup=setup, number="+14155550127", line_request_id="2")

    assert line is not None and line.id == target.id
