"""console.ui.audit: the audit log as sentences with links, its filters and CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from console.models import AgentIdentity, AuditEntry, Organization
from console.services import Actor, audit_record
from console.ui.audit import action_label, present
from console.ui.audit_links import object_links
from console.ui.export import EXPORT_ACTION
from routing.services.contact_rules import contact_rule_update
from tests.console.factories import AuditEntryFactory
from tests.console.ui.conftest import htmx
from tests.messaging.factories import MessageFactory
from tests.messaging.webhooks.factories import WebhookDeliveryFactory
from tests.routing.factories import ContactRuleFactory

pytestmark = pytest.mark.django_db

RULE_NAME = "+1 415-555-0199 (block, inbound) on @nurse-bot"
OPERATOR = Actor(type="user", id="1", label="operator@clinic")


def _entry(org: Organization, **fields: Any) -> AuditEntry:
    defaults: dict[str, Any] = {
        "organization": org,
        "actor_type": "user",
        "actor_label": "operator@clinic",
        "action": "contact_rule.update",
        "object_type": "ContactRule",
        "object_id": str(uuid.uuid4()),
        "object_repr": RULE_NAME,
    }
    return AuditEntryFactory(**{**defaults, **fields})


def _csv(response: Any) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text)))


def _rows(client: Client, params: dict[str, str]) -> str:
    """The filtered rows, as the htmx filter form gets them (without the form's options)."""
    return client.get(reverse("console:audit"), params, **htmx()).content.decode()


# --- Sentences -----------------------------------------------------------------------------


def test_a_rule_change_reads_as_a_sentence_with_the_changed_field(
    identity: AgentIdentity,
) -> None:
    rule = ContactRuleFactory(
        identity=identity, match_target="+14155550199", action="block", direction="inbound"
    )
    contact_rule_update(rule=rule, actor=OPERATOR, status="paused")
    line = present(AuditEntry.objects.get(action="contact_rule.update"))
    assert (
        line.sentence == f"operator@clinic changed contact rule {RULE_NAME}: status active → paused"
    )


def test_internal_fields_are_never_shown(org: Organization) -> None:
    line = present(
        _entry(
            org,
            before={"status": "active", "setup_id": "x", "key_hash": "abc"},
            after={
                "status": "paused",
                "split_into": None,
                "setup_id": "y",
                "key_hash": "def",
                "line": str(uuid.uuid4()),
            },
        )
    )
    assert line.summary == "status active → paused"


def test_unchanged_fields_are_left_out(org: Organization) -> None:
    line = present(
        _entry(
            org,
            before={"action": "block", "status": "active"},
            after={"action": "block", "status": "paused"},
        )
    )
    assert [str(change) for change in line.changes] == ["status active → paused"]


def test_a_creation_lists_what_was_set(org: Organization) -> None:
    line = present(
        _entry(org, action="contact_rule.create", after={"action": "block", "direction": "both"})
    )
    assert (
        line.sentence
        == f"operator@clinic added contact rule {RULE_NAME}: action block; direction both"
    )


def test_the_system_is_named_the_system(org: Organization) -> None:
    line = present(_entry(org, actor_type="system", actor_label="system"))
    assert line.actor == "the system"
    assert "system system" not in line.sentence


def test_an_api_key_actor_is_named_by_the_key(org: Organization) -> None:
    audit_record(
        organization=org,
        actor=Actor(type="api_key", id="k", label="API key ops-bot"),
        action="identity.delete",
        obj=AgentIdentity(handle="old-bot"),
    )
    line = present(AuditEntry.objects.get(action="identity.delete"))
    assert line.sentence == "API key ops-bot deleted identity @old-bot"


OLD_ID = "1a2b3c4d-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    ("object_type", "stored", "shown"),
    [
        ("ContactRule", f"ContactRule object ({OLD_ID})", "contact rule 1a2b3c4d"),
        ("PhoneLine", f"pending line {OLD_ID}", "pending line 1a2b3c4d"),
    ],
)
def test_an_entry_stored_under_an_older_name_shows_a_short_id(
    org: Organization, object_type: str, stored: str, shown: str
) -> None:
    entry = _entry(org, object_type=object_type, object_id=OLD_ID, object_repr=stored)
    assert present(entry).object_name == shown


