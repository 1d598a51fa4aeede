"""Inbound tapbacks: the person's live tapback per part, swapped, removed, emitted."""

from __future__ import annotations

import pytest

from messaging.models import Reaction
from messaging.services import reactions
from provisioning.providers.base import InboundReaction
from tests.messaging.conftest import OTHER_PERSON, PERSON, POOL_NUMBER
from tests.messaging.factories import MessageFactory, ReactionFactory

pytestmark = pytest.mark.django_db


def reaction_event(target, *, reaction="love", emoji=None, removed=False, part=0, sender=PERSON):
    return InboundReaction(
        provider_handle=f"r-{reaction}-{removed}",
        target_provider_handle=target.provider_handle,
        from_number=sender,
        to_number=POOL_NUMBER,
        reaction=reaction,
        custom_emoji=emoji,
        part_index=part,
        removed=removed,
    )


def test_an_inbound_tapback_is_stored_live_and_emitted(conversation, emitted, platform_setup):
    target = MessageFactory(conversation=conversation, direction="outbound")

    reaction = reactions.inbound_reaction_receive(
        setup=platform_setup, event=reaction_event(target)
    )

    assert reaction.direction == "inbound" and reaction.is_live
    assert emitted.types() == ["imessage.reaction_received"]


def test_an_inbound_custom_emoji_is_kept_as_custom(conversation, emitted, platform_setup):
    target = MessageFactory(conversation=conversation, direction="outbound")

    reaction = reactions.inbound_reaction_receive(
        setup=platform_setup, event=reaction_event(target, reaction="custom", emoji="🦷")
    )

    assert (reaction.reaction, reaction.custom_emoji) == ("custom", "🦷")


def test_a_second_inbound_tapback_replaces_the_first(conversation, emitted, platform_setup):
    target = MessageFactory(conversation=conversation, direction="outbound")
    reactions.inbound_reaction_receive(
        setup=platform_setup, event=reaction_event(target, reaction="love")
    )

    reactions.inbound_reaction_receive(
        setup=platform_setup, event=reaction_event(target, reaction="laugh")
    )

    live = Reaction.objects.filter(message=target, is_live=True)
    assert [r.reaction for r in live] == ["laugh"]
    assert emitted.types() == ["imessage.reaction_received", "imessage.reaction_received"]


def test_an_inbound_removal_takes_the_live_tapback_away(conversation, emitted, platform_setup):
    target = MessageFactory(conversation=conversation, direction="outbound")
    ReactionFactory(message=target, direction="inbound", reaction="like")

    reactions.inbound_reaction_receive(
        setup=platform_setup, event=reaction_event(target, reaction="like", removed=True)
    )

    assert not Reaction.objects.filter(message=target, is_live=True).exists()
    assert emitted.types() == []


def test_an_inbound_tapback_leaves_our_own_tapback_alone(conversation, platform_setup):
    target = MessageFactory(conversation=conversation)
    ours = ReactionFactory(message=target, direction="outbound", reaction="love")

    reactions.inbound_reaction_receive(
        setup=platform_setup, event=reaction_event(target, reaction="like")
    )

    ours.refresh_from_db()
    assert ours.is_live


def test_an_inbound_tapback_from_someone_else_is_ignored(conversation, emitted, platform_setup):
    target = MessageFactory(conversation=conversation, direction="outbound")

    assert (
        reactions.inbound_reaction_receive(
            setup=platform_setup, event=reaction_event(target, sender=OTHER_PERSON)
        )
        is None
    )
    assert emitted.types() == []
