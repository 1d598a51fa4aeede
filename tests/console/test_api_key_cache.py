"""The per-process API key cache: fast, and never acting on a stale key for a second or more.

"Elsewhere" changes are made with `QuerySet.update()`, which sends no signal: that is what
this process sees of a change another worker made.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console.api import authentication
from console.api.authentication import api_key_for, hash_api_key
from console.api.key_cache import KEYS
from console.identities import identity_archive
from console.models import AgentIdentity, ApiKey, ApiKeyStatus
from console.services import Actor, api_key_create, api_key_revoke
from tests.conftest import keyed_client
from tests.messaging.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

WHOAMI = "/api/whoami"
CONVERSATIONS = "/api/v1/imessage/conversations"
MESSAGES = "/api/v1/imessage/messages"


def _revoke_elsewhere(key: ApiKey) -> None:
    ApiKey.objects.filter(pk=key.pk).update(status=ApiKeyStatus.REVOKED, revoked_at=timezone.now())


def test_a_cached_key_is_authenticated_without_a_query(admin_client, django_assert_num_queries):
    admin_client.get(WHOAMI)

    with django_assert_num_queries(0):
        assert api_key_for(admin_client.issued.raw_key) is not None


def test_a_key_revoked_elsewhere_is_refused_once_a_second_has_passed(admin_client, key_clock):
    assert admin_client.get(WHOAMI).status_code == 200
    _revoke_elsewhere(admin_client.issued.record)

    key_clock.now += 1.0

    assert admin_client.get(WHOAMI).status_code == 401


def test_a_key_revoked_in_this_process_is_refused_at_once(admin_client):
    assert admin_client.get(WHOAMI).status_code == 200

    api_key_revoke(key=admin_client.issued.record, actor=Actor.system())

    assert admin_client.get(WHOAMI).status_code == 401


def test_an_archived_identitys_cached_key_is_refused_at_once(identity_client, identity):
    assert identity_client.get(WHOAMI).status_code == 200

    identity_archive(identity=identity, actor=Actor.system())

    assert identity_client.get(WHOAMI).status_code == 401


def test_a_cached_key_sees_its_identity_disabled_elsewhere_within_a_second(
    identity_key, identity, key_clock
):
    assert api_key_for(identity_key.raw_key).identity.imessage_enabled is True
    AgentIdentity.objects.filter(pk=identity.pk).update(imessage_enabled=False)

    key_clock.now += 1.0

    assert api_key_for(identity_key.raw_key).identity.imessage_enabled is False


def test_a_cached_key_is_refused_the_moment_it_expires(org, time_machine):
    issued = api_key_create(organization=org, label="expiring")
    ApiKey.objects.filter(pk=issued.record.pk).update(
        expires_at=timezone.now() + timedelta(minutes=5)
    )
    client = keyed_client(issued)
    assert client.get(WHOAMI).status_code == 200

    time_machine.move_to(timezone.now() + timedelta(minutes=5, seconds=1))

    assert KEYS.get(hash_api_key(issued.raw_key)) is not None  # still cached: expiry refuses it
    assert client.get(WHOAMI).status_code == 401


def test_a_refused_cached_key_gets_the_same_401_as_an_unknown_one(
    admin_client, anon_client, key_clock
):
    admin_client.get(WHOAMI)
    _revoke_elsewhere(admin_client.issued.record)
    key_clock.now += 1.0
    anon_client.credentials(HTTP_X_API_KEY="bw_this_key_does_not_exist")

    revoked, unknown = admin_client.get(WHOAMI), anon_client.get(WHOAMI)

    assert revoked.status_code == unknown.status_code == 401
    assert revoked.content == unknown.content


def test_unknown_keys_are_not_cached(anon_client):
    anon_client.credentials(HTTP_X_API_KEY="bw_this_key_does_not_exist")
    anon_client.get(WHOAMI)

    assert len(KEYS) == 0


def test_a_cached_key_still_compares_its_hash_in_constant_time(admin_client, monkeypatch):
    admin_client.get(WHOAMI)
    calls = []
    real = authentication.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(authentication.hmac, "compare_digest", spy)
    assert admin_client.get(WHOAMI).status_code == 200
    assert calls == [(admin_client.issued.record.key_hash,) * 2]


def test_a_cached_key_does_not_reach_another_organisations_conversation(
    admin_client, outsider_identity
):
    foreign = ConversationFactory(identity=outsider_identity)
    MessageFactory(conversation=foreign)
    assert admin_client.get(CONVERSATIONS).status_code == 200  # cached now

    assert admin_client.get(f"{CONVERSATIONS}/{foreign.id}").status_code == 404
    assert admin_client.get(f"{MESSAGES}?conversation_id={foreign.id}").json() == []


def test_each_request_gets_its_own_copy_of_the_key(identity_key):
    first = api_key_for(identity_key.raw_key)
    assert first is not None and first.identity is not None
    first.label = "changed by a request"
    first.identity.display_name = "changed by a request"

    again = api_key_for(identity_key.raw_key)

    assert again is not None and again.identity is not None
    assert again.label == "agent"
    assert again.identity.display_name == "Nurse Bot"


def test_the_next_request_neither_reads_nor_writes_a_cached_key(admin_client):
    admin_client.get(WHOAMI)  # reads the key and writes last_used_at

    with CaptureQueriesContext(connection) as queries:
        assert admin_client.get(WHOAMI).status_code == 200

    assert [q["sql"] for q in queries if ApiKey._meta.db_table in q["sql"]] == []