@pytest.mark.parametrize(
    ("action", "label"),
    [
        ("contact_rule.update", "changed contact rule"),
        ("api_key.revoke", "revoked API key"),
        ("login.locked", "locked the console login of a console user"),
        ("export", "exported a list"),
    ],
)
def test_the_action_filter_names_actions_in_words(action: str, label: str) -> None:
    assert action_label(action) == label


def test_a_name_that_says_its_kind_is_not_prefixed(org: Organization) -> None:
    line = present(
        _entry(
            org,
            action="blocked_message.keep",
            object_type="Message",
            object_repr="message from +1 415-555-0199 on @nurse-bot",
        )
    )
    assert (
        line.sentence == "operator@clinic kept message from +1 415-555-0199 on @nurse-bot blocked"
    )


@pytest.mark.parametrize(
    ("action", "sentence"),
    [
        (
            "contact_rule.archive",
            f"operator@clinic recorded contact_rule.archive for contact rule {RULE_NAME}",
        ),
        ("contact_rule.release", f"operator@clinic released contact rule {RULE_NAME}"),
    ],
)
def test_an_unknown_action_still_reads_as_a_sentence(
    org: Organization, action: str, sentence: str
) -> None:
    assert present(_entry(org, action=action)).sentence == sentence


def test_an_export_names_the_list_and_its_filters(org: Organization) -> None:
    line = present(
        _entry(
            org,
            action=EXPORT_ACTION,
            object_type="Export",
            object_id="audit",
            object_repr="audit export",
            after={"filters": {"actor": "olivia"}, "rows": 3, "truncated": False},
        )
    )
    assert line.sentence == (
        "operator@clinic exported the audit list: filters actor olivia; rows 3; truncated no"
    )


# --- The page ------------------------------------------------------------------------------


def test_the_page_links_an_object_to_its_console_page(
    operator_client: Client, identity: AgentIdentity
) -> None:
    rule = ContactRuleFactory(identity=identity, match_target="+14155550199")
    contact_rule_update(rule=rule, actor=OPERATOR, status="paused")
    body = operator_client.get(reverse("console:audit")).content.decode()
    rules_url = reverse("console:rules", args=[identity.handle])
    assert f'<a href="{rules_url}">contact rule +1 415-555-0199' in body
    assert "<del>active</del> → <ins>paused</ins>" in body
    assert "ContactRule" not in body.split("<main")[1].split('id="audit-rows"')[1]


def test_identities_deliveries_and_blocked_messages_link_to_their_pages(
    org: Organization, identity: AgentIdentity
) -> None:
    delivery = WebhookDeliveryFactory(subscription__identity=identity)
    message = MessageFactory(conversation__identity=identity, is_blocked=True)
    entries = [
        _entry(org, object_type=type(obj).__name__, object_id=str(obj.pk))
        for obj in (identity, delivery, message)
    ]
    links = object_links(entries, [org.id])
    assert links == {
        f"AgentIdentity:{identity.pk}": reverse("console:identity", args=[identity.handle]),
        f"WebhookDelivery:{delivery.pk}": reverse("console:delivery", args=[delivery.pk]),
        f"Message:{message.pk}": reverse("console:blocked-detail", args=[message.pk]),
    }


def test_objects_of_other_organisations_get_no_link(
    org: Organization, outsider_identity: AgentIdentity
) -> None:
    entry = _entry(org, object_type="AgentIdentity", object_id=str(outsider_identity.pk))
    assert object_links([entry], [org.id]) == {}


def test_an_object_that_no_longer_exists_is_named_without_a_link(
    operator_client: Client, org: Organization
) -> None:
    _entry(org, action="contact_rule.delete")
    body = operator_client.get(reverse("console:audit")).content.decode()
    assert f"removed contact rule {RULE_NAME}" in body


def test_the_audit_log_filters_by_action_and_hides_other_organisations(
    operator_client: Client, org: Organization, other_org: Organization
) -> None:
    AuditEntryFactory(organization=org, action="contact_rule.create", actor_label="olivia")
    AuditEntryFactory(organization=org, action="line.role_set", actor_label="ops key")
    AuditEntryFactory(organization=other_org, action="contact_rule.delete")
    url = reverse("console:audit")
    body = operator_client.get(url).content.decode()
    assert "contact_rule.create" in body and "line.role_set" in body
    assert "contact_rule.delete" not in body
    filtered = operator_client.get(url, {"action": "line.role_set"}, **htmx()).content.decode()
    assert "ops key" in filtered and "olivia" not in filtered


