"""The simulator's outage control: its provider API answers 503 for a while, as an
upstream outage would, while the patient's handset and the controls stay up."""

from __future__ import annotations

import httpx
import pytest

from provisioning.providers.base import AccountCredentials, ProviderError
from provisioning.providers.sendblue.adapter import SendblueAdapter
from provisioning.simulator.app import Simulator

AGENCY = AccountCredentials(key_id="sim-agency", secret="sim-agency-secret")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> Simulator:
    return Simulator(
        agency_key_id=AGENCY.key_id,
        agency_secret=AGENCY.secret,
        public_url="http://sim.test",
        deliver_client=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))),
        assign_immediately=True,
        clock=clock,
    )


@pytest.fixture
def control(sim: Simulator) -> httpx.Client:
    return httpx.Client(transport=httpx.WSGITransport(app=sim), base_url="http://sim.test")


@pytest.fixture
def adapter(sim: Simulator) -> SendblueAdapter:
    return SendblueAdapter(
        base_url="http://sim.test",
        agency=AGENCY,
        transport=httpx.WSGITransport(app=sim),
        sleep=lambda seconds: None,
    )


def child(adapter: SendblueAdapter) -> tuple[AccountCredentials, str]:
    account = adapter.create_child_account(
        company_name="Clinic", primary_email="c@example.test", provision_line=True
    )
    assert account.assigned_number is not None
    return account.credentials, account.assigned_number


def send(adapter: SendblueAdapter, credentials: AccountCredentials, line: str) -> str:
    return adapter.send_message(
        credentials=credentials,
        from_number=line,
        to_number="+14155550199",
        content="hello",
        media_url=None,
        send_style=None,
        status_callback=None,
    ).provider_handle


def test_during_an_outage_sends_fail_as_a_transient_503(
    adapter: SendblueAdapter, control: httpx.Client
) -> None:
    credentials, line = child(adapter)
    assert control.post("/control/outage", json={"seconds": 10}).status_code == 200
    with pytest.raises(ProviderError) as raised:
        send(adapter, credentials, line)
    assert raised.value.status_code == 503
    assert not raised.value.permanent


def test_the_provider_api_answers_again_when_the_outage_ends(
    adapter: SendblueAdapter, control: httpx.Client, clock: Clock
) -> None:
    credentials, line = child(adapter)
    control.post("/control/outage", json={"seconds": 10})
    clock.now += 10.5
    assert send(adapter, credentials, line)


def test_the_handset_and_the_controls_stay_up_during_an_outage(
    adapter: SendblueAdapter, control: httpx.Client
) -> None:
    _, line = child(adapter)
    control.post("/control/outage", json={"seconds": 10})
    texted = control.post(
        "/phone/messages",
        json={"from_number": "+14155550199", "to_number": line, "content": "hi"},
    )
    assert texted.status_code == 202
    assert control.get("/control/state").json()["outage_seconds_left"] == 10.0


@pytest.mark.parametrize("seconds", [-1, "10", True, None])
def test_an_outage_needs_a_non_negative_number_of_seconds(
    control: httpx.Client, seconds: object
) -> None:
    assert control.post("/control/outage", json={"seconds": seconds}).status_code == 400
