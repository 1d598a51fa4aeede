"""End to end: our adapter → the simulator (in-process, over httpx) → webhooks → our intake.

The simulator runs behind `httpx.WSGITransport` and posts its webhooks into Django's
WSGI handler through another one, so every hop is real HTTP handling without sockets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from provisioning import dispatch
from provisioning.models import LineState, PhoneLine, ProviderEvent, Setup, SetupStatus
from provisioning.providers.base import (
    AccountCredentials,
    InboundMessage,
    SendResult,
    StatusUpdate,
)
from provisioning.providers.sendblue.adapter import SendblueAdapter
from provisioning.services.credentials import setup_credentials, setup_webhook_secret
from provisioning.services.lines import setup_reconcile
from provisioning.simulator.app import Simulator

pytestmark = pytest.mark.django_db

AGENCY = AccountCredentials(key_id="sim-agency", secret="sim-agency-secret")


class InTestWSGIHandler(WSGIHandler):
    """Django's WSGI handler minus the connection clean-up of each request: the test owns
    the database connection (one transaction), as Django's own test client arranges."""

    def __call__(self, environ: Any, start_response: Any) -> list[bytes]:
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            response = super().__call__(environ, start_response)
            body = b"".join(response)
            response.close()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
        return [body]


class Harness:
    def __init__(self, simulator: Simulator, adapter: SendblueAdapter) -> None:
        self.simulator = simulator
        self.adapter = adapter
        self.sim_http = httpx.Client(
            transport=httpx.WSGITransport(app=simulator), base_url="http://sim.test"
        )

    def control(self, method: str, path: str, body: Any = None, **params: str) -> httpx.Response:
        return self.sim_http.request(method, path, json=body, params=params or None)

    def flush(self) -> None:
        self.simulator.run_due(everything=True)


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    django_http = httpx.Client(transport=httpx.WSGITransport(app=InTestWSGIHandler()))
    simulator = Simulator(
        agency_key_id=AGENCY.key_id,
        agency_secret=AGENCY.secret,
        public_url="http://sim.test",
        deliver_client=django_http,
        status_delay=0,
    )
    adapter = SendblueAdapter(
        base_url="http://sim.test",
        agency=AGENCY,
        transport=httpx.WSGITransport(app=simulator),
        sleep=lambda seconds: None,
    )
    monkeypatch.setattr("provisioning.providers.get_adapter", lambda: adapter)
    yield Harness(simulator, adapter)


@pytest.fixture
def recorded() -> Iterator[list[Any]]:
    events: list[Any] = []

    def handler(*, setup: Any, event: Any, record: Any) -> None:
        events.append(event)

    dispatch.register(InboundMessage, handler)
    dispatch.register(StatusUpdate, handler)
    yield events
    dispatch.unregister(InboundMessage, handler)
    dispatch.unregister(StatusUpdate, handler)


def send_with_callback(harness: Harness, setup: Setup) -> SendResult:
    """Send "see you at 3" from the setup's line with a status callback; run the jobs."""
    from provisioning.services.credentials import webhook_url

    result = harness.adapter.send_message(
        credentials=setup_credentials(setup),
        from_number=setup.lines.get().number,
        to_number="+14155550199",
        content="see you at 3",
        media_url=None,
        send_style=None,
        # The setup-wide callback URL (no message ref): deduped against `outbound`.
        status_callback=webhook_url(setup, "status_callback"),
    )
    harness.flush()
    return result


