from __future__ import annotations

import threading

import pytest
from django.db import connection

from console.models import AgentIdentity
from provisioning.models import PhoneLine
from routing.models import Assignment, AssignmentStatus
from routing.services.router import inbound_route
from tests.routing.conftest import PERSON


@pytest.fixture(autouse=True)
def _needs_a_waiting_database() -> None:
    # Checked at run time: the test database replaces the configured one only then.
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip(
            "shared-cache in-memory SQLite raises 'table is locked' instead of waiting; "
            "file-backed SQLite (make test) and PostgreSQL run these"
        )


def _race(line: PhoneLine, texts: list[str]) -> list[BaseException]:
    barrier = threading.Barrier(len(texts))
    errors: list[BaseException] = []

    def worker(text: str) -> None:
        try:
            barrier.wait()
            inbound_route(line=line, sender=PERSON, text=text)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(t,)) for t in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


@pytest.mark.django_db(transaction=True)
def test_concurrent_connects_from_one_person_create_exactly_one_assignment(
    router: PhoneLine, pool_lines: list[PhoneLine], identity: AgentIdentity
) -> None:
    errors = _race(router, ["connect @nurse-bot"] * 6)

    assert errors == []
    assert (
        Assignment.objects.filter(
            identity=identity, remote_number=PERSON, status=AssignmentStatus.ACTIVE
        ).count()
        == 1
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_connects_to_two_agents_land_on_different_pool_lines(
    router: PhoneLine,
    pool_lines: list[PhoneLine],
    identity: AgentIdentity,
    other_identity: AgentIdentity,
) -> None:
    errors = _race(router, ["connect @nurse-bot", "connect @billing-bot"] * 3)

    assert errors == []
    rows = list(Assignment.objects.filter(remote_number=PERSON, status=AssignmentStatus.ACTIVE))
    assert {a.identity_id for a in rows} == {identity.id, other_identity.id}
    assert len({a.pool_line_id for a in rows}) == 2
