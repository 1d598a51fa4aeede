"""The provider webhook intake: `POST /api/v1/provider-webhooks/{setup_id}[/{type}]`.

A plain Django view rather than DRF: the rejection must be byte-for-byte identical for
an unknown setup, a malformed id and a bad secret, and the body must be read raw (size
checked first, JSON parsed by the service, which records even malformed bodies).

A failure answers 5xx so that the provider delivers the event again: 503 while the database
is unreachable (also when it fails before authentication, through the API middleware).
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from console.api.server_errors import api_error_response
from console.http import declared_content_length
from provisioning.selectors import setup_for_webhook
from provisioning.services.intake import provider_event_receive

logger = logging.getLogger(__name__)

SIGNING_SECRET_HEADER = "sb-signing-secret"
REJECTION_BODY = (
    b'{"detail":{"error":"unauthorized","message":"Unknown webhook or invalid signing secret."}}'
)
TOO_LARGE_BODY = b'{"detail":{"error":"payload_too_large","message":"Request body is too large."}}'
UNSUPPORTED_BODY = (
    b'{"detail":{"error":"unsupported_media_type","message":"Send application/json."}}'
)


def _json(body: bytes, status: int) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="application/json")


@method_decorator(csrf_exempt, name="dispatch")
class ProviderWebhookView(View):
    http_method_names = ["post"]

    def post(
        self,
        request: HttpRequest,
        setup_id: str,
        event_type: str | None = None,
        message_ref: str | None = None,
    ) -> HttpResponse:
        # Refuse before reading a byte: the size is checked ahead of authentication so
        # that an oversized body is never buffered, whoever sends it.
        if declared_content_length(request.META) > settings.PROVIDER_WEBHOOK_MAX_BYTES:
            return _json(TOO_LARGE_BODY, 413)
        setup = setup_for_webhook(
            setup_id=setup_id, presented_secret=request.headers.get(SIGNING_SECRET_HEADER)
        )
        if setup is None:
            return _json(REJECTION_BODY, 401)
        content_type = (request.content_type or "").lower()
        if (
            content_type
            and content_type != "application/json"
            and not content_type.endswith("+json")
        ):
            return _json(UNSUPPORTED_BODY, 415)
        raw = request.read(settings.PROVIDER_WEBHOOK_MAX_BYTES + 1)
        if len(raw) > settings.PROVIDER_WEBHOOK_MAX_BYTES:
            return _json(TOO_LARGE_BODY, 413)
        try:
            result = provider_event_receive(
                setup=setup, event_type_hint=event_type, raw_body=raw, message_ref=message_ref
            )
        except Exception as exc:
            # Not recorded: the provider re-delivers and the event gets another chance
            # (503 with Retry-After while the database is away, 500 otherwise).
            logger.exception("setup %s: provider webhook handler failed", setup.id)
            return api_error_response(exc)
        # The bytes JsonResponse would write, without its encoder class and copy.
        answer = {
            "status": "duplicate" if result.duplicate else "ok",
            "event_id": result.provider_event.id,
        }
        return _json(json.dumps(answer).encode(), 200)
