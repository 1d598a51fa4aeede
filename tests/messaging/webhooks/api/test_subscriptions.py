from __future__ import annotations

import uuid

import pytest

from console.models import AuditEntry
from messaging.webhooks.models import SigningKey, WebhookSubscription
from tests.messaging.webhooks.factories import SigningKeyFactory, WebhookSubscriptionFactory

URL = "/api/v1/webhooks/subscriptions"
HOOK = "https://hooks.example.com/inbox"


def create_body(identity, **overrides):  # type: ignore[no-untyped-def]
    body = {
        "url": HOOK,
        "event_types": ["imessage.received"],
        "agent_identity_id": str(identity.id),
    }
    body.update(overrides)
    return body


def test_catalog_lists_the_contract_events_then_the_opt_in_ones(identity_client):
    response = identity_client.get("/api/v1/webhooks/catalog")

    assert response.status_code == 200
    assert response.json()["supports_identity_subscriptions"] is True
    assert [(e["event_type"], e["opt_in"]) for e in response.json()["event_types"]] == [
        ("imessage.received", False),
        ("imessage.reaction_received", False),
        ("imessage.sent", False),
        ("imessage.delivered", False),
        ("imessage.delivery_failed", False),
        ("imessage.delivery_unknown", True),
        ("imessage.read", True),
        ("imessage.typing", True),
        ("imessage.connected", True),
        ("imessage.disconnected", True),
        ("imessage.handoff", True),
        ("imessage.opted_out", True),
        ("imessage.opted_in", True),
    ]


def test_a_subscription_may_select_the_opt_in_events(admin_client, identity):
    events = ["imessage.read", "imessage.typing", "imessage.connected", "imessage.disconnected"]

    response = admin_client.post(URL, create_body(identity, event_types=events), format="json")

    assert response.status_code == 201
    assert response.json()["event_types"] == events


