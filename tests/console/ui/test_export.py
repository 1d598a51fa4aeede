"""console.ui.export: streamed CSV, the row limit, formula-safe cells, and the audit entry."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import RequestFactory

from console.memberships import membership_grant
from console.models import AuditEntry, MembershipRole, Organization
from console.ui.access import load_access
from console.ui.export import EXPORT_ACTION, csv_export, safe_cell
from tests.console.factories import UserFactory


def _request(organization: Organization) -> Any:
    user = UserFactory(username="erin")
    membership_grant(user=user, organization=organization, role=MembershipRole.AUDITOR)
    request = RequestFactory().get("/console/audit/export.csv")
    request.user = user
    request.console = load_access(request)
    return request


def _rows(response: Any) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text)))


def _entries(org: Organization, count: int) -> None:
    for n in range(count):
        AuditEntry.objects.create(
            organization=org,
            actor_type="system",
            actor_label="system",
            action=f"act{n}",
            object_type="Thing",
            object_id=str(n),
        )


def _export(request: Any, org: Organization) -> Any:
    rows = AuditEntry.objects.filter(organization=org).exclude(action=EXPORT_ACTION)
    return csv_export(
        request,
        kind="audit",
        header=["action", "object"],
        rows=rows.order_by("id"),
        to_row=lambda e: [e.action, e.object_id],
        filters={"action": "", "actor": "olivia"},
    )


@pytest.mark.django_db
def test_export_streams_a_header_and_one_row_per_object(org: Organization) -> None:
    _entries(org, 3)
    rows = _rows(_export(_request(org), org))
    assert rows == [["action", "object"], ["act0", "0"], ["act1", "1"], ["act2", "2"]]


@pytest.mark.django_db
def test_export_is_cut_at_the_row_limit_and_says_so_in_the_audit_entry(
    org: Organization, settings: Any
) -> None:
    settings.CONSOLE_EXPORT_ROW_LIMIT = 2
    _entries(org, 3)
    response = _export(_request(org), org)
    assert len(_rows(response)) == 3
    entry = AuditEntry.objects.get(action=EXPORT_ACTION)
    assert entry.after == {"filters": {"actor": "olivia"}, "rows": 2, "truncated": True}


@pytest.mark.django_db
def test_export_is_audited_with_the_exporter_and_row_count(org: Organization) -> None:
    _entries(org, 2)
    response = _export(_request(org), org)
    entry = AuditEntry.objects.get(action=EXPORT_ACTION)
    assert (entry.actor_type, entry.actor_label, entry.object_id) == ("user", "erin", "audit")
    assert entry.after == {"filters": {"actor": "olivia"}, "rows": 2, "truncated": False}
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    assert response["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("+14155550199", "+14155550199"),
        ("hello", "hello"),
        (None, ""),
    ],
)
def test_cells_that_a_spreadsheet_would_run_are_quoted(value: Any, cell: str) -> None:
    assert safe_cell(value) == cell
