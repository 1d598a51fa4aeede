from __future__ import annotations

from console.models import AuditEntry
from messaging.webhooks.models import SigningKey
from tests.messaging.webhooks.factories import SigningKeyFactory


def test_post_creates_a_key_shown_once(identity_client, identity):
    response = identity_client.post("/api/v1/identities/nurse-bot/signing-key", {}, format="json")

    assert response.status_code == 201
    secret = response.json()["signing_key"]
    assert secret.startswith("whsec_")
    assert response.json()["created_at"]
    record = SigningKey.objects.get(identity=identity)
    assert secret not in record.secret_encrypted
    status = identity_client.get("/api/v1/identities/nurse-bot/signing-key").json()
    assert status["configured"] is True
    assert "signing_key" not in status


def test_post_again_rotates_the_key(admin_client, identity):
    first = admin_client.post("/api/v1/identities/nurse-bot/signing-key").json()
    second = admin_client.post("/api/v1/identities/@nurse-bot/signing-key")

    assert second.status_code == 200
    assert second.json()["signing_key"] != first["signing_key"]
    assert SigningKey.objects.filter(identity=identity).count() == 1
    assert list(AuditEntry.objects.order_by("id").values_list("action", flat=True)) == [
        "signing_key.create",
        "signing_key.rotate",
    ]


def test_status_without_a_key_is_not_configured(admin_client, identity):
    response = admin_client.get("/api/v1/identities/nurse-bot/signing-key")

    assert response.json() == {"configured": False, "created_at": None}


def test_scoped_key_cannot_reach_another_identitys_key(identity_client, other_identity):
    post = identity_client.post("/api/v1/identities/billing-bot/signing-key")
    get = identity_client.get("/api/v1/identities/billing-bot/signing-key")

    assert post.status_code == 404
    assert get.status_code == 404
    assert not SigningKey.objects.exists()


def test_foreign_organisation_identity_is_404(admin_client, outsider_identity):
    response = admin_client.post("/api/v1/identities/outsider-bot/signing-key")

    assert response.status_code == 404


def test_deprecated_route_rotates_the_scoped_keys_identity(identity_client, identity):
    response = identity_client.post("/api/v1/signing-keys", {}, format="json")

    assert response.status_code == 201
    assert SigningKey.objects.filter(identity=identity).exists()
    assert identity_client.get("/api/v1/signing-keys").json()["configured"] is True


def test_deprecated_route_post_with_admin_key_is_409(admin_client, identity):
    response = admin_client.post("/api/v1/signing-keys", {}, format="json")

    assert response.status_code == 409
    assert "/identities/" in response.json()["detail"]["message"]


def test_deprecated_route_get_with_admin_key_is_the_organisation_aggregate(
    admin_client, identity, other_identity, outsider_identity
):
    assert admin_client.get("/api/v1/signing-keys").json()["configured"] is False
    SigningKeyFactory(identity=outsider_identity)
    assert admin_client.get("/api/v1/signing-keys").json()["configured"] is False
    key = SigningKeyFactory(identity=other_identity)

    body = admin_client.get("/api/v1/signing-keys").json()

    assert body["configured"] is True
    assert body["created_at"] is not None
    assert key.created_at is not None
