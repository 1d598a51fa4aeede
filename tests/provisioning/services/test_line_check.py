"""line_check: asking the provider about one pending line now, applied as line_assigned."""

from __future__ import annotations

import pytest

from console.models import AuditEntry
from console.services import Actor
from provisioning.models import LineState, PhoneLine
from provisioning.providers.fake import FakeProvider
from provisioning.services.lines import line_check, setup_line_add
from tests.provisioning.factories import PhoneLineFactory, SetupFactory

pytestmark = pytest.mark.django_db

ACTOR = Actor(type="user", id="1", label="olivia")


@pytest.fixture
def waiting(fake_provider: FakeProvider) -> PhoneLine:
    fake_provider.assign_immediately = False
    return setup_line_add(setup=SetupFactory(), role="dedicated", actor=ACTOR)


def test_a_fulfilled_ticket_assigns_the_line(
    waiting: PhoneLine, fake_provider: FakeProvider
) -> None:
    placed = fake_provider.place_line(waiting.provider_request_id)

    check = line_check(line=waiting, actor=ACTOR)

    assert (check.line.state, check.line.number) == (LineState.ASSIGNED, placed.number)
    assert check.provider_status == "FULFILLED"


def test_a_line_without_a_ticket_is_found_through_the_accounts_lines(
    waiting: PhoneLine, fake_provider: FakeProvider
) -> None:
    placed = fake_provider.place_line(waiting.provider_request_id)
    PhoneLine.objects.filter(pk=waiting.pk).update(provider_request_id="")
    waiting.refresh_from_db()

    check = line_check(line=waiting, actor=ACTOR)

    assert check.line.number == placed.number


def test_an_assigned_line_is_not_asked_about_again(fake_provider: FakeProvider) -> None:
    line = PhoneLineFactory()

    check = line_check(line=line, actor=ACTOR)

    assert check.provider_status == ""
    assert fake_provider.calls_to("get_line_request") == []
    assert AuditEntry.objects.get(action="line.check").after["state"] == "assigned"
