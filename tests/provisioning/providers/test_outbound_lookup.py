"""The provider's message list (`GET /api/v2/messages`), which finds a send whose answer was
lost: the simulator serves and validates it, the adapter pages through it, the fake agrees
with the simulator; and the adapter says when a failed send may still have reached it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone

from provisioning.providers.base import AccountCredentials, ProviderError
from provisioning.providers.fake import FakeProvider
from provisioning.providers.sendblue import bodies
from provisioning.providers.sendblue.adapter import SendblueAdapter
from provisioning.simulator.app import Simulator

AGENCY = AccountCredentials(key_id="sim-agency", secret="sim-agency-secret")
PERSON = "+14155550199"
OTHER_PERSON = "+14155550188"


class Provider:
    """A simulator with one child account and its line, and our adapter talking to it."""

    def __init__(self) -> None:
        self.simulator = Simulator(
            agency_key_id=AGENCY.key_id,
            agency_secret=AGENCY.secret,
            assign_immediately=True,
            status_delay=0,
        )
        self.transport = httpx.WSGITransport(app=self.simulator)
        self.adapter = SendblueAdapter(
            base_url="http://sim.test", agency=AGENCY, transport=self.transport
        )
        child = self.adapter.create_child_account(
            company_name="Acme", primary_email="ops@acme.test", provision_line=True
        )
        assert child.assigned_number is not None
        self.credentials = child.credentials
        self.line = child.assigned_number

    def send(self, text: str, to: str = PERSON) -> str:
        return self.adapter.send_message(
            credentials=self.credentials,
            from_number=self.line,
            to_number=to,
            content=text,
            media_url=None,
            send_style=None,
            status_callback=None,
        ).provider_handle

    def list(self, **params: str) -> httpx.Response:
        headers = {
            "sb-api-key-id": self.credentials.key_id,
            "sb-api-secret-key": self.credentials.secret,
        }
        with httpx.Client(transport=self.transport, base_url="http://sim.test") as client:
            return client.get("/api/v2/messages", params=params, headers=headers)


@pytest.fixture
def provider() -> Provider:
    return Provider()


def an_hour_ago() -> Any:
    return timezone.now() - timedelta(hours=1)


def test_the_adapter_finds_the_line_s_messages_to_one_person_oldest_first(
    provider: Provider,
) -> None:
    first = provider.send("first")
    provider.send("to someone else", to=OTHER_PERSON)
    second = provider.send("second")

    records = provider.adapter.outbound_messages(
        credentials=provider.credentials,
        from_number=provider.line,
        to_number=PERSON,
        created_after=an_hour_ago(),
    )

    assert [r.update.provider_handle for r in records] == [first, second]
    assert [r.content for r in records] == ["first", "second"]
    assert records[0].update.status == "queued"
    assert records[0].to_number == PERSON


def test_the_adapter_follows_the_pages(provider: Provider, monkeypatch: Any) -> None:
    monkeypatch.setattr(bodies, "LOOKUP_PAGE_SIZE", 2)
    handles = [provider.send(f"n{i}") for i in range(5)]

    records = provider.adapter.outbound_messages(
        credentials=provider.credentials,
        from_number=provider.line,
        to_number=PERSON,
        created_after=an_hour_ago(),
    )

    assert [r.update.provider_handle for r in records] == handles


def test_messages_before_the_window_are_not_listed(provider: Provider) -> None:
    provider.send("old news")

    records = provider.adapter.outbound_messages(
        credentials=provider.credentials,
        from_number=provider.line,
        to_number=PERSON,
        created_after=timezone.now() + timedelta(minutes=1),
    )

    assert records == []


def test_an_account_sees_only_its_own_messages(provider: Provider) -> None:
    provider.send("private")
    other = provider.adapter.create_child_account(
        company_name="Other", primary_email="ops@other.test", provision_line=True
    )

    records = provider.adapter.outbound_messages(
        credentials=other.credentials,
        from_number=provider.line,
        to_number=PERSON,
        created_after=an_hour_ago(),
    )

    assert records == []


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("is_outbound", "yes"),
        ("order_by", "content"),
        ("order_direction", "up"),
        ("status", "LOST"),
        ("created_at_gte", "yesterday"),
        ("limit", "0"),
        ("offset", "-1"),
        ("to_number", "555-0199"),
        ("sendblue_number", "not a number"),
    ],
)
def test_the_simulator_refuses_filters_the_provider_documents_as_invalid(
    provider: Provider, param: str, value: str
) -> None:
    response = provider.list(**{param: value})

    assert response.status_code == 400
    assert response.json()["status"] == "ERROR"
    assert param in response.json()["message"]


def test_the_simulator_pages_with_has_more(provider: Provider) -> None:
    for i in range(3):
        provider.send(f"n{i}")

    first = provider.list(limit="2", order_direction="asc").json()
    rest = provider.list(limit="2", offset="2", order_direction="asc").json()

    assert [m["content"] for m in first["data"]] == ["n0", "n1"]
    assert first["pagination"] == {"hasMore": True, "limit": 2, "offset": 0, "total": 3}
    assert [m["content"] for m in rest["data"]] == ["n2"]
    assert rest["pagination"]["hasMore"] is False


def test_the_fake_refuses_numbers_the_simulator_refuses(provider: Provider) -> None:
    def lookup(adapter: Any) -> Any:
        return adapter.outbound_messages(
            credentials=provider.credentials,
            from_number=provider.line,
            to_number="555-0199",
            created_after=an_hour_ago(),
        )

    with pytest.raises(ProviderError) as at_simulator:
        lookup(provider.adapter)
    fake = FakeProvider()
    fake.adopt(provider.credentials, numbers=[provider.line])
    with pytest.raises(ProviderError) as at_fake:
        lookup(fake)

    assert at_simulator.value.permanent and at_fake.value.permanent
    assert at_simulator.value.status_code == at_fake.value.status_code == 400


# --- When a failed send may still have reached the provider ----------------------------------


def adapter_raising(exc: Exception) -> tuple[SendblueAdapter, list[httpx.Request]]:
    requests: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        raise exc

    adapter = SendblueAdapter(
        base_url="https://provider.test",
        agency=AGENCY,
        max_retries=2,
        transport=httpx.MockTransport(handle),
        sleep=lambda seconds: None,
    )
    return adapter, requests


def send_with(adapter: SendblueAdapter) -> None:
    adapter.send_message(
        credentials=AGENCY,
        from_number="+14155550100",
        to_number=PERSON,
        content="hi",
        media_url=None,
        send_style=None,
        status_callback=None,
    )


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("server disconnected without sending a response"),
        httpx.ReadError("connection reset"),
    ],
)
def test_a_send_that_broke_after_leaving_is_ambiguous_and_not_repeated(exc: Exception) -> None:
    adapter, requests = adapter_raising(exc)

    with pytest.raises(ProviderError) as raised:
        send_with(adapter)

    assert raised.value.ambiguous is True
    assert raised.value.permanent is False
    assert len(requests) == 1


def test_a_send_whose_connection_was_refused_is_retried_and_not_ambiguous() -> None:
    adapter, requests = adapter_raising(httpx.ConnectError("connection refused"))

    with pytest.raises(ProviderError) as raised:
        send_with(adapter)

    assert raised.value.ambiguous is False
    assert len(requests) == 3  # the adapter's own retries: the request never arrived
