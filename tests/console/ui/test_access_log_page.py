"""The access log from the console: views of patient text are written (conversation,
blocked message, search previews, exports, a person's record) and read back by auditors
and operators with filters, a CSV export, scoping and bounded queries."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from console.models import AccessLog, AgentIdentity, Organization
from messaging.services.person_exports import person_export_build
from tests.console.factories import AccessLogFactory
from tests.console.ui.blocked_helpers import blocked_message
from tests.console.ui.conftest import htmx
from tests.messaging.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

PERSON = "+14155550199"


def _page(client: Client, **params: str) -> str:
    response = client.get(reverse("console:access-log"), params)
    assert response.status_code == 200
    return response.content.decode()


def _csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text)))


# --- Written by the views ----------------------------------------------------------------


def test_an_auditors_view_of_a_conversation_appears_with_their_name(
    auditor_client: Client, identity: AgentIdentity
) -> None:
    conversation = ConversationFactory(identity=identity, remote_number=PERSON)
    MessageFactory(conversation=conversation, content="my knee hurts")

    auditor_client.get(reverse("console:conversation", args=[conversation.id]))

    row = AccessLog.objects.get()
    assert (row.actor_label, row.object_kind, row.object_id) == (
        "arthur",
        "conversation",
        str(conversation.id),
    )
    assert (row.remote_number, row.ip) == (PERSON, "127.0.0.1")
    body = _page(auditor_client)
    assert "arthur" in body
    assert f"/console/conversations/{conversation.id}/" in body


def test_a_blocked_message_detail_is_one_row(
    operator_client: Client, identity: AgentIdentity
) -> None:
    message = blocked_message(identity)

    operator_client.get(reverse("console:blocked-detail", args=[message.id]))

    row = AccessLog.objects.get()
    assert (row.object_kind, row.object_id, row.actor_label) == (
        "blocked_message",
        str(message.id),
        "olivia",
    )


def test_search_previews_write_one_row_per_message_shown(
    operator_client: Client, identity: AgentIdentity
) -> None:
    message = MessageFactory(conversation__identity=identity, content="knee")

    operator_client.get(reverse("console:search"), {"q": str(message.id)})

    assert list(AccessLog.objects.values_list("object_kind", "object_id")) == [
        ("message", str(message.id))
    ]


def test_a_search_without_messages_writes_nothing(
    operator_client: Client, identity: AgentIdentity
) -> None:
    operator_client.get(reverse("console:search"), {"q": "nurse"})

    assert not AccessLog.objects.exists()


def test_a_csv_export_is_a_row_with_its_filters_and_row_count(
    auditor_client: Client, org: Organization, identity: AgentIdentity
) -> None:
    ConversationFactory.create_batch(2, identity=identity)

    _csv(auditor_client.get(reverse("console:conversations-export"), {"kind": "person"}))

    row = AccessLog.objects.get()
    assert (row.object_kind, row.object_id, row.count, row.organization_id) == (
        "export",
        "conversations",
        2,
        org.id,
    )
    assert row.detail == {"filters": {"kind": "person"}, "truncated": False}


def test_a_person_record_request_and_download_carry_the_reason(
    auditor_client: Client, org: Organization, identity: AgentIdentity
) -> None:
    MessageFactory(conversation__identity=identity, conversation__remote_number=PERSON)
    data = {"organization": str(org.id), "number": PERSON, "reason": "Court order 12"}
    auditor_client.post(reverse("console:records-export-request"), data, **htmx())
    export = org.personexport_set.get()
    person_export_build(export_id=str(export.id))

    response = auditor_client.get(reverse("console:records-export-download", args=[export.id]))
    b"".join(response.streaming_content)

    rows = list(AccessLog.objects.order_by("id").values_list("object_kind", "reason", "detail"))
    assert rows == [
        ("person_record", "Court order 12", {"step": "request"}),
        ("person_record", "Court order 12", {"step": "download"}),
    ]


# --- The page ----------------------------------------------------------------------------


def test_the_page_is_in_the_navigation(auditor_client: Client) -> None:
    assert f'href="{reverse("console:access-log")}"' in _page(auditor_client)


def test_the_page_filters_by_user(auditor_client: Client, org: Organization) -> None:
    AccessLogFactory(organization=org, actor_label="arthur", object_id="seen-by-arthur")
    AccessLogFactory(organization=org, actor_label="olivia", object_id="seen-by-olivia")

    body = _page(auditor_client, user="OLIV")

    assert "seen-by-olivia" in body
    assert "seen-by-arthur" not in body


def test_the_page_filters_by_part_of_the_persons_number(
    auditor_client: Client, org: Organization
) -> None:
    AccessLogFactory(organization=org, remote_number=PERSON, object_id="about-person")
    AccessLogFactory(organization=org, remote_number="+12025550100", object_id="about-other")

    body = _page(auditor_client, number="(415) 555-0199")

    assert "about-person" in body
    assert "about-other" not in body


def test_the_page_filters_by_date(auditor_client: Client, org: Organization) -> None:
    AccessLogFactory(organization=org, object_id="today")
    # created_at is set on insert; rows are append-only, so an old row is made by time.
    old = timezone.now() - dt.timedelta(days=10)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: old)
        AccessLogFactory(organization=org, object_id="ten-days-ago")
    since = (timezone.localdate() - dt.timedelta(days=2)).isoformat()

    body = _page(auditor_client, date_from=since)

    assert "today" in body
    assert "ten-days-ago" not in body


def test_another_organisations_rows_are_invisible(
    auditor_client: Client, org: Organization, other_org: Organization
) -> None:
    AccessLogFactory(organization=org, object_id="ours")
    AccessLogFactory(organization=other_org, object_id="theirs")

    body = _page(auditor_client)
    rows = _csv(auditor_client.get(reverse("console:access-log-export")))

    assert "ours" in body
    assert "theirs" not in body
    assert "theirs" not in [row[5] for row in rows[1:]]
    assert "ours" in [row[5] for row in rows[1:]]


def test_the_export_has_a_row_per_entry_and_is_itself_logged(
    operator_client: Client, org: Organization
) -> None:
    AccessLogFactory(organization=org, remote_number=PERSON, reason="asked")

    rows = _csv(operator_client.get(reverse("console:access-log-export")))

    assert rows[0][:4] == ["time", "organisation_id", "actor_type", "actor"]
    # The export itself is written first, so the file lists it too.
    assert sorted((row[4], row[6]) for row in rows[1:]) == [
        ("conversation", PERSON),
        ("export", ""),
    ]
    assert AccessLog.objects.filter(object_kind="export", object_id="access-log").count() == 1


def test_agent_tallies_show_on_the_page(
    auditor_client: Client, identity_client: Any, identity: AgentIdentity
) -> None:
    conversation = ConversationFactory(identity=identity, remote_number=PERSON)
    MessageFactory(conversation=conversation)
    identity_client.get("/api/v1/imessage/messages")

    body = _page(auditor_client)

    assert "Agents reading their own conversations" in body
    assert "agent" in body


def test_the_page_costs_a_bounded_number_of_queries(
    auditor_client: Client, org: Organization, django_assert_max_num_queries: Any
) -> None:
    AccessLogFactory.create_batch(30, organization=org)
    _page(auditor_client)

    # session, user, memberships, the page of rows, the tallies
    with django_assert_max_num_queries(6):
        _page(auditor_client)