def test_the_actor_filter_matches_part_of_the_name(
    operator_client: Client, org: Organization
) -> None:
    _entry(org, actor_label="operator@clinic", action="identity.update")
    _entry(org, actor_label="API key ops-bot", action="identity.delete")
    body = _rows(operator_client, {"actor": "ops-bot"})
    assert "identity.delete" in body and "identity.update" not in body


@pytest.mark.parametrize("typed", ["ContactRule", "contactrule", "Contact Rule"])
def test_the_object_type_filter_ignores_case(
    operator_client: Client, org: Organization, typed: str
) -> None:
    _entry(org, action="contact_rule.update")
    _entry(org, action="identity.update", object_type="AgentIdentity", object_repr="@x-bot")
    body = _rows(operator_client, {"object_type": typed})
    assert "contact_rule.update" in body and "identity.update" not in body


def test_the_object_type_filter_lists_the_types_present(
    operator_client: Client, org: Organization
) -> None:
    _entry(org, object_type="AgentIdentity", object_repr="@x-bot")
    body = operator_client.get(reverse("console:audit")).content.decode()
    assert '<option value="AgentIdentity">identity</option>' in body
    assert 'value="PhoneLine"' not in body


def test_the_date_filter_keeps_entries_of_those_days(
    operator_client: Client, org: Organization
) -> None:
    old = _entry(org, action="identity.delete")
    AuditEntry.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=10))
    _entry(org, action="identity.update")
    today = timezone.localdate().isoformat()
    body = _rows(operator_client, {"date_from": today})
    assert "identity.update" in body and "identity.delete" not in body


def test_the_audit_log_has_no_edit_or_delete_path(
    operator_client: Client, org: Organization
) -> None:
    AuditEntryFactory(organization=org)
    assert operator_client.post(reverse("console:audit")).status_code == 405
    body = operator_client.get(reverse("console:audit")).content.decode()
    assert '<form method="post"' not in body.split("<main")[1]


def test_the_audit_log_costs_a_bounded_number_of_queries(
    operator_client: Client,
    org: Organization,
    identity: AgentIdentity,
    django_assert_max_num_queries: Any,
) -> None:
    for _ in range(20):
        rule = ContactRuleFactory(identity=identity)
        contact_rule_update(rule=rule, actor=OPERATOR, status="paused")
        audit_record(organization=org, actor=OPERATOR, action="identity.update", obj=identity)
        AuditEntryFactory(organization=org)
    with django_assert_max_num_queries(12):
        response = operator_client.get(reverse("console:audit"))
    assert "Older" in response.content.decode()


# --- Export --------------------------------------------------------------------------------


def test_an_auditor_exports_the_filtered_entries_as_sentences(
    auditor_client: Client, org: Organization
) -> None:
    _entry(org, before={"status": "active"}, after={"status": "paused"})
    _entry(org, action="identity.update", object_type="AgentIdentity", object_repr="@x-bot")
    response = auditor_client.get(reverse("console:audit-export"), {"object_type": "contactrule"})
    assert response.status_code == 200
    header, *rows = _csv(response)
    assert header == ["time", "actor", "action", "object type", "object", "sentence", "changes"]
    assert len(rows) == 1
    assert rows[0][1:] == [
        "operator@clinic",
        "contact_rule.update",
        "contact rule",
        f"contact rule {RULE_NAME}",
        f"operator@clinic changed contact rule {RULE_NAME}: status active → paused",
        "status active → paused",
    ]


def test_the_export_is_itself_audited(auditor_client: Client, org: Organization) -> None:
    _entry(org)
    _csv(auditor_client.get(reverse("console:audit-export"), {"actor": "operator"}))
    entry = AuditEntry.objects.get(action=EXPORT_ACTION)
    assert entry.actor_label == "arthur"
    assert entry.after == {"filters": {"actor": "operator"}, "rows": 1, "truncated": False}


def test_the_export_leaves_out_other_organisations(
    operator_client: Client, org: Organization, other_org: Organization
) -> None:
    _entry(org, actor_label="ours")
    _entry(other_org, actor_label="theirs")
    rows = _csv(operator_client.get(reverse("console:audit-export")))
    actors = {row[1] for row in rows[1:]}
    assert "theirs" not in actors
    assert "ours" in actors
