from __future__ import annotations

from typing import Any

import pytest

from console.models import AgentIdentity, ApiKey, ApiKeyStatus
from tests.conftest import KeyedClient
from tests.console.factories import AgentIdentityFactory
from tests.routing.factories import AssignmentFactory

pytestmark = pytest.mark.django_db


def detail(response: Any) -> dict[str, Any]:
    return response.json()["detail"]


@pytest.mark.parametrize("path", ["/api/v1/identities/", "/api/v1/identities"])
def test_create_answers_201_on_both_slash_forms_with_the_wire_shape(
    admin_client: KeyedClient, org: Any, path: str
) -> None:
    response = admin_client.post(path, {"agent_handle": "@front-desk"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["agent_handle"] == "front-desk"
    assert body["display_name"] == "front-desk"
    assert body["organization_id"] == org.public_id
    assert body["imessage_enabled"] is False
    assert body["contact_sharing_enabled"] is True
    assert body["imessage_filter_mode"] == "blacklist"
    assert body["signing_key_configured"] is False
    assert body["signing_key_created_at"] is None
    assert body["imessage_number"] is None
    assert body["mailbox"] is None and body["tunnel"] is None


@pytest.mark.parametrize("handle", ["ab", "Front-Desk", "front_desk", "a" * 64, "", "@@bot", 7])
def test_create_with_an_invalid_handle_is_400(admin_client: KeyedClient, handle: Any) -> None:
    response = admin_client.post("/api/v1/identities/", {"agent_handle": handle}, format="json")

    assert response.status_code == 400
    assert detail(response)["error"] == "validation_error"


def test_create_with_a_taken_handle_is_409_even_across_organisations(
    admin_client: KeyedClient, outsider_identity: AgentIdentity
) -> None:
    response = admin_client.post(
        "/api/v1/identities/", {"agent_handle": outsider_identity.handle}, format="json"
    )

    assert response.status_code == 409
    assert detail(response)["error"] == "agent_handle_unavailable"
    assert detail(response)["blocking_namespace"] == "identities"


@pytest.mark.parametrize("field", ["mailbox", "tunnel", "phone_number", "vault_secret_ids"])
def test_create_with_an_unsupported_channel_is_400(admin_client: KeyedClient, field: str) -> None:
    response = admin_client.post(
        "/api/v1/identities/", {"agent_handle": "front-desk", field: {}}, format="json"
    )

    assert response.status_code == 400
    assert detail(response)["error"] == "unsupported_feature"
    assert not AgentIdentity.objects.filter(handle="front-desk").exists()


def test_identity_keys_cannot_create_identities(identity_client: KeyedClient) -> None:
    response = identity_client.post(
        "/api/v1/identities/", {"agent_handle": "front-desk"}, format="json"
    )

    assert response.status_code == 403


def test_list_shows_the_organisation_to_admins_in_bounded_queries(
    admin_client: KeyedClient,
    identity: AgentIdentity,
    other_identity: AgentIdentity,
    outsider_identity: AgentIdentity,
    django_assert_max_num_queries: Any,
) -> None:
    for n in range(10):
        AgentIdentityFactory(organization=identity.organization, handle=f"extra-{n}")

    with django_assert_max_num_queries(5):
        response = admin_client.get("/api/v1/identities/")

    handles = [i["agent_handle"] for i in response.json()]
    assert "nurse-bot" in handles and "billing-bot" in handles
    assert outsider_identity.handle not in handles
    assert len(handles) == 12


def test_identity_keys_list_only_their_own_identity(
    identity_client: KeyedClient, identity: AgentIdentity, other_identity: AgentIdentity
) -> None:
    response = identity_client.get("/api/v1/identities")

    assert [i["agent_handle"] for i in response.json()] == ["nurse-bot"]


def test_get_strips_one_leading_at(admin_client: KeyedClient, identity: AgentIdentity) -> None:
    response = admin_client.get("/api/v1/identities/@nurse-bot")

    assert response.status_code == 200
    assert response.json()["id"] == str(identity.id)


@pytest.mark.parametrize("handle", ["no-such-bot", "outsider-bot", "billing-bot"])
def test_unknown_foreign_and_sibling_handles_are_404_for_identity_keys(
    identity_client: KeyedClient,
    outsider_identity: AgentIdentity,
    other_identity: AgentIdentity,
    handle: str,
) -> None:
    assert identity_client.get(f"/api/v1/identities/{handle}").status_code == 404


def test_patch_updates_fields_and_null_display_name_falls_back_to_the_handle(
    identity_client: KeyedClient, identity: AgentIdentity
) -> None:
    response = identity_client.patch(
        "/api/v1/identities/nurse-bot",
        {"display_name": None, "description": "Triage", "imessage_enabled": False},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["display_name"], body["description"], body["imessage_enabled"]) == (
        "nurse-bot",
        "Triage",
        False,
    )


def test_identity_keys_cannot_change_filter_modes(
    identity_client: KeyedClient, identity: AgentIdentity
) -> None:
    response = identity_client.patch(
        "/api/v1/identities/nurse-bot", {"imessage_filter_mode": "whitelist"}, format="json"
    )

    assert response.status_code == 403
    identity.refresh_from_db()
    assert identity.inbound_filter_mode == "blacklist"


def test_shared_filter_mode_sets_both_directions(
    admin_client: KeyedClient, identity: AgentIdentity
) -> None:
    response = admin_client.patch(
        "/api/v1/identities/nurse-bot", {"imessage_filter_mode": "whitelist"}, format="json"
    )

    body = response.json()
    assert body["imessage_filter_mode"] == "whitelist"
    assert body["phone_inbound_filter_mode"] == body["phone_outbound_filter_mode"] == "whitelist"


def test_directional_filter_modes_differ_and_the_shared_value_is_the_baseline(
    admin_client: KeyedClient, identity: AgentIdentity
) -> None:
    response = admin_client.patch(
        "/api/v1/identities/nurse-bot", {"phone_inbound_filter_mode": "whitelist"}, format="json"
    )

    body = response.json()
    assert body["phone_inbound_filter_mode"] == "whitelist"
    assert body["phone_outbound_filter_mode"] == "blacklist"
    assert body["imessage_filter_mode"] == "blacklist"


@pytest.mark.parametrize(
    "payload",
    [
        {"imessage_filter_mode": "whitelist", "phone_filter_mode": "blacklist"},
        {"imessage_filter_mode": "whitelist", "phone_inbound_filter_mode": "whitelist"},
        {"imessage_filter_mode": "greylist"},
    ],
)
def test_inconsistent_filter_mode_updates_are_400(
    admin_client: KeyedClient, identity: AgentIdentity, payload: dict[str, str]
) -> None:
    response = admin_client.patch("/api/v1/identities/nurse-bot", payload, format="json")

    assert response.status_code == 400


def test_patch_with_slack_modes_is_unsupported(
    admin_client: KeyedClient, identity: AgentIdentity
) -> None:
    response = admin_client.patch(
        "/api/v1/identities/nurse-bot", {"slack_filter_mode": "whitelist"}, format="json"
    )

    assert response.status_code == 400
    assert detail(response)["error"] == "unsupported_feature"


def test_delete_revokes_scoped_keys_and_releases_connections(
    admin_client: KeyedClient, identity_client: KeyedClient, identity: AgentIdentity
) -> None:
    assignment = AssignmentFactory(identity=identity)
    key_id = identity_client.issued.record.id
    seen: list[str] = []
    from routing import hooks

    def listener(a: Any) -> None:
        seen.append(a.status)

    hooks.on_assignment_changed(listener)
    try:
        response = admin_client.delete("/api/v1/identities/nurse-bot")
    finally:
        hooks._listeners.remove(listener)

    assert response.status_code == 204
    assert admin_client.get("/api/v1/identities/nurse-bot").status_code == 404
    assert identity_client.get("/api/v1/identities/nurse-bot").status_code == 401
    assert not ApiKey.objects.filter(id=key_id, status=ApiKeyStatus.ACTIVE).exists()
    assert seen == ["released"]
    assert assignment.id


def test_identity_keys_cannot_delete(identity_client: KeyedClient, identity: AgentIdentity) -> None:
    assert identity_client.delete("/api/v1/identities/nurse-bot").status_code == 403


def test_outsiders_cannot_touch_another_organisations_identity(
    outsider_client: KeyedClient, identity: AgentIdentity
) -> None:
    assert outsider_client.get("/api/v1/identities/nurse-bot").status_code == 404
    assert (
        outsider_client.patch(
            "/api/v1/identities/nurse-bot", {"display_name": "x"}, format="json"
        ).status_code
        == 404
    )
    assert outsider_client.delete("/api/v1/identities/nurse-bot").status_code == 404