def test_create_returns_the_subscription_and_the_first_signing_key(admin_client, identity):
    response = admin_client.post(URL, create_body(identity), format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["signing_key"].startswith("whsec_")
    assert body["url"] == HOOK
    assert body["event_types"] == ["imessage.received"]
    assert body["status"] == "active"
    assert body["agent_identity_id"] == str(identity.id)
    assert body["owner_identity_id"] == str(identity.id)
    assert body["organization_id"] == identity.organization.public_id
    assert body["mailbox_id"] is None and body["phone_number_id"] is None
    assert body["context_config"] is None
    assert body["has_auth_token"] is False
    assert SigningKey.objects.filter(identity=identity).exists()


def test_signing_key_is_returned_only_by_the_create_that_minted_it(admin_client, identity):
    admin_client.post(URL, create_body(identity), format="json")
    second = admin_client.post(URL, create_body(identity, url=HOOK + "/2"), format="json")

    assert second.status_code == 201
    assert second.json()["signing_key"] is None


def test_create_with_an_existing_key_returns_a_null_signing_key(admin_client, identity):
    SigningKeyFactory(identity=identity)

    response = admin_client.post(URL, create_body(identity), format="json")

    assert response.json()["signing_key"] is None


def test_scoped_key_creates_for_its_own_identity(identity_client, identity):
    response = identity_client.post(URL, create_body(identity), format="json")

    assert response.status_code == 201
    assert response.json()["agent_identity_id"] == str(identity.id)


def test_scoped_key_cannot_create_for_another_identity(identity_client, other_identity):
    response = identity_client.post(URL, create_body(other_identity), format="json")

    assert response.status_code == 404


def test_admin_key_cannot_create_for_another_organisations_identity(
    admin_client, outsider_identity
):
    response = admin_client.post(URL, create_body(outsider_identity), format="json")

    assert response.status_code == 404


def test_unknown_event_type_is_400(admin_client, identity):
    response = admin_client.post(
        URL, create_body(identity, event_types=["imessage.exploded"]), format="json"
    )

    assert response.status_code == 400
    assert response.json()["detail"]["error"] == "validation_error"
    assert "imessage.exploded" in response.json()["detail"]["message"]


def test_empty_event_types_is_400(admin_client, identity):
    response = admin_client.post(URL, create_body(identity, event_types=[]), format="json")

    assert response.status_code == 400
    assert "event_types" in response.json()["detail"]["fields"]


def test_duplicate_event_types_is_400(admin_client, identity):
    response = admin_client.post(
        URL,
        create_body(identity, event_types=["imessage.sent", "imessage.sent"]),
        format="json",
    )

    assert response.status_code == 400
    assert "repeat" in response.json()["detail"]["message"]


@pytest.mark.parametrize(
    ("url", "reason_word"),
    [
        ("http://hooks.example.com/in", "https"),
        ("ftp://hooks.example.com/in", "https"),
        ("https://private.example.com/in", "private"),
        ("https://metadata.example.com/latest", "metadata"),
        ("https://169.254.169.254/latest/meta-data", "private"),
        ("https://10.0.0.1/in", "private"),
        ("https://[::1]/in", "loopback"),
        ("https://rebind.example.com/in", "private"),
        ("https://user:pw@hooks.example.com/in", "password"),
        ("https://unresolvable.example.com/in", "resolved"),
        ("not a url", "https"),
    ],
)
def test_unsafe_url_is_400_with_a_reason(admin_client, identity, settings, url, reason_word):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    response = admin_client.post(URL, create_body(identity, url=url), format="json")

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail["error"] == "invalid_url"
    assert reason_word in detail["reason"]
    assert not WebhookSubscription.objects.exists()


def test_loopback_http_is_allowed_only_under_the_development_setting(
    admin_client, identity, settings
):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    refused = admin_client.post(
        URL, create_body(identity, url="http://127.0.0.1:9000/hook"), format="json"
    )
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    allowed = admin_client.post(
        URL, create_body(identity, url="http://localhost:9000/hook"), format="json"
    )

    assert refused.status_code == 400
    assert allowed.status_code == 201


def test_overlapping_event_selection_for_the_same_identity_and_url_is_409(admin_client, identity):
    first = admin_client.post(
        URL,
        create_body(identity, event_types=["imessage.received", "imessage.sent"]),
        format="json",
    )
    response = admin_client.post(
        URL, create_body(identity, event_types=["imessage.sent"]), format="json"
    )

    assert response.status_code == 409
    assert response.json()["detail"]["error"] == "subscription_overlap"
    assert response.json()["detail"]["existing_subscription_id"] == first.json()["id"]
    assert "existing_rule_id" not in response.json()["detail"]


def test_disjoint_event_selection_for_the_same_url_is_allowed(admin_client, identity):
    admin_client.post(URL, create_body(identity, event_types=["imessage.received"]), format="json")
    response = admin_client.post(
        URL, create_body(identity, event_types=["imessage.sent"]), format="json"
    )

    assert response.status_code == 201


def test_admin_create_without_owner_is_400(admin_client, identity):
    response = admin_client.post(
        URL, {"url": HOOK, "event_types": ["imessage.sent"]}, format="json"
    )

    assert response.status_code == 400


def test_mailbox_owner_is_not_supported(admin_client, identity):
    response = admin_client.post(
        URL,
        {"url": HOOK, "event_types": ["imessage.sent"], "mailbox_id": str(uuid.uuid4())},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["detail"]["error"] == "unsupported_owner"


def test_context_config_is_stored_and_echoed_with_null_classes(admin_client, identity):
    response = admin_client.post(
        URL,
        create_body(identity, context_config={"texts": {"mode": "window", "hours": 24}}),
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["context_config"] == {
        "email": None,
        "texts": {"mode": "window", "hours": 24},
        "calls": None,
    }


@pytest.mark.parametrize(
    "config",
    [
        {"texts": {"mode": "count", "count": 0}},
        {"texts": {"mode": "count", "count": 51}},
        {"texts": {"mode": "window", "hours": 169}},
        {"texts": {"mode": "forever"}},
        {"faxes": None},
        "texts",
    ],
)
def test_invalid_context_config_is_400(admin_client, identity, config):
    response = admin_client.post(URL, create_body(identity, context_config=config), format="json")

    assert response.status_code == 400


def test_auth_token_is_stored_encrypted_and_returned_on_reads(admin_client, identity):
    created = admin_client.post(URL, create_body(identity, auth_token="tok-123"), format="json")

    sub = WebhookSubscription.objects.get()
    assert "tok-123" not in sub.auth_token_encrypted
    read = admin_client.get(f"{URL}/{created.json()['id']}")
    assert read.json()["has_auth_token"] is True
    assert read.json()["auth_token"] == "tok-123"


def test_list_is_wrapped_and_scoped_to_the_organisation(
    admin_client, identity, other_identity, outsider_identity
):
    mine = WebhookSubscriptionFactory(identity=identity)
    sibling = WebhookSubscriptionFactory(identity=other_identity)
    WebhookSubscriptionFactory(identity=outsider_identity)
    WebhookSubscriptionFactory(identity=identity, status="deleted")

    response = admin_client.get(URL)

    assert response.status_code == 200
    assert {s["id"] for s in response.json()["subscriptions"]} == {str(mine.id), str(sibling.id)}


def test_scoped_key_lists_only_its_own_identitys_subscriptions(
    identity_client, identity, other_identity
):
    mine = WebhookSubscriptionFactory(identity=identity)
    WebhookSubscriptionFactory(identity=other_identity)

    response = identity_client.get(URL, {"agent_identity_id": str(identity.id)})

    assert [s["id"] for s in response.json()["subscriptions"]] == [str(mine.id)]


def test_list_filters_by_identity_url_and_event_type(admin_client, identity, other_identity):
    wanted = WebhookSubscriptionFactory(
        identity=identity, url=HOOK, event_types=["imessage.sent", "imessage.delivered"]
    )
    WebhookSubscriptionFactory(identity=identity, url=HOOK, event_types=["imessage.received"])
    WebhookSubscriptionFactory(identity=other_identity, url=HOOK, event_types=["imessage.sent"])

    response = admin_client.get(
        URL,
        {"agent_identity_id": str(identity.id), "url": HOOK, "event_type": "imessage.delivered"},
    )

    assert [s["id"] for s in response.json()["subscriptions"]] == [str(wanted.id)]


def test_more_than_one_owner_filter_is_422(admin_client, identity):
    response = admin_client.get(
        URL, {"agent_identity_id": str(identity.id), "phone_number_id": str(uuid.uuid4())}
    )

    assert response.status_code == 422


def test_list_accepts_scope_identity(admin_client, identity):
    WebhookSubscriptionFactory(identity=identity)

    response = admin_client.get(URL, {"scope": "identity"})

    assert len(response.json()["subscriptions"]) == 1


def test_list_query_count_is_constant(admin_client, identity, django_assert_num_queries):
    for n in range(5):
        WebhookSubscriptionFactory(identity=identity, url=f"{HOOK}/{n}")
    admin_client.get(URL)  # warm the key's last_used_at write

    with django_assert_num_queries(1):  # the subscriptions (the key: cached)
        response = admin_client.get(URL)

    assert len(response.json()["subscriptions"]) == 5


def test_get_of_another_identitys_subscription_is_404_for_a_scoped_key(
    identity_client, other_identity
):
    sub = WebhookSubscriptionFactory(identity=other_identity)

    response = identity_client.get(f"{URL}/{sub.id}")

    assert response.status_code == 404


def test_get_of_another_organisations_subscription_is_404(admin_client, outsider_identity):
    sub = WebhookSubscriptionFactory(identity=outsider_identity)

    missing = admin_client.get(f"{URL}/{uuid.uuid4()}")
    foreign = admin_client.get(f"{URL}/{sub.id}")

    assert foreign.status_code == 404
    assert foreign.json() == missing.json()


def test_malformed_id_is_404(admin_client):
    assert admin_client.get(f"{URL}/not-a-uuid").status_code == 404


def test_patch_replaces_event_types_and_keeps_omitted_fields(admin_client, identity):
    sub = WebhookSubscriptionFactory(identity=identity, url=HOOK, context_config={"texts": None})
    response = admin_client.patch(
        f"{URL}/{sub.id}", {"event_types": ["imessage.sent"]}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["event_types"] == ["imessage.sent"]
    assert response.json()["url"] == HOOK


def test_patch_null_clears_auth_token_and_context(admin_client, identity):
    created = admin_client.post(
        URL,
        create_body(
            identity, auth_token="t", context_config={"texts": {"mode": "count", "count": 3}}
        ),
        format="json",
    ).json()

    response = admin_client.patch(
        f"{URL}/{created['id']}?scope=identity",
        {"auth_token": None, "context_config": None},
        format="json",
    )

    assert response.json()["has_auth_token"] is False
    assert response.json()["auth_token"] is None
    assert response.json()["context_config"] is None


def test_patch_validates_url_and_event_types(admin_client, identity):
    sub = WebhookSubscriptionFactory(identity=identity)

    bad_url = admin_client.patch(f"{URL}/{sub.id}", {"url": "http://x.example"}, format="json")
    bad_types = admin_client.patch(f"{URL}/{sub.id}", {"event_types": []}, format="json")

    assert bad_url.status_code == 400
    assert bad_types.status_code == 400


def test_patch_cannot_change_the_owner(admin_client, identity, other_identity):
    sub = WebhookSubscriptionFactory(identity=identity)

    response = admin_client.patch(
        f"{URL}/{sub.id}", {"agent_identity_id": str(other_identity.id)}, format="json"
    )

    assert response.status_code == 400


def test_patch_into_an_overlap_is_409(admin_client, identity):
    WebhookSubscriptionFactory(identity=identity, url=HOOK, event_types=["imessage.sent"])
    sub = WebhookSubscriptionFactory(identity=identity, url=HOOK, event_types=["imessage.received"])

    response = admin_client.patch(
        f"{URL}/{sub.id}", {"event_types": ["imessage.sent"]}, format="json"
    )

    assert response.status_code == 409


def test_patch_of_a_foreign_subscription_is_404(identity_client, other_identity):
    sub = WebhookSubscriptionFactory(identity=other_identity)

    response = identity_client.patch(
        f"{URL}/{sub.id}", {"event_types": ["imessage.sent"]}, format="json"
    )

    assert response.status_code == 404


def test_delete_hides_the_subscription(admin_client, identity):
    sub = WebhookSubscriptionFactory(identity=identity)

    response = admin_client.delete(f"{URL}/{sub.id}")

    assert response.status_code == 204
    assert admin_client.get(f"{URL}/{sub.id}").status_code == 404
    assert admin_client.get(URL).json()["subscriptions"] == []


def test_delete_of_another_organisations_subscription_is_404(admin_client, outsider_identity):
    sub = WebhookSubscriptionFactory(identity=outsider_identity)

    response = admin_client.delete(f"{URL}/{sub.id}")

    assert response.status_code == 404
    sub.refresh_from_db()
    assert sub.status == "active"


def test_admin_key_changes_are_audited(admin_client, identity):
    created = admin_client.post(URL, create_body(identity), format="json").json()
    admin_client.patch(f"{URL}/{created['id']}", {"url": HOOK + "/v2"}, format="json")
    admin_client.delete(f"{URL}/{created['id']}")

    actions = list(
        AuditEntry.objects.filter(organization=identity.organization)
        .order_by("id")
        .values_list("action", "actor_type")
    )
    assert actions == [
        ("webhook_subscription.create", "api_key"),
        ("webhook_subscription.update", "api_key"),
        ("webhook_subscription.delete", "api_key"),
    ]


def test_paths_with_a_trailing_slash_do_not_redirect(admin_client, identity):
    response = admin_client.get(URL + "/")

    assert response.status_code == 200
