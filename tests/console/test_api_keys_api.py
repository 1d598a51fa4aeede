from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

URL = "/api/v1/api-keys"


def test_admin_key_mints_an_identity_scoped_key_shown_once(admin_client, identity):
    response = admin_client.post(
        URL, {"label": "bot", "scoped_identity_id": str(identity.id)}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["record"]["id"].startswith("ApiKey_")
    assert body["record"]["scoped_identity_id"] == str(identity.id)
    assert body["api_key"].endswith(body["record"]["last4"])


def test_admin_key_cannot_mint_an_admin_key(admin_client):
    response = admin_client.post(URL, {"label": "admin two"}, format="json")
    assert response.status_code == 403


def test_identity_key_cannot_mint_keys(identity_client, identity):
    response = identity_client.post(
        URL, {"label": "x", "scoped_identity_id": str(identity.id)}, format="json"
    )
    assert response.status_code == 403


def test_minting_for_another_organisations_identity_is_404(admin_client, outsider_identity):
    response = admin_client.post(
        URL, {"label": "x", "scoped_identity_id": str(outsider_identity.id)}, format="json"
    )
    assert response.status_code == 404


def test_missing_label_is_a_validation_error(admin_client, identity):
    response = admin_client.post(URL, {"scoped_identity_id": str(identity.id)}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"]["error"] == "validation_error"
    assert "label" in response.json()["detail"]["fields"]


def test_malformed_json_is_400(admin_client):
    response = admin_client.generic("POST", URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"]["error"] == "malformed_json"


def test_wrong_content_type_is_415(admin_client):
    response = admin_client.generic("POST", URL, "label=x", content_type="text/plain")
    assert response.status_code == 415
