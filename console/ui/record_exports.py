"""A person's record on request: operators and auditors ask for it with a reason, a worker
builds the ZIP while the page shows progress, and the file downloads until it expires."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpResponse
from django.utils import timezone

from console.access import Viewed, access_record
from console.errors import ApplicationError
from console.models import AccessKind
from console.ui.access import (
    ConsoleRequest,
    console_page,
    console_read_action,
    refusal_status,
    user_actor,
    user_viewer,
)
from console.ui.forms import PersonExportForm
from console.ui.rendering import render_page
from messaging import records_selectors
from messaging.models import ExportStatus, PersonExport
from messaging.services.person_exports import person_export_downloaded, person_export_request

RECENT_EXPORTS = 20


def person_exports_context(request: ConsoleRequest) -> dict[str, object]:
    """The recent exports the viewer may see, for the records page and its polling."""
    scope = request.console.scope
    exports = records_selectors.person_export_list(scope=scope, limit=RECENT_EXPORTS)
    return {
        "exports": exports,
        "in_progress": any(
            e.status in (ExportStatus.QUEUED, ExportStatus.RUNNING) for e in exports
        ),
        "now": timezone.now(),
    }


def _exports(request: ConsoleRequest, *, status: int = 200, **extra: object) -> HttpResponse:
    context = {**person_exports_context(request), **extra}
    return render_page(request, "console/partials/person_exports.html", context, status=status)


@console_page
def person_export_list(request: ConsoleRequest) -> HttpResponse:
    return _exports(request)


@console_read_action
def person_export_request_view(request: ConsoleRequest) -> HttpResponse:
    form = PersonExportForm(request.POST)
    if not form.is_valid():
        return _exports(request, error="Give the number and a reason.", status=422)
    organization = request.console.member_organization(form.cleaned_data["organization"])
    try:
        export = person_export_request(
            organization=organization,
            number=form.cleaned_data["number"],
            reason=form.cleaned_data["reason"],
            actor=user_actor(request),
        )
    except ApplicationError as exc:
        return _exports(request, error=exc.message, status=refusal_status(exc))
    _record(request, export, step="request")
    return _exports(request, notice=f"Building the record of {export.remote_number}.")


@console_page
def person_export_download(request: ConsoleRequest, export_id: str) -> FileResponse:
    export = records_selectors.person_export_get(scope=request.console.scope, export_id=export_id)
    if (
        export.status != ExportStatus.READY
        or not export.file
        or (export.expires_at and export.expires_at <= timezone.now())
    ):
        raise Http404("This export is not ready or has expired.")
    person_export_downloaded(export=export, actor=user_actor(request))
    _record(request, export, step="download")
    response = FileResponse(
        export.file.open("rb"),
        as_attachment=True,
        filename=f"record-{export.remote_number.lstrip('+')}-{export.created_at:%Y%m%d}.zip",
        content_type="application/zip",
    )
    response["Cache-Control"] = "private, no-store"
    return response


def _record(request: ConsoleRequest, export: PersonExport, *, step: str) -> None:
    """A person's record asked for or downloaded, with the reason given, in the access log."""
    access_record(
        viewer=user_viewer(request),
        viewed=Viewed(
            organization_id=export.organization_id,
            kind=AccessKind.PERSON_RECORD,
            object_id=export.id,
            number=export.remote_number,
        ),
        reason=export.reason,
        detail={"step": step},
    )
