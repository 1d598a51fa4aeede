"""The blocked review as a queue: waiting first and oldest first, filters (review state,
identity, dates, partial and formatted senders), the row contents, bulk decisions with a
confirmation step, the CSV export and the dashboard's waiting count."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from console.memberships import membership_grant
from console.models import AgentIdentity, AuditEntry, MembershipRole, Organization
from messaging.models import Message
from routing.rule_decisions import contact_decision
from tests.console.factories import UserFactory
from tests.console.ui.blocked_helpers import SENDER, blocked_message
from tests.console.ui.conftest import htmx
from tests.routing.factories import ContactRuleFactory

pytestmark = pytest.mark.django_db
QUEUE = "console:blocked"


def _ago(**delta: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(**delta)


def _shown(client: Client, messages: list[Message], **params: str) -> list[str]:
    """The ids of `messages` on the page, in the order the page lists them."""
    body = client.get(reverse(QUEUE), params).content.decode()
    found = [(body.find(f'data-message="{m.id}"'), str(m.id)) for m in messages]
    return [mid for pos, mid in sorted(found) if pos >= 0]


def _decided(identity: AgentIdentity, state: str, sender: str, **kwargs: Any) -> Message:
    return blocked_message(
        identity, sender=sender, review_state=state, reviewed_at=timezone.now(), **kwargs
    )


def test_the_default_view_is_the_waiting_messages_oldest_first(
    operator_client: Client, identity: AgentIdentity
) -> None:
    newer = blocked_message(identity, created_at=_ago(hours=1))
    older = blocked_message(identity, sender="+12025550148", created_at=_ago(days=2))
    kept = _decided(identity, "kept", "+12025550149")

    assert _shown(operator_client, [newer, older, kept]) == [str(older.id), str(newer.id)]


@pytest.mark.parametrize(
    ("review", "expected"), [("allowed", {"allowed"}), ("kept", {"kept"}), ("all", None)]
)
def test_the_review_filter_selects_by_state(
    operator_client: Client, identity: AgentIdentity, review: str, expected: set[str] | None
) -> None:
    rows = {
        "waiting": blocked_message(identity),
        "allowed": _decided(identity, "allowed", "+12025550148"),
        "kept": _decided(identity, "kept", "+12025550149"),
    }
    shown = set(_shown(operator_client, list(rows.values()), review=review))
    wanted = set(rows) if expected is None else expected
    assert shown == {str(rows[state].id) for state in wanted}


@pytest.mark.parametrize(
    "typed", ["0199", "(415) 555-0199", "415-555-0199", "+1 415 555 0199", "14155550199"]
)
def test_the_sender_search_matches_partial_and_formatted_numbers(
    operator_client: Client, identity: AgentIdentity, typed: str
) -> None:
    match = blocked_message(identity, sender="+14155550199")
    other = blocked_message(identity, sender="+14155550123")
    assert _shown(operator_client, [match, other], sender=typed) == [str(match.id)]


def test_a_sender_search_without_digits_matches_nothing(
    operator_client: Client, identity: AgentIdentity
) -> None:
    message = blocked_message(identity)
    assert _shown(operator_client, [message], sender="abc") == []


def test_a_filter_matching_nothing_says_so_rather_than_that_nothing_waits(
    operator_client: Client, identity: AgentIdentity
) -> None:
    blocked_message(identity)
    body = operator_client.get(reverse(QUEUE), {"sender": "9999999"}).content.decode()
    assert 'data-empty="no-match"' in body
    assert "Nothing is waiting" not in body


def test_the_filter_form_shows_no_template_comment(operator_client: Client) -> None:
    body = operator_client.get(reverse(QUEUE)).content.decode()
    assert "{#" not in body
    assert "Plain GET without JavaScript" not in body


def test_an_empty_queue_says_nothing_is_waiting(
    operator_client: Client, identity: AgentIdentity
) -> None:
    _decided(identity, "kept", SENDER)
    body = operator_client.get(reverse(QUEUE)).content.decode()
    assert "Nothing is waiting for review" in body


def test_a_row_shows_a_preview_of_the_first_120_characters(
    operator_client: Client, identity: AgentIdentity
) -> None:
    blocked_message(identity, content="a" * 120 + "TAIL")
    body = operator_client.get(reverse(QUEUE)).content.decode()
    assert "a" * 120 + "&hellip;" in body or "a" * 120 + "…" in body
    assert "TAIL" not in body


def test_a_row_links_the_rule_that_held_the_message(
    operator_client: Client, identity: AgentIdentity
) -> None:
    rule = ContactRuleFactory(identity=identity, match_target=SENDER, direction="inbound")
    blocked_message(identity, blocked_rule_id=rule.id)
    body = operator_client.get(reverse(QUEUE)).content.decode()
    href = reverse("console:rules", args=[identity.handle]) + f"#rule-{rule.id}"
    assert f'href="{href}">block rule (inbound)</a>' in body


def test_a_row_says_when_the_rule_is_gone_or_the_mode_decided(
    operator_client: Client, identity: AgentIdentity
) -> None:
    import uuid

    blocked_message(identity, blocked_rule_id=uuid.uuid4())
    blocked_message(identity, sender="+12025550148")
    body = operator_client.get(reverse(QUEUE)).content.decode()
    assert "a rule since removed" in body
    assert "blacklist mode default" in body


def test_a_row_shows_sender_identity_and_age(
    operator_client: Client, identity: AgentIdentity
) -> None:
    blocked_message(identity, created_at=_ago(hours=3))
    body = operator_client.get(reverse(QUEUE)).content.decode()
    assert SENDER in body
    assert f"@{identity.handle}" in body
    assert "3 hours ago" in body or "3 h ago" in body


def test_a_decided_row_shows_who_decided(operator_client: Client, identity: AgentIdentity) -> None:
    _decided(identity, "kept", SENDER, reviewed_by=operator_client.user)  # type: ignore[attr-defined]
    body = operator_client.get(reverse(QUEUE), {"review": "all"}).content.decode()
    assert "kept blocked" in body
    assert "by olivia" in body


@pytest.mark.parametrize("review", ["waiting", "all"])
def test_the_queue_costs_a_bounded_number_of_queries(
    operator_client: Client,
    identity: AgentIdentity,
    django_assert_max_num_queries: Any,
    review: str,
) -> None:
    user = operator_client.user  # type: ignore[attr-defined]
    for n in range(60):
        rule = ContactRuleFactory(identity=identity, match_target=f"+120255502{n:02d}")
        if n % 2:
            _decided(identity, "kept", rule.match_target, blocked_rule_id=rule.id, reviewed_by=user)
        else:
            blocked_message(identity, sender=rule.match_target, blocked_rule_id=rule.id)
    with django_assert_max_num_queries(7):
        response = operator_client.get(reverse(QUEUE), {"review": review})
    rows = response.content.decode().count("Review<span")
    assert rows == (30 if review == "waiting" else 50)


def test_the_oldest_first_queue_pages_towards_newer_messages(
    operator_client: Client, identity: AgentIdentity
) -> None:
    for n in range(51):
        blocked_message(identity, sender=f"+120255502{n:02d}", created_at=_ago(minutes=n))
    body = operator_client.get(reverse(QUEUE)).content.decode()
    assert "Newer &rarr;</a>" in body


# --- Bulk decisions --------------------------------------------------------------------


def _bulk(client: Client, decision: str, messages: list[Any], **extra: str) -> Any:
    ids = [str(getattr(m, "id", m)) for m in messages]
    return client.post(reverse("console:blocked-bulk"), {"decision": decision, "ids": ids, **extra})


def test_a_bulk_decision_asks_for_confirmation_first(
    operator_client: Client, identity: AgentIdentity
) -> None:
    first, second = blocked_message(identity), blocked_message(identity, sender="+12025550148")

    response = _bulk(operator_client, "kept", [first, second])

    assert response.status_code == 200
    body = response.content.decode()
    assert "Confirm: keep 2 blocked" in body
    assert not Message.objects.exclude(review_state="").exists()


def test_a_confirmed_bulk_keep_decides_and_audits_each_message(
    operator_client: Client, identity: AgentIdentity
) -> None:
    first, second = blocked_message(identity), blocked_message(identity, sender="+12025550148")

    response = _bulk(operator_client, "kept", [first, second], confirm="on")

    assert "Kept blocked: 2 messages" in response.content.decode()
    assert set(Message.objects.values_list("review_state", flat=True)) == {"kept"}
    assert AuditEntry.objects.filter(action="blocked_message.keep").count() == 2


def test_a_confirmed_bulk_allow_lets_each_sender_through(
    operator_client: Client, identity: AgentIdentity
) -> None:
    senders = ["+12025550148", "+12025550149"]
    messages = []
    for sender in senders:
        ContactRuleFactory(identity=identity, match_target=sender, direction="inbound")
        messages.append(blocked_message(identity, sender=sender))

    _bulk(operator_client, "allowed", messages, confirm="on")

    for sender in senders:
        assert contact_decision(identity=identity, number=sender, direction="inbound").allowed
    assert AuditEntry.objects.filter(action="blocked_message.allow").count() == 2


def test_bulk_skips_already_opposite_decisions_and_counts_them(
    operator_client: Client, identity: AgentIdentity
) -> None:
    kept = _decided(identity, "kept", "+12025550148")
    waiting = blocked_message(identity)

    body = _bulk(operator_client, "allowed", [kept, waiting], confirm="on").content.decode()

    assert "Allowed: 1 message" in body
    assert "decided the other way already" in body
    kept.refresh_from_db()
    assert kept.review_state == "kept"


def test_bulk_skips_other_organisations_messages_with_a_count(
    operator_client: Client, identity: AgentIdentity, outsider_identity: AgentIdentity
) -> None:
    mine = blocked_message(identity)
    foreign = blocked_message(outsider_identity)

    body = _bulk(operator_client, "kept", [mine, foreign], confirm="on").content.decode()

    assert "1 skipped" in body
    foreign.refresh_from_db()
    assert foreign.review_state == ""
    mine.refresh_from_db()
    assert mine.review_state == "kept"


def test_bulk_skips_messages_of_an_organisation_the_viewer_only_audits(
    org: Organization, other_org: Organization, outsider_identity: AgentIdentity
) -> None:
    user = UserFactory(username="mixed")
    membership_grant(user=user, organization=org, role=MembershipRole.OPERATOR)
    membership_grant(user=user, organization=other_org, role=MembershipRole.AUDITOR)
    client = Client()
    client.force_login(user)
    audited = blocked_message(outsider_identity)

    body = _bulk(client, "kept", [audited], confirm="on").content.decode()

    assert "1 skipped" in body
    audited.refresh_from_db()
    assert audited.review_state == ""


def test_auditors_get_403_for_a_forged_bulk_decision(
    auditor_client: Client, identity: AgentIdentity
) -> None:
    message = blocked_message(identity)
    assert _bulk(auditor_client, "kept", [message], confirm="on").status_code == 403
    message.refresh_from_db()
    assert message.review_state == ""


def test_a_bulk_decision_without_a_selection_says_why(operator_client: Client) -> None:
    response = _bulk(operator_client, "kept", [], confirm="on")
    assert response.status_code == 422
    assert "Select at least one message" in response.content.decode()


def test_operators_get_a_checkbox_per_row(operator_client: Client, identity: AgentIdentity) -> None:
    message = blocked_message(identity)
    body = operator_client.get(reverse(QUEUE)).content.decode()
    assert f'name="ids" value="{message.id}"' in body


# --- CSV export ------------------------------------------------------------------------


def _csv(response: Any) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text)))


def test_auditors_export_the_filtered_rows_as_csv_and_the_export_is_audited(
    auditor_client: Client, identity: AgentIdentity, outsider_identity: AgentIdentity
) -> None:
    match = blocked_message(identity, sender="+14155550199", content="hello there")
    blocked_message(identity, sender="+14155550123")
    blocked_message(outsider_identity, sender="+14155550199")

    response = auditor_client.get(reverse("console:blocked-export"), {"sender": "0199"})

    assert response.status_code == 200
    header, *rows = _csv(response)
    assert header[:4] == ["received_at", "sender", "identity", "text_preview"]
    assert [row[-1] for row in rows] == [str(match.id)]
    assert rows[0][1:5] == ["+14155550199", identity.handle, "hello there", ""]
    entry = AuditEntry.objects.get(action="export", object_id="blocked-messages")
    assert entry.after["rows"] == 1
    assert entry.after["filters"]["sender"] == "0199"


def test_the_queue_links_an_export_with_the_current_filters(
    operator_client: Client, identity: AgentIdentity
) -> None:
    blocked_message(identity)
    body = operator_client.get(reverse(QUEUE), {"review": "all", "sender": "0147"}).content
    assert b"/blocked/export.csv?review=all&amp;sender=0147" in body


# --- Dashboard ---------------------------------------------------------------------------


def test_the_dashboard_counts_only_blocked_messages_still_waiting(
    operator_client: Client, identity: AgentIdentity
) -> None:
    blocked_message(identity)
    _decided(identity, "kept", "+12025550148")
    _decided(identity, "allowed", "+12025550149")

    body = operator_client.get(reverse("console:dashboard")).content.decode()

    assert 'data-testid="blocked-count">1<' in body
    assert "waiting for review" in body


def test_htmx_filtering_swaps_only_the_rows(
    operator_client: Client, identity: AgentIdentity
) -> None:
    blocked_message(identity)
    body = operator_client.get(reverse(QUEUE), {"review": "all"}, **htmx()).content.decode()
    assert body.lstrip().startswith('<section id="blocked-rows">')
