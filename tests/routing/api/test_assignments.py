from __future__ import annotations

from typing import Any

import pytest

from console.models import AgentIdentity
from provisioning.models import PhoneLine
from routing.models import Assignment
from tests.conftest import KeyedClient
from tests.routing.factories import AssignmentFactory, PoolLineFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/imessage/assignments"


def test_list_shows_active_connections_newest_first_without_the_pool_line(
    admin_client: KeyedClient,
    identity: AgentIdentity,
    other_identity: AgentIdentity,
    outsider_identity: AgentIdentity,
    django_assert_max_num_queries: Any,
) -> None:
    older = AssignmentFactory(identity=identity)
    newer = AssignmentFactory(identity=other_identity)
    AssignmentFactory(identity=identity, status="released")
    AssignmentFactory(identity=outsider_identity)

    with django_assert_max_num_queries(3):
        body = admin_client.get(LIST).json()

    assert [a["id"] for a in body] == [str(newer.id), str(older.id)]
    assert set(body[0]) == {
        "id",
        "remote_number",
        "agent_identity_id",
        "organization_id",
        "status",
        "created_at",
        "updated_at",
        "released_at",
    }
    assert newer.pool_line.number not in str(body)


def test_identity_keys_see_only_their_own_connections_whatever_the_filter(
    identity_client: KeyedClient, identity: AgentIdentity, other_identity: AgentIdentity
) -> None:
    mine = AssignmentFactory(identity=identity)
    AssignmentFactory(identity=other_identity)

    body = identity_client.get(LIST, {"agent_identity_id": str(other_identity.id)}).json()

    assert [a["id"] for a in body] == [str(mine.id)]


def test_admins_narrow_by_identity_and_page(
    admin_client: KeyedClient, identity: AgentIdentity, other_identity: AgentIdentity
) -> None:
    rows = [AssignmentFactory(identity=identity) for _ in range(3)]
    AssignmentFactory(identity=other_identity)

    page = admin_client.get(
        LIST, {"agent_identity_id": str(identity.id), "limit": 2, "offset": 1}
    ).json()

    assert [a["id"] for a in page] == [str(rows[1].id), str(rows[0].id)]


@pytest.mark.parametrize("limit", ["0", "201", "x"])
def test_limit_outside_1_to_200_is_400(admin_client: KeyedClient, limit: str) -> None:
    assert admin_client.get(LIST, {"limit": limit}).status_code == 400


def test_admin_release_marks_the_connection_released(
    admin_client: KeyedClient, identity: AgentIdentity
) -> None:
    assignment = AssignmentFactory(identity=identity)

    response = admin_client.delete(f"{LIST}/{assignment.id}")

    assert response.status_code == 204
    assignment.refresh_from_db()
    assert assignment.status == "released" and assignment.released_at is not None


def test_identity_keys_cannot_release(
    identity_client: KeyedClient, identity: AgentIdentity
) -> None:
    assignment = AssignmentFactory(identity=identity)

    assert identity_client.delete(f"{LIST}/{assignment.id}").status_code == 403
    assert Assignment.objects.get(pk=assignment.pk).status == "active"


def test_unknown_released_and_foreign_assignments_are_404(
    admin_client: KeyedClient, identity: AgentIdentity, outsider_identity: AgentIdentity
) -> None:
    released = AssignmentFactory(identity=identity, status="released")
    foreign = AssignmentFactory(identity=outsider_identity)

    for path in (
        f"{LIST}/{released.id}",
        f"{LIST}/{foreign.id}",
        f"{LIST}/00000000-0000-0000-0000-000000000000",
        f"{LIST}/nope",
    ):
        assert admin_client.delete(path).status_code == 404


def test_triage_number_gives_the_router_and_the_identity_connect_command(
    identity_client: KeyedClient, router: PhoneLine
) -> None:
    response = identity_client.get("/api/v1/imessage/triage-number")

    assert response.json() == {"number": router.number, "connect_command": "connect @nurse-bot"}


def test_triage_number_is_404_without_an_active_router_line(
    identity_client: KeyedClient, router: PhoneLine
) -> None:
    PhoneLine.objects.filter(pk=router.pk).update(is_paused=True)

    assert identity_client.get("/api/v1/imessage/triage-number").status_code == 404


def test_set_line_role_command_turns_a_line_into_the_router(
    identity_client: KeyedClient, platform_setup: Any
) -> None:
    from django.core.management import call_command

    line = PoolLineFactory(setup=platform_setup, number="+14155559999")
    call_command("set_line_role", "+1 415 555 9999", "router")

    assert identity_client.get("/api/v1/imessage/triage-number").json()["number"] == line.number
