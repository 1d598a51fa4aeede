"""The real `inkbox` SDK (0.7.20) against the clinic safety additions: conversations with
`handled_by` still parse, and the new refusal codes arrive as plain `InkboxAPIError`s."""

from __future__ import annotations

import pytest
from inkbox import Inkbox
from inkbox.exceptions import InkboxAPIError, RecipientBlockedError

from messaging.services import handoff
from tests.messaging.conftest import PERSON
from tests.messaging.factories import MessageFactory, OptOutFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sdk(live_server, identity_key) -> Inkbox:
    return Inkbox(api_key=identity_key.raw_key, base_url=live_server.url)


def test_the_sdk_parses_conversations_handled_by_staff(sdk, conversation, identity):
    MessageFactory(conversation=conversation, content="hello")
    handoff.conversation_handoff(conversation=conversation, to="staff", actor=handoff.IDLE_ACTOR)

    [summary] = sdk.imessages.list_conversations(agent_identity_id=identity.id)
    got = sdk.imessages.get_conversation(conversation.id)

    assert summary.id == conversation.id and summary.latest_text == "hello"
    assert got.id == conversation.id and got.remote_number == PERSON


def test_the_sdk_sees_a_handed_off_conversation_as_a_409(sdk, conversation):
    handoff.conversation_handoff(conversation=conversation, to="staff", actor=handoff.IDLE_ACTOR)

    with pytest.raises(InkboxAPIError) as caught:
        sdk.imessages.send(conversation_id=conversation.id, text="Hi")

    assert caught.value.status_code == 409
    assert caught.value.detail["error"] == "conversation_handed_off"


def test_the_sdk_sees_an_opted_out_recipient_as_a_403_that_is_not_a_block(
    sdk, conversation, identity
):
    OptOutFactory(event__identity=identity, event__remote_number=PERSON)

    with pytest.raises(InkboxAPIError) as caught:
        sdk.imessages.send(to=PERSON, text="Hi")

    assert not isinstance(caught.value, RecipientBlockedError)
    assert caught.value.status_code == 403
    assert caught.value.detail["error"] == "recipient_opted_out"
