"""The agent API's clinic safety additions: conversation handoff and the opt-out ledger."""

from __future__ import annotations

import pytest

from messaging.services import handoff
from tests.messaging.conftest import OTHER_PERSON, PERSON
from tests.messaging.factories import ConsentEventFactory, OptOutFactory

pytestmark = pytest.mark.django_db

OPT_OUTS = "/api/v1/imessage/opt-outs"
SEND = "/api/v1/imessage/messages"


def handoff_url(conversation):
    return f"/api/v1/imessage/conversations/{conversation.id}/handoff"


def test_an_admin_key_hands_a_conversation_to_staff(admin_client, conversation, admin_key):
    response = admin_client.post(handoff_url(conversation), {"to": "staff"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(conversation.id)
    assert body["handled_by"] == "staff"
    assert body["handed_off_by"] == f"API key {admin_key.record.label}"
    assert body["handed_off_at"] is not None


def test_an_identity_key_may_not_hand_conversations_over(identity_client, conversation):
    response = identity_client.post(handoff_url(conversation), {"to": "staff"}, format="json")

    assert response.status_code == 403
    conversation.refresh_from_db()
    assert conversation.handled_by == "agent"


def test_another_organisations_conversation_is_not_found(outsider_client, conversation):
    response = outsider_client.post(handoff_url(conversation), {"to": "staff"}, format="json")

    assert response.status_code == 404


def test_handoff_needs_to_be_agent_or_staff(admin_client, conversation):
    response = admin_client.post(handoff_url(conversation), {"to": "nurse"}, format="json")

    assert response.status_code == 400


def test_conversation_reads_say_who_handles_it(identity_client, conversation):
    detail = identity_client.get(f"/api/v1/imessage/conversations/{conversation.id}").json()
    [summary] = identity_client.get("/api/v1/imessage/conversations").json()

    for body in (detail, summary):
        assert (body["handled_by"], body["handed_off_at"], body["handed_off_by"]) == (
            "agent",
            None,
            None,
        )


def test_an_agent_send_while_staff_handle_it_answers_409(identity_client, conversation):
    handoff.conversation_handoff(conversation=conversation, to="staff", actor=handoff.IDLE_ACTOR)

    response = identity_client.post(
        SEND, {"conversation_id": str(conversation.id), "text": "hi"}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["detail"]["error"] == "conversation_handed_off"


def test_an_agent_send_to_an_opted_out_person_answers_403(identity_client, conversation, identity):
    OptOutFactory(event__identity=identity, event__remote_number=PERSON)

    response = identity_client.post(SEND, {"to": PERSON, "text": "hi"}, format="json")

    assert response.status_code == 403
    assert response.json()["detail"]["error"] == "recipient_opted_out"


def test_an_admin_key_lists_the_organisations_ledger_newest_first(
    admin_client, identity, other_identity
):
    first = ConsentEventFactory(identity=identity, remote_number=PERSON)
    second = ConsentEventFactory(identity=other_identity, remote_number=OTHER_PERSON)
    ConsentEventFactory()  # another organisation's

    response = admin_client.get(OPT_OUTS)

    assert response.status_code == 200
    assert [row["id"] for row in response.json()] == [str(second.id), str(first.id)]
    row = response.json()[1]
    assert row["kind"] == "opt_out" and row["source"] == "keyword" and row["keyword"] == "STOP"
    assert row["agent_handle"] == identity.handle and row["remote_number"] == PERSON


def test_an_identity_key_lists_only_its_own_identitys_ledger(
    identity_client, identity, other_identity
):
    own = ConsentEventFactory(identity=identity)
    ConsentEventFactory(identity=other_identity)

    response = identity_client.get(OPT_OUTS)

    assert [row["id"] for row in response.json()] == [str(own.id)]


def test_the_ledger_pages_with_limit_and_offset(admin_client, identity):
    rows = [ConsentEventFactory(identity=identity) for _ in range(3)]

    response = admin_client.get(OPT_OUTS, {"limit": 1, "offset": 1})

    assert [row["id"] for row in response.json()] == [str(rows[1].id)]


def test_the_ledger_filters_by_kind_number_and_current_state(admin_client, identity):
    current = OptOutFactory(event__identity=identity, event__remote_number=PERSON).event
    ConsentEventFactory(identity=identity, remote_number=OTHER_PERSON)  # opted back in since
    opt_in = ConsentEventFactory(identity=identity, remote_number=OTHER_PERSON, kind="opt_in")

    assert [r["id"] for r in admin_client.get(OPT_OUTS, {"current": "true"}).json()] == [
        str(current.id)
    ]
    assert [r["id"] for r in admin_client.get(OPT_OUTS, {"kind": "opt_in"}).json()] == [
        str(opt_in.id)
    ]
    by_number = admin_client.get(OPT_OUTS, {"remote_number": PERSON}).json()
    assert [r["id"] for r in by_number] == [str(current.id)]


def test_an_unknown_kind_filter_answers_400(admin_client):
    assert admin_client.get(OPT_OUTS, {"kind": "maybe"}).status_code == 400


def test_the_catalog_lists_the_new_event_types_as_opt_in(identity_client):
    entries = identity_client.get("/api/v1/webhooks/catalog").json()["event_types"]
    opt_in = {e["event_type"] for e in entries if e["opt_in"]}

    assert {"imessage.handoff", "imessage.opted_out", "imessage.opted_in"} <= opt_in
