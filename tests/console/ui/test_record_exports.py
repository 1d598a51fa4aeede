"""A person's record from the console: requested with a reason (auditors too), built by a
worker with progress, downloaded while fresh, audited, gone after it expires."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from console.models import AgentIdentity, AuditEntry, Organization
from messaging.models import ExportStatus, PersonExport
from messaging.services.person_exports import person_export_build, person_exports_sweep
from tests.console.ui.conftest import htmx
from tests.messaging.factories import MessageFactory

pytestmark = pytest.mark.django_db
PERSON = "+14155550199"


def _request(client: Client, org: Organization, **fields: str) -> Any:
    data = {"organization": str(org.id), "number": "(415) 555-0199", "reason": "Patient asked"}
    return client.post(reverse("console:records-export-request"), {**data, **fields}, **htmx())


def _built(client: Client, org: Organization, capture: Any) -> PersonExport:
    with capture(execute=False) as callbacks:
        response = _request(client, org)
    assert response.status_code == 200, response.content
    export = PersonExport.objects.get()
    assert len(callbacks) == 1
    person_export_build(export_id=str(export.id))
    export.refresh_from_db()
    return export


def test_an_auditor_requests_a_record_and_downloads_the_zip(
    auditor_client: Client,
    org: Organization,
    identity: AgentIdentity,
    django_capture_on_commit_callbacks: Any,
) -> None:
    MessageFactory(
        conversation__identity=identity, conversation__remote_number=PERSON, content="Hi"
    )
    export = _built(auditor_client, org, django_capture_on_commit_callbacks)

    assert (export.status, export.progress, export.requested_by) == ("ready", 100, "arthur")
    response = auditor_client.get(reverse("console:records-export-download", args=[export.id]))

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    body = b"".join(response.streaming_content)
    record = json.loads(zipfile.ZipFile(io.BytesIO(body)).read("record.json"))
    assert record["conversations"][0]["messages"][0]["content"] == "Hi"
    actions = list(AuditEntry.objects.values_list("action", flat=True))
    assert {"person_record.request", "person_record.download"} <= set(actions)


def test_a_request_without_a_reason_is_refused(operator_client: Client, org: Organization) -> None:
    response = _request(operator_client, org, reason="")

    assert response.status_code == 422
    assert not PersonExport.objects.exists()


def test_the_list_polls_while_a_build_runs_and_stops_when_done(
    operator_client: Client, org: Organization, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        running = _request(operator_client, org)
    assert b'hx-trigger="every 2s"' in running.content

    person_export_build(export_id=str(PersonExport.objects.get().id))
    done = operator_client.get(reverse("console:records-exports"), **htmx())

    assert b"every 2s" not in done.content
    assert b"Download ZIP" in done.content


def test_a_build_runs_once_even_when_its_job_is_delivered_twice(
    operator_client: Client, org: Organization, django_capture_on_commit_callbacks: Any
) -> None:
    export = _built(operator_client, org, django_capture_on_commit_callbacks)
    name = export.file.name

    person_export_build(export_id=str(export.id))

    export.refresh_from_db()
    assert export.file.name == name


def test_an_expired_export_is_deleted_and_no_longer_downloads(
    operator_client: Client, org: Organization, django_capture_on_commit_callbacks: Any
) -> None:
    export = _built(operator_client, org, django_capture_on_commit_callbacks)
    storage, name = export.file.storage, export.file.name
    PersonExport.objects.filter(pk=export.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )

    swept = person_exports_sweep()

    assert swept.expired == 1
    assert not storage.exists(name)
    export.refresh_from_db()
    assert export.status == ExportStatus.EXPIRED
    url = reverse("console:records-export-download", args=[export.id])
    assert operator_client.get(url).status_code == 404


def test_another_organisations_export_is_404(
    outsider_operator_client: Client,
    operator_client: Client,
    org: Organization,
    django_capture_on_commit_callbacks: Any,
) -> None:
    export = _built(operator_client, org, django_capture_on_commit_callbacks)
    url = reverse("console:records-export-download", args=[export.id])

    assert outsider_operator_client.get(url).status_code == 404


def test_a_request_for_an_organisation_the_viewer_is_not_in_is_404(
    outsider_operator_client: Client, org: Organization
) -> None:
    assert _request(outsider_operator_client, org).status_code == 404
    assert not PersonExport.objects.exists()
