"""End to end through the provider simulator: a person texts STOP to an identity's line,
gets the confirmation on their handset, the agent's send is refused, START restores it."""

from __future__ import annotations

from typing import Any

import pytest

from console.models import AgentIdentity
from provisioning.models import PhoneLine
from tests.provisioning.simulator.test_end_to_end import Harness, create_setup, harness

__all__ = ["harness"]

pytestmark = pytest.mark.django_db

PERSON = "+14155550199"
SEND = "/api/v1/imessage/messages"


@pytest.fixture(autouse=True)
def _router_replies_use_the_simulator(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    # router_replies binds get_adapter at import; the harness patches the providers module.
    monkeypatch.setattr("routing.services.router_replies.get_adapter", lambda: harness.adapter)


def person_texts(harness: Harness, line: PhoneLine, content: str, capture: Any) -> None:
    with capture(execute=True):
        sent = harness.control(
            "POST",
            "/phone/messages",
            {"from_number": PERSON, "to_number": line.number, "content": content},
        )
        harness.flush()
    harness.flush()  # the confirmation, sent after commit, reaches the handset
    assert sent.status_code == 202


def handset(harness: Harness) -> list[str]:
    return [m["content"] for m in harness.control("GET", "/phone/messages", number=PERSON).json()]


def agent_sends(identity_client: Any, capture: Any) -> Any:
    with capture(execute=True):
        return identity_client.post(
            SEND, {"to": PERSON, "text": "Your results are in"}, format="json"
        )


def test_stop_confirms_blocks_agent_sends_and_start_restores_them(
    admin_client: Any,
    identity_client: Any,
    identity: AgentIdentity,
    harness: Harness,
    django_capture_on_commit_callbacks: Any,
) -> None:
    harness.simulator.assign_immediately = True
    setup = create_setup(admin_client)
    line = setup.lines.get()
    PhoneLine.objects.filter(pk=line.pk).update(identity=identity)
    capture = django_capture_on_commit_callbacks
    person_texts(harness, line, "hello", capture)

    person_texts(harness, line, "Stop", capture)

    assert handset(harness)[-1] == (
        f"You will not get more messages from {identity.display_name}. Reply START to resume."
    )
    refused = agent_sends(identity_client, capture)
    assert refused.status_code == 403
    assert refused.json()["detail"]["error"] == "recipient_opted_out"
    assert "Your results are in" not in handset(harness)

    person_texts(harness, line, "START", capture)

    assert handset(harness)[-1].startswith("You will get messages from")
    assert agent_sends(identity_client, capture).status_code == 201
    with capture(execute=True):
        harness.flush()
    assert "Your results are in" in handset(harness)
