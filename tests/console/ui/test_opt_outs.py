"""The console's Opt-outs page: the ledger, its filters and export, and the operator form."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from console.models import AgentIdentity, AuditEntry
from messaging.models import ConsentEvent
from messaging.services import consent
from tests.messaging.factories import ConsentEventFactory

pytestmark = pytest.mark.django_db
NUMBER = "+12025550161"
URL = "/console/opt-outs/"


def shown(
    client: Client, events: list[ConsentEvent], params: dict[str, str] | None = None
) -> set[str]:
    body = client.get(reverse("console:opt-outs"), params or {}).content.decode()
    return {e.remote_number for e in events if e.remote_number in body}


def test_the_page_lists_only_the_viewers_organisations_ledger(
    auditor_client: Client, identity: AgentIdentity, outsider_identity: AgentIdentity
) -> None:
    mine = ConsentEventFactory(identity=identity)
    foreign = ConsentEventFactory(identity=outsider_identity)

    assert shown(auditor_client, [mine, foreign]) == {mine.remote_number}


def test_the_page_filters_by_number_identity_kind_and_date(
    operator_client: Client, identity: AgentIdentity, other_identity: AgentIdentity
) -> None:
    old = ConsentEventFactory(identity=identity, created_at=timezone.now() - dt.timedelta(days=9))
    opt_in = ConsentEventFactory(identity=identity, kind="opt_in")
    other = ConsentEventFactory(identity=other_identity)
    events = [old, opt_in, other]

    assert shown(operator_client, events, {"number": old.remote_number}) == {old.remote_number}
    assert shown(operator_client, events, {"identity": other_identity.handle}) == {
        other.remote_number
    }
    assert shown(operator_client, events, {"kind": "opt_in"}) == {opt_in.remote_number}
    since = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    assert shown(operator_client, events, {"date_from": since}) == {
        opt_in.remote_number,
        other.remote_number,
    }


def test_the_list_page_reads_a_bounded_number_of_queries(
    operator_client: Client, identity: AgentIdentity, django_assert_max_num_queries
) -> None:
    for _ in range(30):
        ConsentEventFactory(identity=identity)

    with django_assert_max_num_queries(12):
        operator_client.get(reverse("console:opt-outs"))


def test_the_export_holds_the_filtered_ledger_and_is_audited(
    operator_client: Client, identity: AgentIdentity, org
) -> None:
    kept = ConsentEventFactory(identity=identity, kind="opt_in")
    ConsentEventFactory(identity=identity)

    response = operator_client.get(reverse("console:opt-outs-export"), {"kind": "opt_in"})

    body = b"".join(response.streaming_content).decode("utf-8-sig")
    lines = body.strip().splitlines()
    assert lines[0].startswith("created_at,kind,remote_number")
    assert len(lines) == 2 and kept.remote_number in lines[1]
    assert AuditEntry.objects.filter(action="export", object_id="opt-outs").exists()


def test_an_operator_records_an_opt_out_with_a_reason(
    operator_client: Client, identity: AgentIdentity
) -> None:
    response = operator_client.post(
        reverse("console:opt-out-record"),
        {"identity": identity.handle, "number": " +1 202-555-0161 ", "reason": "Asked by phone"},
    )

    assert response.status_code == 302
    event = ConsentEvent.objects.get()
    assert (event.source, event.remote_number, event.reason) == (
        "operator",
        NUMBER,
        "Asked by phone",
    )
    assert event.operator == operator_client.user  # type: ignore[attr-defined]
    assert consent.is_opted_out(identity=identity, number=NUMBER)
    assert AuditEntry.objects.filter(action="consent.opt_out", actor_label="olivia").exists()


def test_recording_needs_a_reason(operator_client: Client, identity: AgentIdentity) -> None:
    response = operator_client.post(
        reverse("console:opt-out-record"), {"identity": identity.handle, "number": NUMBER}
    )

    assert response.status_code == 422
    assert not ConsentEvent.objects.exists()


def test_an_auditor_sees_no_form_and_a_forged_post_is_refused(
    auditor_client: Client, identity: AgentIdentity
) -> None:
    body = auditor_client.get(reverse("console:opt-outs")).content.decode()
    assert "Record opt-out" not in body

    response = auditor_client.post(
        reverse("console:opt-out-record"),
        {"identity": identity.handle, "number": NUMBER, "reason": "x"},
    )

    assert response.status_code == 403
    assert not ConsentEvent.objects.exists()


def test_an_operator_cannot_record_for_another_organisations_identity(
    operator_client: Client, outsider_identity: AgentIdentity
) -> None:
    response = operator_client.post(
        reverse("console:opt-out-record"),
        {"identity": outsider_identity.handle, "number": NUMBER, "reason": "x"},
    )

    assert response.status_code == 422  # not among the viewer's identities
    assert not ConsentEvent.objects.exists()