def create_setup(admin_client: Any) -> Setup:
    response = admin_client.post(
        "/api/v1/imessage/setups",
        data=json.dumps({"business_name": "Acme Health", "label": "Main"}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return Setup.objects.get(id=response.json()["id"])


def test_pending_line_is_assigned_when_the_simulator_delivers_line_assigned(
    admin_client: Any, harness: Harness
) -> None:
    setup = create_setup(admin_client)
    line = setup.lines.get()
    assert setup.status == SetupStatus.PENDING
    assert line.state == LineState.PENDING

    assigned = harness.control("POST", f"/control/lines/{line.provider_request_id}/assign")
    harness.flush()

    assert assigned.status_code == 200
    number = assigned.json()["data"]["phoneNumber"]
    line.refresh_from_db()
    setup.refresh_from_db()
    assert line.state == LineState.ASSIGNED
    assert line.number == number
    assert setup.status == SetupStatus.ACTIVE
    assert [d["status"] for d in harness.simulator.deliveries] == [200]
    assert ProviderEvent.objects.get().event_type == "line_assigned"


def test_simulator_assigning_immediately_gives_an_active_setup(
    admin_client: Any, harness: Harness
) -> None:
    harness.simulator.assign_immediately = True

    setup = create_setup(admin_client)

    assert setup.status == SetupStatus.ACTIVE
    assert setup.lines.get().number.startswith("+1415555")


def test_a_person_texting_a_line_reaches_our_intake_as_an_inbound_message(
    admin_client: Any, harness: Harness, recorded: list[Any]
) -> None:
    harness.simulator.assign_immediately = True
    setup = create_setup(admin_client)
    line_number = setup.lines.get().number

    sent = harness.control(
        "POST",
        "/phone/messages",
        {"from_number": "+14155550199", "to_number": line_number, "content": "hello"},
    )
    harness.flush()

    assert sent.status_code == 202
    (event,) = recorded
    assert isinstance(event, InboundMessage)
    assert event.from_number == "+14155550199"
    assert event.to_number == line_number
    assert event.provider_handle == sent.json()["message_handle"]


def test_a_send_reaches_the_handset_and_status_callbacks_reach_our_intake(
    admin_client: Any, harness: Harness, recorded: list[Any]
) -> None:
    harness.simulator.assign_immediately = True
    setup = create_setup(admin_client)
    result = send_with_callback(harness, setup)

    assert result.status == "queued"
    statuses = [e.status for e in recorded if isinstance(e, StatusUpdate)]
    assert statuses == ["sent", "delivered"]
    # The callback and the `outbound` webhook both carry each status; the key dedupes.
    assert ProviderEvent.objects.filter(event_type="outbound").count() == 2
    inbox = harness.control("GET", "/phone/messages", number="+14155550199").json()
    assert [m["message_handle"] for m in inbox] == [result.provider_handle]
    assert inbox[0]["service"] == "iMessage"


@pytest.mark.parametrize(("control", "service"), [("sms-only", "sms"), ("rcs-only", "rcs")])
def test_numbers_without_imessage_are_downgraded(
    admin_client: Any, harness: Harness, recorded: list[Any], control: str, service: str
) -> None:
    harness.simulator.assign_immediately = True
    setup = create_setup(admin_client)
    harness.control("POST", f"/control/{control}", {"number": "+14155550188"})

    harness.adapter.send_message(
        credentials=setup_credentials(setup),
        from_number=setup.lines.get().number,
        to_number="+14155550188",
        content="hi",
        media_url=None,
        send_style=None,
        status_callback=None,
    )
    harness.flush()

    delivered = [e for e in recorded if isinstance(e, StatusUpdate) and e.status == "delivered"]
    assert delivered[0].service == service
    assert delivered[0].was_downgraded is True


def test_blocking_a_line_in_the_simulator_marks_it_blocked(
    admin_client: Any, harness: Harness
) -> None:
    harness.simulator.assign_immediately = True
    setup = create_setup(admin_client)
    line = setup.lines.get()

    harness.control("POST", f"/control/lines/{line.number}/block", {"reason": "carrier"})
    harness.flush()

    line.refresh_from_db()
    assert line.blocked_at is not None


def test_a_missed_line_assigned_is_caught_up_by_reconciliation(
    admin_client: Any, harness: Harness
) -> None:
    setup = create_setup(admin_client)
    line = setup.lines.get()
    harness.simulator.deliver_client = httpx.Client(
        transport=httpx.MockTransport(lambda request: httpx.Response(503))
    )
    harness.control("POST", f"/control/lines/{line.provider_request_id}/assign")
    harness.simulator.run_due()
    line.refresh_from_db()
    assert line.state == LineState.PENDING

    assert setup_reconcile(setup=setup) == 1

    line.refresh_from_db()
    assert line.state == LineState.ASSIGNED


def test_deliveries_with_a_wrong_secret_are_rejected_and_retried_later(
    admin_client: Any, harness: Harness
) -> None:
    setup = create_setup(admin_client)
    line = setup.lines.get()
    account = harness.simulator.accounts[setup_credentials(setup).key_id]
    for hooks in account.webhooks.values():
        for hook in hooks:
            hook["secret"] = "not-the-secret"

    harness.control("POST", f"/control/lines/{line.provider_request_id}/assign")
    harness.simulator.run_due()

    assert harness.simulator.deliveries[0]["status"] == 401
    assert harness.simulator.pending_jobs() == 1  # the retry
    line.refresh_from_db()
    assert line.state == LineState.PENDING
    assert setup_webhook_secret(setup) != "not-the-secret"


def test_simulator_rejects_wrong_credentials_with_401(harness: Harness) -> None:
    response = harness.sim_http.get(
        "/api/v2/lines/state", headers={"sb-api-key-id": "x", "sb-api-secret-key": "y"}
    )

    assert response.status_code == 401
    assert response.json() == {"status": "ERROR", "message": "Invalid API credentials"}


def test_simulator_phone_rejects_numbers_that_are_not_e164(harness: Harness) -> None:
    response = harness.control(
        "POST", "/phone/messages", {"from_number": "555-0199", "to_number": "+1", "content": "x"}
    )

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"from_number", "to_number"}


def test_simulator_phone_to_an_unknown_line_is_404(harness: Harness) -> None:
    response = harness.control(
        "POST",
        "/phone/messages",
        {"from_number": "+14155550199", "to_number": "+14155550177", "content": "x"},
    )

    assert response.status_code == 404


def test_a_second_line_added_through_the_api_is_assigned_by_the_simulators_line_assigned(
    admin_client: Any, harness: Harness
) -> None:
    harness.simulator.assign_immediately = True
    setup = create_setup(admin_client)
    harness.simulator.assign_immediately = False

    added = admin_client.post(f"/api/v1/imessage/setups/{setup.id}/lines", {}, format="json").json()
    assert added["state"] == "pending"
    assigned = harness.control("POST", f"/control/lines/{added['provider_request_id']}/assign")
    harness.flush()

    line = PhoneLine.objects.get(id=added["id"])
    assert (line.state, line.number) == (LineState.ASSIGNED, assigned.json()["data"]["phoneNumber"])
    detail = admin_client.get(f"/api/v1/imessage/setups/{setup.id}").json()
    assert detail["phone_line_count"] == 2
    state = harness.control("GET", "/control/state").json()
    owned = [entry["number"] for entry in state["lines"]]
    assert sorted(owned) == sorted(line.number for line in setup.lines.all())


def test_a_group_message_from_the_simulator_is_kept_for_audit_only(
    admin_client: Any, harness: Harness, identity: Any
) -> None:
    from messaging.models import Conversation, Message

    harness.simulator.assign_immediately = True
    setup = create_setup(admin_client)
    line = setup.lines.get()
    PhoneLine.objects.filter(pk=line.pk).update(identity=identity)

    sent = harness.control(
        "POST",
        "/phone/messages",
        {
            "from_number": "+14155550199",
            "to_number": line.number,
            "participants": ["+14155550177", "+14155550166"],
            "content": "who is bringing dessert?",
        },
    )
    harness.flush()

    assert sent.status_code == 202
    message = Message.objects.get()
    assert message.is_group is True
    assert message.participants == ["+14155550199", "+14155550177", "+14155550166", line.number]
    assert not Conversation.objects.filter(is_group=False).exists()


@pytest.mark.parametrize("participants", [[], ["not a number"], "+14155550177"])
def test_the_simulator_refuses_a_group_without_valid_other_members(
    admin_client: Any, harness: Harness, participants: Any
) -> None:
    harness.simulator.assign_immediately = True
    line_number = create_setup(admin_client).lines.get().number

    response = harness.control(
        "POST",
        "/phone/messages",
        {
            "from_number": "+14155550199",
            "to_number": line_number,
            "participants": participants,
            "content": "hi",
        },
    )

    assert response.status_code == 400
    assert "participants" in response.json()["fields"]


def test_the_handset_reading_a_message_posts_a_read_status(
    admin_client: Any, harness: Harness, recorded: list[Any]
) -> None:
    harness.simulator.assign_immediately = True
    setup = create_setup(admin_client)
    result = send_with_callback(harness, setup)

    read = harness.control("POST", f"/phone/messages/{result.provider_handle}/read")
    harness.flush()

    assert read.status_code == 200
    updates = [e for e in recorded if isinstance(e, StatusUpdate)]
    assert [(u.status, u.read) for u in updates] == [
        ("sent", False),
        ("delivered", False),
        ("delivered", True),
    ]
    looked_up = harness.adapter.message_status(
        credentials=setup_credentials(setup), provider_handle=result.provider_handle
    )
    assert looked_up is not None and looked_up.read is True


def test_the_handset_cannot_read_a_message_it_never_got(harness: Harness) -> None:
    assert harness.control("POST", "/phone/messages/NO-SUCH-HANDLE/read").status_code == 404


def test_the_handset_typing_posts_a_typing_indicator(admin_client: Any, harness: Harness) -> None:
    from provisioning.providers.base import TypingEvent

    seen: list[Any] = []

    def handler(*, setup: Any, event: Any, record: Any) -> None:
        seen.append(event)

    dispatch.register(TypingEvent, handler)
    try:
        harness.simulator.assign_immediately = True
        line_number = create_setup(admin_client).lines.get().number

        started = harness.control(
            "POST",
            "/phone/typing",
            {"from_number": "+14155550199", "to_number": line_number, "is_typing": True},
        )
        harness.control(
            "POST",
            "/phone/typing",
            {"from_number": "+14155550199", "to_number": line_number, "is_typing": False},
        )
        harness.flush()
    finally:
        dispatch.unregister(TypingEvent, handler)

    assert started.status_code == 202
    assert [(e.contact_number, e.line_number, e.is_typing) for e in seen] == [
        ("+14155550199", line_number, True),
        ("+14155550199", line_number, False),
    ]


def _send_media(harness: Harness, setup: Setup, media_url: str) -> Any:
    return harness.adapter.send_message(
        credentials=setup_credentials(setup),
        from_number=setup.lines.get().number,
        to_number="+14155550199",
        content=None,
        media_url=media_url,
        send_style=None,
        status_callback=None,
    )


def test_our_signed_media_url_is_accepted_and_fetchable_by_the_provider(
    admin_client: Any, harness: Harness, client: Any
) -> None:
    from django.conf import settings

    from messaging import media

    harness.simulator.assign_immediately = True
    setup = create_setup(admin_client)
    url = media.media_bytes_publish(
        organization_id=setup.organization_id,
        filename="ignored.bin",
        content_type="image/png",
        body=b"\x89PNG\r\n\x1a\n tooth",
    )

    result = _send_media(harness, setup, url)
    harness.flush()

    assert result.provider_handle
    inbox = harness.control("GET", "/phone/messages", number="+14155550199").json()
    assert inbox[0]["media_url"] == url and url.endswith(".png") and "?" not in url
    fetched = client.get(url.removeprefix(settings.PUBLIC_BASE_URL))
    assert fetched.status_code == 200
    assert b"".join(fetched.streaming_content) == b"\x89PNG\r\n\x1a\n tooth"


@pytest.mark.parametrize(
    "media_url",
    [
        "https://files.example.test/photo.jpg?X-Amz-Signature=abc",
        "https://files.example.test/photo",
        "https://files.example.test/photo.jpg#frag",
    ],
)
def test_the_simulator_and_the_fake_refuse_what_the_provider_documents_as_invalid_media(
    admin_client: Any, harness: Harness, fake_provider: Any, media_url: str
) -> None:
    from provisioning.providers.base import ProviderError

    harness.simulator.assign_immediately = True
    setup = create_setup(admin_client)

    with pytest.raises(ProviderError) as simulator_refusal:
        _send_media(harness, setup, media_url)
    fake_provider.adopt(setup_credentials(setup), numbers=["+14155550100"])
    with pytest.raises(ProviderError) as fake_refusal:
        fake_provider.send_message(
            credentials=setup_credentials(setup),
            from_number="+14155550100",
            to_number="+14155550199",
            content=None,
            media_url=media_url,
            send_style=None,
            status_callback=None,
        )

    assert simulator_refusal.value.permanent and simulator_refusal.value.status_code == 400
    assert fake_refusal.value.permanent and fake_refusal.value.status_code == 400
