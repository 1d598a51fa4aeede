"""`console.db.instances`: instances built without `Model.__init__` answer what Django's
own construction answers."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db.models.signals import post_init
from django.utils import timezone

from console.db.instances import loaded, unsaved, unsaved_related_refuse
from console.models import AgentIdentity, Organization
from messaging.models import Conversation, Message
from messaging.webhooks.models import WebhookDelivery


def _stored(model: type[Any], **values: Any) -> Any:
    obj = model(**values)
    obj._state.adding = False
    obj._state.db = "default"
    return obj


@pytest.fixture
def identity() -> AgentIdentity:
    organization = _stored(Organization, id=uuid.uuid4(), name="Clinic")
    return _stored(AgentIdentity, id=uuid.uuid4(), organization=organization, handle="a")


def _message_values(identity: AgentIdentity) -> dict[str, Any]:
    conversation = _stored(
        Conversation, id=uuid.uuid4(), identity=identity, organization=identity.organization
    )
    return {
        "id": uuid.UUID(int=7),
        "organization_id": identity.organization_id,
        "identity": identity,
        "conversation": conversation,
        "assignment": None,
        "direction": "inbound",
        "remote_number": "+12125550100",
        "content": "Can I come in at 3?",
        "created_at": timezone.now(),
    }


def _columns(obj: Any) -> dict[str, Any]:
    return {name: value for name, value in obj.__dict__.items() if name != "_state"}


def test_unsaved_sets_every_column_as_the_constructor_does(identity: AgentIdentity) -> None:
    values = _message_values(identity)

    ours, django = unsaved(Message, **values), Message(**values)

    assert _columns(ours) == _columns(django)
    assert ours.media == [] and ours.media is not django.media  # a fresh default each
    assert ours._state.adding and ours._state.db == django._state.db == "default"


def test_unsaved_caches_the_related_instances_it_was_given(identity: AgentIdentity) -> None:
    values = _message_values(identity)

    message = unsaved(Message, **values)

    assert message.identity is identity
    assert message.conversation is values["conversation"]
    assert message.assignment is None
    assert message.identity_id == identity.id


def test_unsaved_takes_a_key_by_attname(identity: AgentIdentity) -> None:
    delivery = unsaved(WebhookDelivery, organization_id=identity.organization_id, url="x")

    assert delivery.organization_id == identity.organization_id
    assert delivery.status == WebhookDelivery(url="x").status


def test_unsaved_refuses_an_unknown_keyword(identity: AgentIdentity) -> None:
    with pytest.raises(TypeError, match="'colour'"):
        unsaved(Message, colour="blue")


def test_unsaved_takes_the_primary_key_by_pk_as_the_constructor_does() -> None:
    key = uuid.uuid4()

    assert unsaved(Organization, pk=key, name="C").id == key


def test_unsaved_refuses_a_related_instance_of_another_model(identity: AgentIdentity) -> None:
    with pytest.raises(ValueError, match='must be a "Conversation" instance'):
        unsaved(Message, conversation=identity)


def test_unsaved_runs_init_receivers_through_the_constructor(identity: AgentIdentity) -> None:
    seen: list[Any] = []

    def receiver(sender: Any, instance: Any, **kwargs: Any) -> None:
        seen.append(instance)

    post_init.connect(receiver, sender=Message)
    try:
        message = unsaved(Message, **_message_values(identity))
    finally:
        post_init.disconnect(receiver, sender=Message)

    assert seen == [message]


def test_loaded_answers_what_from_db_answers() -> None:
    names = [f.attname for f in Organization._meta.concrete_fields]
    row = [getattr(_stored(Organization, id=uuid.uuid4(), name="C"), n) for n in names]

    ours, django = (
        loaded(Organization, "default", names, row),
        Organization.from_db("default", names, row),
    )

    assert _columns(ours) == _columns(django)
    assert not ours._state.adding and ours._state.db == "default"


def test_loaded_defers_the_columns_a_partial_row_leaves_out() -> None:
    organization = loaded(Organization, "default", ["id"], [uuid.UUID(int=1)])

    assert organization.get_deferred_fields() == {
        f.attname for f in Organization._meta.concrete_fields if f.attname != "id"
    }


def test_related_refuse_rejects_an_unsaved_related_instance(identity: AgentIdentity) -> None:
    message = unsaved(Message, **_message_values(identity))
    unsaved_conversation = Conversation(identity=identity)
    unsaved_conversation.pk = None
    message.conversation = unsaved_conversation

    with pytest.raises(ValueError, match="unsaved related object 'conversation'"):
        unsaved_related_refuse(message, operation="insert")


def test_related_refuse_takes_the_key_a_related_instance_got_later(
    identity: AgentIdentity,
) -> None:
    conversation = Conversation(identity=identity, organization=identity.organization)
    conversation.pk = None
    message = unsaved(Message, **{**_message_values(identity), "conversation": conversation})
    conversation.pk = uuid.uuid4()  # stored since it was assigned

    unsaved_related_refuse(message, operation="insert")

    assert message.conversation_id == conversation.pk
    assert message.conversation is conversation  # still cached: no read to get it back


def test_related_refuse_drops_a_cached_instance_its_key_disagrees_with(
    identity: AgentIdentity,
) -> None:
    message = unsaved(Message, **_message_values(identity))
    message.__dict__["identity_id"] = uuid.uuid4()  # as a raw column write leaves it

    unsaved_related_refuse(message, operation="insert")

    assert not Message.identity.is_cached(message)  # type: ignore[attr-defined]


def test_related_refuse_matches_save_on_the_same_instance(identity: AgentIdentity) -> None:
    values = _message_values(identity)
    ours, django = unsaved(Message, **values), Message(**values)

    unsaved_related_refuse(ours, operation="insert")
    django._prepare_related_fields_for_save(operation_name="insert")  # type: ignore[attr-defined]

    assert _columns(ours) == _columns(django)
    assert ours._state.fields_cache.keys() == django._state.fields_cache.keys()
