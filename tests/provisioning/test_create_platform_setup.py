"""`manage.py create_platform_setup --pool N`: the platform's router and pool lines."""

from __future__ import annotations

from io import StringIO

import httpx
import pytest
from django.core.management import CommandError, call_command

from provisioning.models import LineRole, LineState, PhoneLine, Setup, SetupStatus
from provisioning.platform import PLATFORM_ORG_SLUG
from provisioning.providers.base import AccountCredentials, ProviderError
from provisioning.providers.fake import FakeProvider
from provisioning.providers.sendblue.adapter import SendblueAdapter
from provisioning.simulator.app import Simulator

pytestmark = pytest.mark.django_db

AGENCY = AccountCredentials(key_id="sim-agency", secret="sim-agency-secret")


def run(*args: str) -> str:
    out = StringIO()
    call_command("create_platform_setup", *args, stdout=out)
    return out.getvalue()


def platform_lines() -> list[PhoneLine]:
    return list(
        PhoneLine.objects.filter(setup__organization__slug=PLATFORM_ORG_SLUG).order_by(
            "requested_at"
        )
    )


def roles(lines: list[PhoneLine]) -> list[str]:
    return sorted(line.role for line in lines)


@pytest.fixture
def simulator(monkeypatch: pytest.MonkeyPatch) -> Simulator:
    """The real adapter talking to the simulator in-process (numbers placed at once)."""
    sim = Simulator(
        agency_key_id=AGENCY.key_id,
        agency_secret=AGENCY.secret,
        public_url="http://sim.test",
        deliver_client=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))),
        assign_immediately=True,
        status_delay=0,
    )
    adapter = SendblueAdapter(
        base_url="http://sim.test",
        agency=AGENCY,
        transport=httpx.WSGITransport(app=sim),
        sleep=lambda seconds: None,
    )
    monkeypatch.setattr("provisioning.providers.get_adapter", lambda: adapter)
    return sim


def test_it_creates_a_router_and_the_pool_lines_at_the_simulator(simulator: Simulator) -> None:
    output = run("--pool", "3")
    lines = platform_lines()
    assert roles(lines) == ["pool", "pool", "pool", "router"]
    assert all(line.state == LineState.ASSIGNED for line in lines)
    assert {line.number for line in lines} == set(simulator.lines)
    setup = Setup.objects.get(is_platform=True)
    assert setup.status == SetupStatus.ACTIVE
    assert f"Platform setup {setup.id} created: active" in output
    router = next(line for line in lines if line.role == LineRole.ROUTER)
    assert f"router: {router.number}" in output


def test_running_it_again_adds_nothing(simulator: Simulator) -> None:
    run("--pool", "2")
    before = [line.id for line in platform_lines()]
    output = run("--pool", "2")
    assert [line.id for line in platform_lines()] == before
    assert len(simulator.lines) == 3
    assert " exists: active" in output


def test_a_larger_pool_adds_only_the_missing_lines(simulator: Simulator) -> None:
    run("--pool", "1")
    run("--pool", "3")
    assert roles(platform_lines()) == ["pool", "pool", "pool", "router"]
    assert Setup.objects.filter(is_platform=True).count() == 1


def test_a_smaller_pool_removes_no_line(simulator: Simulator) -> None:
    run("--pool", "3")
    run("--pool", "1")
    assert roles(platform_lines()) == ["pool", "pool", "pool", "router"]


def test_a_line_whose_role_was_changed_counts_under_its_new_role(simulator: Simulator) -> None:
    run("--pool", "2")
    pool = PhoneLine.objects.filter(role=LineRole.POOL).order_by("requested_at").first()
    assert pool is not None
    call_command("set_line_role", pool.number, "dedicated", stdout=StringIO())
    run("--pool", "2")
    assert roles(platform_lines()) == ["dedicated", "pool", "pool", "router"]


def test_lines_the_provider_has_not_placed_are_listed_as_pending(
    fake_provider: FakeProvider,
) -> None:
    fake_provider.assign_immediately = False
    output = run("--pool", "2")
    assert all(line.state == LineState.PENDING for line in platform_lines())
    assert output.count("pending (provider request ") == 3
    assert "Pending lines get their number when the provider places them" in output


def test_a_provider_outage_fails_the_command_and_a_rerun_creates_a_working_setup(
    fake_provider: FakeProvider,
) -> None:
    fake_provider.fail_next.append(ProviderError("upstream down", status_code=503, permanent=False))
    with pytest.raises(CommandError, match="failed: The iMessage provider was unavailable"):
        run("--pool", "1")
    run("--pool", "1")
    assert Setup.objects.filter(is_platform=True, status=SetupStatus.ACTIVE).count() == 1
    assert roles(platform_lines()) == ["pool", "router"]


def test_a_pool_of_zero_is_refused() -> None:
    with pytest.raises(CommandError, match="--pool must be at least 1"):
        run("--pool", "0")
