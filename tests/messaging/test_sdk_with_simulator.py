"""The real `inkbox` SDK (0.7.20) and plain HTTP against a live server whose provider is
the simulator on a real port: lines, tapbacks and slow claims end to end."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from inkbox import Inkbox
from inkbox.exceptions import InkboxAPIError
from inkbox.imessage.types import IMessage
from inkbox.signing_keys import verify_webhook

from console.models import AgentIdentity
from console.services import Actor
from messaging.models import Message
from provisioning.services.setups import setup_create
from tests.console.factories import OrganizationFactory
from tests.live_simulator import ServedSimulator, live_simulator, wait_for
from tests.messaging.webhooks.conftest import Receiver, receiver

__all__ = ["live_simulator", "receiver"]

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PERSON = "+12025550177"


@pytest.fixture
def admin_http(live_server: Any, admin_key: Any) -> httpx.Client:
    return httpx.Client(
        base_url=f"{live_server.url}/api/v1", headers={"X-API-Key": admin_key.raw_key}
    )


@pytest.fixture
def sdk(live_server: Any, identity_key: Any) -> Inkbox:
    return Inkbox(api_key=identity_key.raw_key, base_url=live_server.url)


@pytest.fixture
def admin_sdk(live_server: Any, admin_key: Any) -> Inkbox:
    return Inkbox(api_key=admin_key.raw_key, base_url=live_server.url)


def create_setup(admin_http: httpx.Client, label: str = "Front desk") -> dict[str, Any]:
    response = admin_http.post(
        "/imessage/setups", json={"business_name": "Riverside Clinic LLC", "label": label}
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_an_admin_adds_lines_over_http_and_claims_land_on_the_default_setup(
    live_simulator: ServedSimulator, admin_http: httpx.Client, admin_sdk: Inkbox
) -> None:
    default = create_setup(admin_http)
    other = create_setup(admin_http, "Billing")
    assert (default["is_default"], other["is_default"]) == (True, False)
    live_simulator.simulator.assign_immediately = False

    url = f"/imessage/setups/{other['id']}/lines"
    added = admin_http.post(url, json={"role": "dedicated"}, headers={"Idempotency-Key": "l-1"})
    again = admin_http.post(url, json={"role": "dedicated"}, headers={"Idempotency-Key": "l-1"})

    assert added.status_code == 201 and added.json()["state"] == "pending"
    assert again.json()["id"] == added.json()["id"]
    ticket = added.json()["provider_request_id"]
    placed = live_simulator.control("POST", f"/control/lines/{ticket}/assign").json()

    def both_lines_assigned() -> dict[str, Any] | None:
        detail = admin_http.get(f"/imessage/setups/{other['id']}").json()
        states = [line["state"] for line in detail["phone_lines"]]
        return detail if states == ["assigned", "assigned"] else None

    detail = wait_for(both_lines_assigned, what="line_assigned from the simulator")
    assert detail["phone_line_count"] == 2
    assert placed["data"]["phoneNumber"] in [line["number"] for line in detail["phone_lines"]]

    live_simulator.simulator.assign_immediately = True
    claimed = admin_sdk.imessages.claim_number(idempotency_key=str(uuid.uuid4()))
    default_lines = admin_http.get(f"/imessage/setups/{default['id']}").json()["phone_lines"]
    assert claimed.number in [line["number"] for line in default_lines]


def person_texts_a_dedicated_line(
    live_simulator: ServedSimulator,
    admin_http: httpx.Client,
    admin_sdk: Inkbox,
    sdk: Inkbox,
    identity: AgentIdentity,
) -> IMessage:
    """The identity claims a dedicated line and PERSON texts it; returns the inbound row."""
    create_setup(admin_http)
    admin_sdk.identities.update(
        identity.handle, claim_imessage_number=True, idempotency_key=str(uuid.uuid4())
    )
    line = admin_sdk.identities.get(identity.handle).imessage_number
    assert line is not None
    live_simulator.control(
        "POST",
        "/phone/messages",
        {"from_number": PERSON, "to_number": line.number, "content": "Is 3pm free?"},
    )
    return wait_for(lambda: sdk.imessages.list(), what="the inbound message")[0]


def test_tapbacks_through_the_sdk_reach_the_simulator_and_read_back(
    live_simulator: ServedSimulator,
    admin_http: httpx.Client,
    admin_sdk: Inkbox,
    sdk: Inkbox,
    identity: AgentIdentity,
) -> None:
    inbound = person_texts_a_dedicated_line(live_simulator, admin_http, admin_sdk, sdk, identity)

    first = sdk.imessages.send_reaction(message_id=inbound.id, reaction="love")
    second = sdk.imessages.send_reaction(message_id=inbound.id, reaction="like")
    ours = sdk.imessages.send(conversation_id=inbound.conversation_id, text="It is.")
    wait_for(
        lambda: sdk.imessages.get(ours.id).status.value in {"sent", "delivered"},
        what="our message to reach the provider",
    )
    on_ours = sdk.imessages.send_reaction(message_id=ours.id, reaction="emphasize")
    with pytest.raises(InkboxAPIError) as refused:
        sdk.imessages.send_reaction(message_id=inbound.id, reaction="eyes")
    sdk.imessages.remove_reaction(second.id)

    assert refused.value.status_code == 400
    assert refused.value.detail["error"] == "invalid_reaction"
    assert not sdk.imessages.get(inbound.id).reactions
    [kept] = sdk.imessages.get(ours.id).reactions
    assert (kept.id, kept.reaction.value, kept.direction) == (on_ours.id, "emphasize", "outbound")
    assert first.id != second.id
    seen = live_simulator.control("GET", "/control/state").json()["reactions"]
    assert [(r["message_handle"] != "", r["reaction"]) for r in seen] == [
        (True, "love"),
        (True, "like"),
        (True, "emphasize"),
    ]


def test_an_identity_created_with_a_claim_against_a_slow_provider_gets_its_number_later(
    live_simulator: ServedSimulator, admin_http: httpx.Client, admin_sdk: Inkbox
) -> None:
    create_setup(admin_http)
    live_simulator.simulator.assign_immediately = False

    answer = admin_sdk.with_response_metadata(
        lambda client: client.identities.create(
            agent_handle="late-line-bot", imessage_enabled=True, claim_imessage_number=True
        )
    )

    assert answer.data.agent_handle == "late-line-bot"
    assert answer.data.imessage_number is None
    assert [n.code for n in answer.notices or []] == ["dedicated_imessage_number_inventory_pending"]
    tickets = live_simulator.control("GET", "/control/state").json()["tickets"]
    open_ticket = next(t for t in tickets if t["status"] == "OPEN")
    live_simulator.control("POST", f"/control/lines/{open_ticket['id']}/assign")
    number = wait_for(
        lambda: admin_sdk.identities.get("late-line-bot").imessage_number,
        what="the number to reach the identity",
    )
    assert number.number.startswith("+1")


def test_an_rcs_downgrade_reported_by_the_simulator_reads_back_as_rcs(
    live_simulator: ServedSimulator,
    admin_http: httpx.Client,
    admin_sdk: Inkbox,
    sdk: Inkbox,
    identity: AgentIdentity,
) -> None:
    live_simulator.control("POST", "/control/rcs-only", {"number": PERSON})
    inbound = person_texts_a_dedicated_line(live_simulator, admin_http, admin_sdk, sdk, identity)

    sent = sdk.imessages.send(conversation_id=inbound.conversation_id, text="See you at 3")
    delivered = wait_for(
        lambda: (m := sdk.imessages.get(sent.id)).status.value == "delivered" and m,
        what="the delivered status",
    )

    assert inbound.service.value == "rcs"
    assert (delivered.service.value, delivered.was_downgraded) == ("rcs", True)
    [summary] = sdk.imessages.list_conversations()
    assert summary.id == inbound.conversation_id


def _events(receiver: Receiver) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in list(receiver.requests)]


def _event(receiver: Receiver, event_type: str, **match: Any) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        for event in _events(receiver):
            data = event["data"]
            if event["event_type"] == event_type and all(
                data.get(k) == v for k, v in match.items()
            ):
                return event
        return None

    return wait_for(found, what=event_type)


def test_the_persons_connection_read_receipt_and_typing_reach_the_agent(
    live_simulator: ServedSimulator,
    sdk: Inkbox,
    identity: AgentIdentity,
    receiver: Receiver,
) -> None:
    platform = setup_create(
        organization=OrganizationFactory(name="Platform"),
        business_name="Bluewire platform",
        label="Platform",
        actor=Actor.system(),
        is_platform=True,
        line_roles=["router", "pool"],
    )
    router, pool = (line.number for line in platform.lines.order_by("role").reverse())
    opt_in = ["imessage.read", "imessage.typing", "imessage.connected", "imessage.disconnected"]
    created = sdk.webhooks.subscriptions.create(
        url=receiver.url, event_types=opt_in, agent_identity_id=identity.id
    )
    [listed] = sdk.webhooks.subscriptions.list(scope="identity")
    assert listed.id == created.id and listed.event_types == opt_in

    def person_texts(line: str, text: str) -> None:
        live_simulator.control(
            "POST", "/phone/messages", {"from_number": PERSON, "to_number": line, "content": text}
        )

    person_texts(router, f"connect @{identity.handle}")
    connected = _event(receiver, "imessage.connected", remote_number=PERSON)
    conversation_id = connected["data"]["conversation_id"]
    assert verify_webhook(
        payload=receiver.requests[0].body,
        headers=receiver.requests[0].headers,
        secret=created.signing_key,
    )

    person_texts(pool, "hello?")
    wait_for(lambda: sdk.imessages.list(conversation_id=conversation_id), what="the inbound")
    sent = sdk.imessages.send(conversation_id=conversation_id, text="Hi, how can I help?")
    handle = wait_for(
        lambda: (
            Message.objects.filter(pk=sent.id, status="delivered")
            .values_list("provider_handle", flat=True)
            .first()
        ),
        what="the delivered status",
    )
    live_simulator.control("POST", f"/phone/messages/{handle}/read")
    read = _event(receiver, "imessage.read")
    live_simulator.control(
        "POST", "/phone/typing", {"from_number": PERSON, "to_number": pool, "is_typing": True}
    )
    typing = _event(receiver, "imessage.typing", is_typing=True)
    person_texts(pool, "disconnect")
    disconnected = _event(receiver, "imessage.disconnected", reason="person")

    assert read["data"]["message"]["id"] == str(sent.id)
    assert read["data"]["message"]["status"] == "delivered"
    assert read["data"]["message"]["read_at"] is not None
    assert sdk.imessages.get(sent.id).status.value == "delivered"
    assert (typing["data"]["conversation_id"], typing["data"]["remote_number"]) == (
        conversation_id,
        PERSON,
    )
    assert disconnected["data"]["assignment_id"] == connected["data"]["assignment_id"]
    assert {e["event_type"] for e in _events(receiver)} == set(opt_in)
    assert pool not in json.dumps(_events(receiver))
