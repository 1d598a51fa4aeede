"""The console's demo seeding: per-install logins and data on every page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.test import RequestFactory

from console.models import AgentIdentity, Organization
from console.ui import demo
from messaging.models import Conversation, Message
from provisioning.models import PhoneLine
from routing.models import Assignment, ContactRule
from tests.routing.factories import PoolLineFactory

pytestmark = pytest.mark.django_db


@dataclass
class Tenancy:
    organization: Organization
    identity: AgentIdentity
    admin_key: str = "unused"


@pytest.fixture(autouse=True)
def _logins_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "_logins_file", lambda: tmp_path / "logins.json")


def _logins(lines: list[str]) -> dict[str, tuple[str, str]]:
    out = {}
    for line in lines:
        label, rest = line.split(": ", 1)
        user, password = rest.split(" ")
        out[label] = (user, password)
    return out


def test_seeding_prints_working_operator_and_auditor_logins(identity: AgentIdentity) -> None:
    PoolLineFactory()
    logins = _logins(demo.seed_demo(Tenancy(identity.organization, identity)))
    assert set(logins) == {"Operator login", "Auditor login"}
    for user, password in logins.values():
        request = RequestFactory().post("/console/login/")
        assert authenticate(request, username=user, password=password) is not None


def test_passwords_are_random_per_install_and_stable_across_runs(
    identity: AgentIdentity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    PoolLineFactory()
    tenancy = Tenancy(identity.organization, identity)
    first = demo.seed_demo(tenancy)
    assert demo.seed_demo(tenancy) == first
    monkeypatch.setattr(demo, "_logins_file", lambda: tmp_path / "another-install.json")
    assert demo.seed_demo(tenancy) != first


def test_seeding_creates_something_for_every_page(identity: AgentIdentity) -> None:
    PoolLineFactory()
    demo.seed_demo(Tenancy(identity.organization, identity))
    demo.seed_demo(Tenancy(identity.organization, identity))
    assert (
        PhoneLine.objects.filter(setup__organization=identity.organization, state="pending").count()
        == 1
    )
    assert ContactRule.objects.filter(identity=identity).count() == 2
    assert Assignment.objects.filter(identity=identity, status="active").count() == 1
    connected = Conversation.objects.get(identity=identity, remote_number=demo.CONNECTED_PERSON)
    assert connected.assignment is not None
    assert Message.objects.filter(identity=identity, is_blocked=True).count() == 1


def test_without_a_pool_line_the_conversation_is_still_seeded(
    identity: AgentIdentity, monkeypatch: Any
) -> None:
    monkeypatch.setattr(demo, "POOL_LINE_WAIT_SECONDS", 0)
    demo.seed_demo(Tenancy(identity.organization, identity))
    assert Conversation.objects.filter(remote_number=demo.CONNECTED_PERSON).exists()
    assert not Assignment.objects.exists()
