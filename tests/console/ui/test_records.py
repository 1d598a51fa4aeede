"""The records page: retention window, legal holds and retention runs."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from console.models import AgentIdentity, AuditEntry, Organization
from messaging.models import LegalHold
from tests.console.ui.conftest import htmx
from tests.messaging.factories import (
    ConversationFactory,
    LegalHoldFactory,
    RetentionRunFactory,
)

pytestmark = pytest.mark.django_db
PAGE = "console:records"


def test_auditors_read_retention_holds_and_runs_without_controls(
    auditor_client: Client, org: Organization
) -> None:
    LegalHoldFactory(organization=org, remote_number="+14155550199")
    RetentionRunFactory(organization=org, messages_redacted=1234)

    body = auditor_client.get(reverse(PAGE)).content.decode()

    assert "+14155550199" in body
    assert ">1234<" in body
    assert "kept forever" in body
    assert "Place hold" not in body
    assert "Lift hold" not in body


def test_an_operator_sets_the_retention_window_and_it_is_audited(
    operator_client: Client, org: Organization
) -> None:
    response = operator_client.post(
        reverse("console:records-retention"), {"organization": org.id, "days": "90"}, **htmx()
    )

    assert response.status_code == 200
    assert b"now keeps message text for 90 days" in response.content
    org.refresh_from_db()
    assert org.message_retention_days == 90
    entry = AuditEntry.objects.get(action="organization.retention")
    assert (entry.before, entry.after) == (
        {"message_retention_days": 0},
        {"message_retention_days": 90},
    )


def test_a_negative_window_is_refused_with_a_reason(
    operator_client: Client, org: Organization
) -> None:
    response = operator_client.post(
        reverse("console:records-retention"), {"organization": org.id, "days": "-1"}, **htmx()
    )

    assert response.status_code == 422
    assert b"greater than or equal to 0" in response.content


@pytest.mark.parametrize(
    ("kind", "target"),
    [("number", "(415) 555-0199"), ("identity", "@nurse-bot"), ("conversation", None)],
)
def test_an_operator_places_a_hold_on_each_kind_of_target(
    operator_client: Client, org: Organization, identity: AgentIdentity, kind: str, target: Any
) -> None:
    if target is None:
        target = str(ConversationFactory(identity=identity).id)
    response = operator_client.post(
        reverse("console:records-hold"),
        {"organization": org.id, "kind": kind, "target": target, "reason": "Subpoena 7"},
        **htmx(),
    )

    assert response.status_code == 200, response.content
    hold = LegalHold.objects.get()
    assert (hold.kind, hold.reason, hold.placed_by) == (kind, "Subpoena 7", "olivia")
    if kind == "number":
        assert hold.remote_number == "+14155550199"


def test_a_hold_on_another_organisations_conversation_is_refused(
    operator_client: Client, org: Organization, outsider_identity: AgentIdentity
) -> None:
    foreign = ConversationFactory(identity=outsider_identity)
    response = operator_client.post(
        reverse("console:records-hold"),
        {"organization": org.id, "kind": "conversation", "target": str(foreign.id), "reason": "x"},
        **htmx(),
    )

    assert response.status_code == 422
    assert not LegalHold.objects.exists()


def test_lifting_a_hold_needs_a_reason_and_records_who(
    operator_client: Client, org: Organization
) -> None:
    hold = LegalHoldFactory(organization=org)
    url = reverse("console:records-hold-lift", args=[hold.id])

    refused = operator_client.post(url, {"reason": ""}, **htmx())
    lifted = operator_client.post(url, {"reason": "Case closed"}, **htmx())

    assert refused.status_code == 422
    assert lifted.status_code == 200
    hold.refresh_from_db()
    assert (hold.lifted_by, hold.lift_reason) == ("olivia", "Case closed")


def test_auditors_cannot_change_retention_or_holds(
    auditor_client: Client, org: Organization
) -> None:
    hold = LegalHoldFactory(organization=org)
    posts = [
        (reverse("console:records-retention"), {"organization": org.id, "days": "1"}),
        (reverse("console:records-hold"), {"organization": org.id, "kind": "number"}),
        (reverse("console:records-hold-lift", args=[hold.id]), {"reason": "x"}),
    ]
    assert [auditor_client.post(url, data).status_code for url, data in posts] == [403] * 3


def test_another_organisations_hold_is_404(
    outsider_operator_client: Client, org: Organization
) -> None:
    hold = LegalHoldFactory(organization=org)
    response = outsider_operator_client.post(
        reverse("console:records-hold-lift", args=[hold.id]), {"reason": "x"}
    )
    assert response.status_code == 404


def test_the_records_page_runs_a_bounded_number_of_queries(
    auditor_client: Client, org: Organization, django_assert_max_num_queries: Any
) -> None:
    for _ in range(20):
        LegalHoldFactory(organization=org)
        RetentionRunFactory(organization=org)
    with django_assert_max_num_queries(12):
        auditor_client.get(reverse(PAGE))


def test_a_redacted_message_reads_removed_by_retention_in_the_conversation(
    auditor_client: Client, identity: AgentIdentity
) -> None:
    from django.utils import timezone

    from tests.messaging.factories import MessageFactory

    message = MessageFactory(
        conversation__identity=identity, content=None, media=[], redacted_at=timezone.now()
    )

    body = auditor_client.get(
        reverse("console:conversation", args=[message.conversation_id])
    ).content.decode()

    assert f"Removed by retention policy on {timezone.localdate():%Y-%m-%d}" in body
