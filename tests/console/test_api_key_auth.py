from __future__ import annotations

import pytest

from console.services import Actor, api_key_create, api_key_revoke
from tests.conftest import keyed_client

pytestmark = pytest.mark.django_db

WHOAMI = "/api/whoami"


def test_missing_key_is_401(anon_client):
    response = anon_client.get(WHOAMI)
    assert response.status_code == 401


def test_wrong_and_revoked_keys_get_identical_401(anon_client, org):
    issued = api_key_create(organization=org, label="soon revoked")
    api_key_revoke(key=issued.record, actor=Actor.system())
    revoked = keyed_client(issued).get(WHOAMI)
    anon_client.credentials(HTTP_X_API_KEY="bw_this_key_does_not_exist")
    wrong = anon_client.get(WHOAMI)
    missing = type(anon_client)().get(WHOAMI)
    assert revoked.status_code == wrong.status_code == missing.status_code == 401
    assert revoked.content == wrong.content == missing.content


def test_only_the_hash_of_the_key_is_stored(org):
    issued = api_key_create(organization=org, label="hashed")
    issued.record.refresh_from_db()
    assert issued.raw_key not in issued.record.key_hash
    assert len(issued.record.key_hash) == 64


def test_last_used_at_is_recorded(admin_client):
    admin_client.get(WHOAMI)
    admin_client.issued.record.refresh_from_db()
    assert admin_client.issued.record.last_used_at is not None


def test_api_responses_set_no_cookies(admin_client):
    response = admin_client.get(WHOAMI)
    assert not response.cookies
