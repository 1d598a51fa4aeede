"""message_wire() renders reactions without a query when told there are none."""

from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_a_message_marked_without_reactions_renders_without_a_query(
    django_assert_num_queries,
) -> None:
    from messaging.models import Message
    from messaging.wire import mark_without_reactions, message_wire
    from tests.messaging.factories import MessageFactory

    message = Message.objects.get(pk=MessageFactory().pk)
    mark_without_reactions(message)
    with django_assert_num_queries(0):
        assert message_wire(message)["reactions"] == []


@pytest.mark.django_db
def test_an_unmarked_message_still_reads_its_reactions() -> None:
    from messaging.models import Message
    from messaging.wire import message_wire
    from tests.messaging.factories import ReactionFactory

    reaction = ReactionFactory()
    message = Message.objects.get(pk=reaction.message_id)
    assert [r["id"] for r in message_wire(message)["reactions"]] == [str(reaction.id)]
