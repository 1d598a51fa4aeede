from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_admin_key_whoami_reports_admin_scope_with_epoch_times(admin_client, org):
    body = admin_client.get("/api/whoami").json()
    assert body["auth_type"] == "api_key"
    assert body["auth_subtype"] == "api_key.admin_scoped"
    assert body["scope"] is None
    assert body["organization_id"] == org.public_id
    assert isinstance(body["created_at"], float)


def test_identity_key_whoami_reports_agent_identity_scope(identity_client, identity):
    body = identity_client.get("/api/whoami").json()
    assert body["auth_subtype"] == "api_key.agent_scoped.claimed"
    assert body["scope"] == f"agent_identity:{identity.id}"


def test_whoami_never_redirects_with_a_trailing_slash(admin_client):
    assert admin_client.get("/api/whoami/").status_code == 200
