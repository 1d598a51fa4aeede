"""Deleting an identity archives it: agents and the router lose it, the record stays, and
its handle stays taken until an operator frees it."""

from __future__ import annotations

import pytest

from console.errors import Conflict
from console.identities import identity_archive, identity_handle_free
from console.models import AgentIdentity, AuditEntry
from console.services import Actor
from messaging.models import Message
from messaging.webhooks.models import SubscriptionStatus, WebhookSubscription
from provisioning.models import PhoneLine
from tests.conftest import KeyedClient
from tests.messaging.factories import MessageFactory
from tests.messaging.webhooks.factories import WebhookSubscriptionFactory
from tests.provisioning.factories import PhoneLineFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system()


def test_delete_answers_204_and_later_reads_answer_404(
    admin_client: KeyedClient, identity: AgentIdentity
) -> None:
    assert admin_client.delete("/api/v1/identities/nurse-bot").status_code == 204

    assert admin_client.get("/api/v1/identities/nurse-bot").status_code == 404
    assert admin_client.delete("/api/v1/identities/nurse-bot").status_code == 404
    listed = admin_client.get("/api/v1/identities/").json()
    assert "nurse-bot" not in {row["agent_handle"] for row in listed}


def test_delete_keeps_the_conversations_and_messages(
    admin_client: KeyedClient, identity: AgentIdentity
) -> None:
    message = MessageFactory(conversation__identity=identity, content="See you at 3pm")

    admin_client.delete("/api/v1/identities/nurse-bot")

    kept = Message.objects.get(pk=message.pk)
    assert kept.content == "See you at 3pm"
    assert kept.conversation.identity_id == identity.id


def test_archiving_stops_webhook_subscriptions_and_detaches_lines(
    identity: AgentIdentity,
) -> None:
    subscription = WebhookSubscriptionFactory(identity=identity)
    line = PhoneLineFactory(setup__organization=identity.organization, identity=identity)

    identity_archive(identity=identity, actor=ACTOR)

    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.DELETED
    assert PhoneLine.objects.get(pk=line.pk).identity_id is None
    assert not WebhookSubscription.objects.filter(
        identity=identity, status=SubscriptionStatus.ACTIVE
    ).exists()


def test_archiving_is_audited_once_even_when_repeated(identity: AgentIdentity) -> None:
    identity_archive(identity=identity, actor=ACTOR)
    identity_archive(identity=identity, actor=ACTOR)

    assert AuditEntry.objects.filter(action="identity.archive").count() == 1
    identity.refresh_from_db()
    assert identity.archived_at is not None


def test_an_archived_identitys_handle_stays_taken_until_freed(
    admin_client: KeyedClient, identity: AgentIdentity
) -> None:
    admin_client.delete("/api/v1/identities/nurse-bot")
    body = {"agent_handle": "nurse-bot"}

    assert admin_client.post("/api/v1/identities/", body, format="json").status_code == 409

    identity_handle_free(identity=identity, actor=ACTOR)
    created = admin_client.post("/api/v1/identities/", body, format="json")

    assert created.status_code == 201
    assert admin_client.get("/api/v1/identities/nurse-bot").json()["id"] != str(identity.id)


def test_a_freed_archived_identity_keeps_its_old_handle_on_record(
    identity: AgentIdentity,
) -> None:
    identity_archive(identity=identity, actor=ACTOR)
    freed = identity_handle_free(identity=identity, actor=ACTOR)

    assert freed.released_handle == "nurse-bot"
    assert freed.handle == f"archived.{identity.id.hex}"
    assert str(freed) == "@nurse-bot (archived)"
    entry = AuditEntry.objects.get(action="identity.handle_free")
    assert entry.before == {"handle": "nurse-bot"}


def test_a_live_identitys_handle_cannot_be_freed(identity: AgentIdentity) -> None:
    with pytest.raises(Conflict):
        identity_handle_free(identity=identity, actor=ACTOR)

    identity.refresh_from_db()
    assert identity.handle == "nurse-bot"
