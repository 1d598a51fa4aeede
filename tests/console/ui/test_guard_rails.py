"""Guard rails: switching to whitelist says whom it cuts off and asks first; a line's role
changes after a confirmation, says so in place, and nonsensical roles are refused."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from console.models import AgentIdentity, AuditEntry, Organization
from provisioning.models import PhoneLine
from routing.models import RuleStatus
from routing.rule_decisions import contact_decision, whitelist_cutoff
from tests.console.ui.conftest import htmx
from tests.provisioning.factories import PhoneLineFactory, SetupFactory
from tests.routing.factories import AssignmentFactory, ContactRuleFactory, PlatformSetupFactory

pytestmark = pytest.mark.django_db


def _connect(identity: AgentIdentity, number: str) -> None:
    AssignmentFactory(identity=identity, remote_number=number)


def _switch(client: Client, identity: AgentIdentity, **extra: str) -> object:
    return client.post(
        reverse("console:filter-mode", args=[identity.handle]),
        {"mode": "whitelist", **extra},
        **htmx(),
    )


# --- Whitelist switch ------------------------------------------------------------------


def test_the_cutoff_counts_connected_people_without_an_allow_rule(identity: AgentIdentity) -> None:
    for number in ("+14155550101", "+14155550102", "+14155550103", "+14155550104"):
        _connect(identity, number)
    ContactRuleFactory(identity=identity, match_target="+14155550101", action="allow")
    # Already refused by a block rule in blacklist mode: whitelist changes nothing for them.
    ContactRuleFactory(identity=identity, match_target="+14155550102", action="block")
    # A paused allow rule does not let anyone through.
    ContactRuleFactory(
        identity=identity, match_target="+14155550103", action="allow", status=RuleStatus.PAUSED
    )

    cutoff = whitelist_cutoff(identity=identity)

    assert (cutoff.cut_off, cutoff.connected) == (2, 4)


def test_an_allow_rule_for_one_direction_still_leaves_the_person_cut_off(
    identity: AgentIdentity,
) -> None:
    _connect(identity, "+14155550101")
    ContactRuleFactory(
        identity=identity, match_target="+14155550101", action="allow", direction="inbound"
    )

    assert whitelist_cutoff(identity=identity).cut_off == 1


def test_the_cutoff_matches_what_routing_decides_after_the_switch(
    identity: AgentIdentity,
) -> None:
    numbers = ["+14155550101", "+14155550102", "+14155550103"]
    for number in numbers:
        _connect(identity, number)
    ContactRuleFactory(identity=identity, match_target=numbers[0], action="allow")
    predicted = whitelist_cutoff(identity=identity).cut_off

    identity.inbound_filter_mode = identity.outbound_filter_mode = "whitelist"
    refused = [
        n
        for n in numbers
        if not all(
            contact_decision(identity=identity, number=n, direction=d).allowed
            for d in ("inbound", "outbound")
        )
    ]

    assert predicted == len(refused) == 2


def test_released_connections_are_not_counted(identity: AgentIdentity) -> None:
    AssignmentFactory(identity=identity, status="released")

    assert whitelist_cutoff(identity=identity).connected == 0


def test_switching_to_whitelist_first_asks_with_the_count_and_changes_nothing(
    operator_client: Client, identity: AgentIdentity
) -> None:
    _connect(identity, "+14155550101")
    _connect(identity, "+14155550102")
    ContactRuleFactory(identity=identity, match_target="+14155550101", action="allow")

    response = _switch(operator_client, identity)

    body = response.content.decode()  # type: ignore[attr-defined]
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert 'data-testid="whitelist-confirm"' in body
    assert "1 of 2 current connections would be cut off" in body
    identity.refresh_from_db()
    assert identity.inbound_filter_mode == "blacklist"
    assert not AuditEntry.objects.filter(action="identity.filter_mode_set").exists()


def test_confirming_the_switch_applies_it_and_says_so_in_place(
    operator_client: Client, identity: AgentIdentity
) -> None:
    response = _switch(operator_client, identity, confirm="1")

    body = response.content.decode()  # type: ignore[attr-defined]
    assert body.lstrip().startswith('<div id="rules-editor"')
    assert "Filter mode is now whitelist." in body
    identity.refresh_from_db()
    assert (identity.inbound_filter_mode, identity.outbound_filter_mode) == (
        "whitelist",
        "whitelist",
    )
    assert AuditEntry.objects.filter(action="identity.filter_mode_set").count() == 1


def test_without_javascript_the_confirmation_is_a_whole_page(
    operator_client: Client, identity: AgentIdentity
) -> None:
    response = operator_client.post(
        reverse("console:filter-mode", args=[identity.handle]), {"mode": "whitelist"}
    )

    assert b"<html" in response.content
    assert b"No current connection would be cut off" in response.content


def test_switching_back_to_blacklist_needs_no_confirmation(
    operator_client: Client, identity: AgentIdentity
) -> None:
    identity.inbound_filter_mode = identity.outbound_filter_mode = "whitelist"
    identity.save()

    response = operator_client.post(
        reverse("console:filter-mode", args=[identity.handle]), {"mode": "blacklist"}, **htmx()
    )

    assert "Filter mode is now blacklist." in response.content.decode()
    identity.refresh_from_db()
    assert identity.inbound_filter_mode == "blacklist"


def test_auditors_see_the_mode_but_no_switch(
    auditor_client: Client, identity: AgentIdentity
) -> None:
    body = auditor_client.get(reverse("console:rules", args=[identity.handle])).content.decode()

    assert "Switch mode" not in body
    assert 'data-testid="filter-mode"' in body


def test_a_forged_confirmation_from_an_auditor_is_refused(
    auditor_client: Client, identity: AgentIdentity
) -> None:
    response = _switch(auditor_client, identity, confirm="1")

    assert response.status_code == 403  # type: ignore[attr-defined]
    identity.refresh_from_db()
    assert identity.inbound_filter_mode == "blacklist"


def test_another_organisations_identity_cannot_be_switched(
    outsider_operator_client: Client, identity: AgentIdentity
) -> None:
    response = _switch(outsider_operator_client, identity, confirm="1")

    assert response.status_code == 404  # type: ignore[attr-defined]


# --- Line roles ----------------------------------------------------------------------


def _set_role(client: Client, line: PhoneLine, role: str, **extra: str) -> object:
    return client.post(
        reverse("console:line-role", args=[line.id]), {"role": role, **extra}, **htmx()
    )


@pytest.fixture
def platform_line(org: Organization) -> PhoneLine:
    return PhoneLineFactory(setup=PlatformSetupFactory(organization=org), role="pool")


def test_a_role_change_first_asks_and_says_what_it_does(
    operator_client: Client, platform_line: PhoneLine
) -> None:
    response = _set_role(operator_client, platform_line, "router")

    body = response.content.decode()  # type: ignore[attr-defined]
    assert body.lstrip().startswith(f'<tr id="line-{platform_line.id}"')
    assert 'data-testid="role-confirm"' in body
    assert "reach the router" in body
    platform_line.refresh_from_db()
    assert platform_line.role == "pool"


def test_a_confirmed_role_change_is_made_audited_and_confirmed_in_the_row(
    operator_client: Client, platform_line: PhoneLine
) -> None:
    response = _set_role(operator_client, platform_line, "router", confirm="1")

    body = response.content.decode()  # type: ignore[attr-defined]
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert "Role set to router." in body
    platform_line.refresh_from_db()
    assert platform_line.role == "router"
    assert AuditEntry.objects.filter(action="line.role_set").count() == 1


def test_a_clinics_pending_dedicated_line_cannot_become_the_router(
    operator_client: Client, org: Organization
) -> None:
    line = PhoneLineFactory(setup=SetupFactory(organization=org), pending=True)

    response = _set_role(operator_client, line, "router", confirm="1")

    assert response.status_code == 422  # type: ignore[attr-defined]
    assert "Router and pool lines belong to platform setups." in response.content.decode()  # type: ignore[attr-defined]
    line.refresh_from_db()
    assert line.role == "dedicated"


def test_the_refusal_is_given_before_asking_for_confirmation(
    operator_client: Client, org: Organization
) -> None:
    line = PhoneLineFactory(setup=SetupFactory(organization=org))

    response = _set_role(operator_client, line, "pool")

    body = response.content.decode()  # type: ignore[attr-defined]
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert "role-confirm" not in body
    assert "platform setups" in body


def test_a_blocked_platform_line_cannot_become_the_router(
    operator_client: Client, platform_line: PhoneLine
) -> None:
    from django.utils import timezone

    PhoneLine.objects.filter(pk=platform_line.pk).update(blocked_at=timezone.now())

    response = _set_role(operator_client, platform_line, "router", confirm="1")

    assert response.status_code == 422  # type: ignore[attr-defined]
    assert "blocked this line" in response.content.decode()  # type: ignore[attr-defined]


def test_a_released_line_takes_no_role(operator_client: Client, platform_line: PhoneLine) -> None:
    from django.utils import timezone

    PhoneLine.objects.filter(pk=platform_line.pk).update(released_at=timezone.now())

    response = _set_role(operator_client, platform_line, "dedicated", confirm="1")

    assert response.status_code == 422  # type: ignore[attr-defined]
    assert "released" in response.content.decode()  # type: ignore[attr-defined]


def test_moving_the_router_away_warns_that_nobody_can_connect(
    operator_client: Client, org: Organization
) -> None:
    line = PhoneLineFactory(setup=PlatformSetupFactory(organization=org), role="router")

    body = _set_role(operator_client, line, "pool").content.decode()  # type: ignore[attr-defined]

    assert "stops answering connect commands" in body


def test_without_javascript_the_role_confirmation_is_the_setup_page(
    operator_client: Client, platform_line: PhoneLine
) -> None:
    response = operator_client.post(
        reverse("console:line-role", args=[platform_line.id]), {"role": "router"}
    )

    body = response.content.decode()
    assert "<html" in body
    assert body.count('data-testid="role-confirm"') == 1


def test_an_auditors_forged_role_change_is_refused(
    auditor_client: Client, platform_line: PhoneLine
) -> None:
    response = _set_role(auditor_client, platform_line, "router", confirm="1")

    assert response.status_code == 403  # type: ignore[attr-defined]
    platform_line.refresh_from_db()
    assert platform_line.role == "pool"


def test_another_organisations_line_answers_404(
    outsider_operator_client: Client, platform_line: PhoneLine
) -> None:
    response = _set_role(outsider_operator_client, platform_line, "router", confirm="1")

    assert response.status_code == 404  # type: ignore[attr-defined]
