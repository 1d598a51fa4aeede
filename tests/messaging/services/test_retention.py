"""Retention: content past the window is removed in batches, the trail stays, holds keep
what they cover, and a second run changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from console.errors import ValidationFailed
from console.models import AgentIdentity, AuditEntry, IdempotencyRecord, Organization
from console.services import Actor
from messaging.models import HoldKind, MediaObject, Message, Reaction
from messaging.services.retention import (
    legal_hold_lift,
    legal_hold_place,
    redacted_copy,
    retention_run,
    retention_run_all,
)
from messaging.webhooks.models import WebhookEvent
from tests.messaging.factories import (
    LegalHoldFactory,
    MediaObjectFactory,
    MessageFactory,
    ReactionFactory,
)
from tests.messaging.webhooks.factories import WebhookEventFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system()
OLD = dt.timedelta(days=40)


@pytest.fixture
def thirty_days(org: Organization) -> Organization:
    org.message_retention_days = 30
    org.save()
    return org


def _old_message(identity: AgentIdentity, **fields: Any) -> Message:
    return MessageFactory(
        conversation__identity=identity, created_at=timezone.now() - OLD, **fields
    )


def test_messages_past_the_window_lose_content_and_media_but_keep_their_trail(
    thirty_days: Organization, identity: AgentIdentity
) -> None:
    old = _old_message(
        identity, content="Your biopsy is benign", media=[{"url": "https://x.test/a.jpg"}]
    )

    retention_run(organization=thirty_days)

    old.refresh_from_db()
    assert (old.content, old.media) == (None, [])
    assert old.redacted_at is not None
    assert (old.remote_number, old.direction, old.status) != (None, None, None)


def test_messages_inside_the_window_are_untouched(
    thirty_days: Organization, identity: AgentIdentity
) -> None:
    recent = MessageFactory(conversation__identity=identity, content="See you Tuesday")

    retention_run(organization=thirty_days)

    recent.refresh_from_db()
    assert (recent.content, recent.redacted_at) == ("See you Tuesday", None)


def test_tapback_emoji_of_a_redacted_message_are_removed(
    thirty_days: Organization, identity: AgentIdentity
) -> None:
    reaction = ReactionFactory(message=_old_message(identity), reaction="custom", custom_emoji="🩺")

    retention_run(organization=thirty_days)

    reaction.refresh_from_db()
    assert reaction.custom_emoji is None


def test_work_is_done_in_batches_of_the_given_size(
    thirty_days: Organization, identity: AgentIdentity, django_assert_max_num_queries: Any
) -> None:
    for _ in range(7):
        _old_message(identity)

    run = retention_run(organization=thirty_days, batch_size=3)

    assert run.messages_redacted == 7
    assert not Message.objects.filter(redacted_at__isnull=True).exists()


def test_a_second_run_changes_nothing(thirty_days: Organization, identity: AgentIdentity) -> None:
    message = _old_message(identity)
    retention_run(organization=thirty_days)
    message.refresh_from_db()
    first = message.redacted_at

    again = retention_run(organization=thirty_days)

    message.refresh_from_db()
    assert message.redacted_at == first
    assert (again.messages_redacted, again.copies_redacted, again.media_deleted) == (0, 0, 0)


@pytest.mark.parametrize("kind", ["conversation", "identity", "number"])
def test_a_legal_hold_keeps_the_text_it_covers(
    thirty_days: Organization, identity: AgentIdentity, kind: str
) -> None:
    held = _old_message(identity, content="Keep me")
    other = _old_message(identity, content="Remove me")
    if kind == "identity":
        other = _old_message(
            MessageFactory(conversation__identity__organization=thirty_days).identity,
            content="Remove me",
        )
    target = {
        "conversation": {"conversation": held.conversation},
        "identity": {"identity": identity},
        "number": {"remote_number": held.remote_number},
    }[kind]
    legal_hold_place(organization=thirty_days, actor=ACTOR, reason="Subpoena 42", **target)

    run = retention_run(organization=thirty_days)

    held.refresh_from_db()
    other.refresh_from_db()
    assert held.content == "Keep me"
    assert other.content is None
    assert run.messages_held >= 1


def test_a_lifted_hold_no_longer_protects(
    thirty_days: Organization, identity: AgentIdentity
) -> None:
    message = _old_message(identity, content="Held for a while")
    hold = legal_hold_place(
        organization=thirty_days, actor=ACTOR, reason="Audit", remote_number=message.remote_number
    )
    legal_hold_lift(hold=hold, actor=ACTOR, reason="Audit closed")

    retention_run(organization=thirty_days)

    message.refresh_from_db()
    assert message.content is None
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"legal_hold.place", "legal_hold.lift", "retention.run"} <= actions


def test_a_hold_and_its_lifting_need_a_reason(thirty_days: Organization) -> None:
    with pytest.raises(ValidationFailed):
        legal_hold_place(organization=thirty_days, actor=ACTOR, reason=" ", remote_number="+1202")
    hold = LegalHoldFactory(organization=thirty_days, kind=HoldKind.NUMBER)
    with pytest.raises(ValidationFailed):
        legal_hold_lift(hold=hold, actor=ACTOR, reason="")


def test_stored_media_no_live_message_shows_is_deleted_from_storage(
    thirty_days: Organization, identity: AgentIdentity
) -> None:
    media = MediaObjectFactory(organization=thirty_days)
    MediaObject.objects.filter(pk=media.pk).update(created_at=timezone.now() - OLD)
    _old_message(identity, media=[{"media_object_id": str(media.pk), "content_type": "image/jpeg"}])
    storage, name = media.file.storage, media.file.name

    run = retention_run(organization=thirty_days)

    assert run.media_deleted == 1
    assert not MediaObject.objects.filter(pk=media.pk).exists()
    assert not storage.exists(name)


def test_media_a_held_message_shows_is_kept(
    thirty_days: Organization, identity: AgentIdentity
) -> None:
    media = MediaObjectFactory(organization=thirty_days)
    MediaObject.objects.filter(pk=media.pk).update(created_at=timezone.now() - OLD)
    held = _old_message(
        identity, media=[{"media_object_id": str(media.pk), "content_type": "image/jpeg"}]
    )
    LegalHoldFactory(organization=thirty_days, remote_number=held.remote_number)

    retention_run(organization=thirty_days)

    assert MediaObject.objects.filter(pk=media.pk).exists()


def test_copies_in_webhook_events_and_send_responses_are_redacted(
    thirty_days: Organization, identity: AgentIdentity
) -> None:
    old = timezone.now() - OLD
    event = WebhookEventFactory(
        identity=identity,
        created_at=old,
        payload={
            "data": {"message": {"id": "m1", "content": "Results ready", "media": [{"url": "u"}]}}
        },
    )
    record = IdempotencyRecord.objects.create(
        organization=thirty_days,
        scope="org",
        operation="send",
        key="k1",
        request_fingerprint="f",
        response_body={"message": {"content": "Results ready"}},
    )
    IdempotencyRecord.objects.filter(pk=record.pk).update(created_at=old)

    retention_run(organization=thirty_days)

    event = WebhookEvent.objects.get(pk=event.pk)
    assert event.payload["data"]["message"] == {"id": "m1", "content": None, "media": []}
    record.refresh_from_db()
    assert record.response_body == {"message": {"content": None}, "redacted": True}


def test_the_nightly_job_skips_organisations_that_keep_everything(
    org: Organization, other_org: Organization, identity: AgentIdentity
) -> None:
    message = _old_message(identity)

    assert retention_run_all() == []
    message.refresh_from_db()
    assert message.redacted_at is None


def test_each_run_is_audited_with_its_counts(
    thirty_days: Organization, identity: AgentIdentity
) -> None:
    _old_message(identity)

    retention_run(organization=thirty_days)

    entry = AuditEntry.objects.get(action="retention.run")
    assert entry.after is not None
    assert entry.after["messages_redacted"] == 1
    assert entry.actor_type == "system"


def test_redacted_copy_removes_text_and_media_anywhere_and_marks_it() -> None:
    payload = {"a": [{"content": "x", "media_url": "https://m"}], "status": "DELIVERED"}
    assert redacted_copy(payload) == {
        "a": [{"content": None, "media_url": None}],
        "status": "DELIVERED",
        "redacted": True,
    }


def test_reactions_of_held_messages_keep_their_emoji(
    thirty_days: Organization, identity: AgentIdentity
) -> None:
    held = _old_message(identity)
    reaction = ReactionFactory(message=held, reaction="custom", custom_emoji="🙏")
    LegalHoldFactory(organization=thirty_days, remote_number=held.remote_number)

    retention_run(organization=thirty_days)

    assert Reaction.objects.get(pk=reaction.pk).custom_emoji == "🙏"
