"""Identities API (contract §4): `/api/v1/identities/` and `/api/v1/identities/{handle}`."""

from __future__ import annotations

import json
import re
from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from console import identities
from console.api.authentication import caller_key
from console.api.params import parse_limit_offset
from console.api.permissions import KeyedApiView
from console.api.schema import ADMIN_KEYS_ONLY, INVENTORY_PENDING, UNKNOWN_HANDLE, documented
from console.errors import ApplicationError, Forbidden, ValidationFailed
from console.idempotency import fingerprint
from console.models import HANDLE_PATTERN, AgentIdentity, ApiKey
from console.selectors import identity_get_for_key, identity_list_for_key
from console.services import Actor
from console.timestamps import iso
from messaging.models import QuietHours
from messaging.services import quiet_hours
from messaging.services.quiet_hours import quiet_hours_wire
from provisioning.models import LineRole, LineState, PhoneLine

UNSUPPORTED_CREATE_FIELDS = ("mailbox", "tunnel", "phone_number", "vault_secret_ids")
FILTER_MODES = ("blacklist", "whitelist")
_HANDLE_RE = re.compile(HANDLE_PATTERN)
HANDLE_RULES = "Handles are 3-63 characters of lowercase letters, digits and hyphens."


class UnsupportedFeature(ApplicationError):
    code = "unsupported_feature"


def clean_handle(raw: Any) -> str:
    """Strip one leading `@`; the rest must already follow the handle rules."""
    if not isinstance(raw, str):
        raise identities.field_error("agent_handle", HANDLE_RULES)
    handle = raw[1:] if raw.startswith("@") else raw
    if not _HANDLE_RE.match(handle):
        raise identities.field_error("agent_handle", HANDLE_RULES)
    return handle


# --- Wire shape -------------------------------------------------------------------


def identity_queryset(qs: QuerySet[AgentIdentity]) -> QuerySet[AgentIdentity]:
    """Everything the wire shape reads, in at most two extra queries for any list size."""
    lines = PhoneLine.objects.filter(
        role=LineRole.DEDICATED, state=LineState.ASSIGNED, released_at__isnull=True
    ).order_by("assigned_at", "id")
    return qs.select_related("organization", "signing_key", "quiet_hours").prefetch_related(
        Prefetch("dedicated_lines", queryset=lines, to_attr="attached_lines")
    )


def identity_wire(identity: AgentIdentity) -> dict[str, Any]:
    signing_key = getattr(identity, "signing_key", None) if _has_signing_key(identity) else None
    lines = getattr(identity, "attached_lines", None)
    if lines is None:
        lines = list(
            identity.dedicated_lines.filter(
                role=LineRole.DEDICATED, state=LineState.ASSIGNED, released_at__isnull=True
            )
        )
    line = lines[0] if lines else None
    return {
        "id": str(identity.id),
        "organization_id": identity.organization.public_id,
        "agent_handle": identity.handle,
        "display_name": identity.display_name,
        "description": identity.description,
        "email_address": None,
        "imessage_enabled": identity.imessage_enabled,
        "contact_sharing_enabled": identity.contact_sharing_enabled,
        # Extra field: what HELP or INFO answers ("" gives the default text).
        "consent_help_text": identity.consent_help_text,
        "imessage_filter_mode": identity.imessage_filter_mode,
        "phone_filter_mode": identity.imessage_filter_mode,
        "phone_inbound_filter_mode": identity.inbound_filter_mode,
        "phone_outbound_filter_mode": identity.outbound_filter_mode,
        "signing_key_configured": signing_key is not None,
        "signing_key_created_at": iso(signing_key.created_at) if signing_key else None,
        "imessage_number": (
            {"id": str(line.id), "number": line.number, "type": "dedicated_outbound"}
            if line is not None
            else None
        ),
        "mailbox": None,
        "phone_number": None,
        "tunnel": None,
        "quiet_hours": quiet_hours_wire(_quiet_hours(identity)),
        "created_at": iso(identity.created_at),
        "updated_at": iso(identity.updated_at),
    }


def _quiet_hours(identity: AgentIdentity) -> QuietHours | None:
    try:
        quiet: QuietHours = identity.quiet_hours
    except QuietHours.DoesNotExist:
        return None
    return quiet


def _has_signing_key(identity: AgentIdentity) -> bool:
    # The reverse one-to-one raises when no key row exists.
    return hasattr(identity, "signing_key")


class IdentityOutputSerializer(serializers.Serializer[AgentIdentity]):
    id = serializers.UUIDField()
    organization_id = serializers.CharField()
    agent_handle = serializers.CharField()
    display_name = serializers.CharField(allow_null=True)
    description = serializers.CharField(allow_null=True)
    email_address = serializers.CharField(allow_null=True)
    imessage_enabled = serializers.BooleanField()
    contact_sharing_enabled = serializers.BooleanField()
    consent_help_text = serializers.CharField(allow_blank=True)
    imessage_filter_mode = serializers.ChoiceField(choices=FILTER_MODES)
    phone_filter_mode = serializers.ChoiceField(choices=FILTER_MODES)
    phone_inbound_filter_mode = serializers.ChoiceField(choices=FILTER_MODES)
    phone_outbound_filter_mode = serializers.ChoiceField(choices=FILTER_MODES)
    signing_key_configured = serializers.BooleanField()
    signing_key_created_at = serializers.DateTimeField(allow_null=True)
    imessage_number = serializers.DictField(allow_null=True)
    quiet_hours = serializers.DictField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def to_representation(self, instance: AgentIdentity) -> dict[str, Any]:
        return identity_wire(instance)


class IdentityCreateInputSerializer(serializers.Serializer[dict[str, Any]]):
    agent_handle = serializers.CharField()
    display_name = serializers.CharField(required=False, max_length=200)
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    imessage_enabled = serializers.BooleanField(required=False, default=False)
    contact_sharing_enabled = serializers.BooleanField(required=False, default=True)
    claim_imessage_number = serializers.BooleanField(required=False)


class IdentityUpdateInputSerializer(serializers.Serializer[dict[str, Any]]):
    display_name = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=200
    )
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    imessage_enabled = serializers.BooleanField(required=False)
    contact_sharing_enabled = serializers.BooleanField(required=False)
    consent_help_text = serializers.CharField(
        required=False, allow_blank=True, max_length=480, trim_whitespace=True
    )
    imessage_number_id = serializers.UUIDField(required=False, allow_null=True)
    claim_imessage_number = serializers.BooleanField(required=False)
    imessage_filter_mode = serializers.ChoiceField(choices=FILTER_MODES, required=False)
    phone_filter_mode = serializers.ChoiceField(choices=FILTER_MODES, required=False)
    phone_inbound_filter_mode = serializers.ChoiceField(choices=FILTER_MODES, required=False)
    phone_outbound_filter_mode = serializers.ChoiceField(choices=FILTER_MODES, required=False)
    # {"start": "HH:MM", "end": "HH:MM", "timezone": IANA, "auto_reply"?: text} or null;
    # checked by messaging.services.quiet_hours (admin keys only).
    quiet_hours = serializers.JSONField(required=False, allow_null=True)


def _reject_unsupported(body: dict[str, Any], *, update: bool) -> None:
    names = [n for n in UNSUPPORTED_CREATE_FIELDS if n in body]
    if update:
        names += [n for n in body if n.startswith(("mail_", "slack_"))]
    if names:
        raise UnsupportedFeature(
            f"Not supported on this platform: {', '.join(sorted(names))}.",
            extra={"fields": sorted(names)},
        )


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ValidationFailed("The request body must be a JSON object.")
    return dict(request.data)


def _claim_fingerprint(body: dict[str, Any]) -> str:
    return fingerprint(body)


def _fetch(identity: AgentIdentity) -> AgentIdentity:
    return identity_queryset(AgentIdentity.objects.filter(pk=identity.pk)).get()


def _quiet_hours_change(
    key: ApiKey, values: dict[str, Any]
) -> tuple[quiet_hours.QuietHoursValue | None] | None:
    """The validated `quiet_hours` of a PATCH as a 1-tuple (None: not in the body), checked
    before anything is written; only admin keys may change them."""
    if "quiet_hours" not in values:
        return None
    if not key.is_admin:
        raise Forbidden("Only admin keys can change quiet hours.")
    return (quiet_hours.quiet_hours_parse(values["quiet_hours"]),)


# --- Views ----------------------------------------------------------------------------


class IdentityListCreateApi(KeyedApiView):
    @extend_schema(
        responses={200: IdentityOutputSerializer(many=True)}, operation_id="identities_list"
    )
    def get(self, request: Request) -> Response:
        limit, offset = parse_limit_offset(request.query_params, default_limit=200)
        qs = identity_queryset(identity_list_for_key(key=caller_key(request)).order_by("handle"))
        return Response([identity_wire(i) for i in qs[offset : offset + limit]])

    @extend_schema(
        request=IdentityCreateInputSerializer,
        responses=documented(
            {
                201: IdentityOutputSerializer,
                400: "invalid handle or unsupported_feature",
                403: "identity-scoped keys cannot create identities",
                409: "agent_handle_unavailable",
            }
        ),
        operation_id="identities_create",
    )
    def post(self, request: Request) -> Response:
        key = caller_key(request)
        if not key.is_admin:
            raise Forbidden("Identity-scoped keys cannot create identities.")
        body = _body(request)
        _reject_unsupported(body, update=False)
        handle = clean_handle(body.get("agent_handle"))
        data = IdentityCreateInputSerializer(data={**body, "agent_handle": handle})
        data.is_valid(raise_exception=True)
        outcome = identities.identity_register(
            organization=key.organization,
            actor=Actor.for_api_key(key),
            handle=handle,
            values=data.validated_data,
            idempotency_key=request.headers.get("Idempotency-Key"),
            fingerprint=_claim_fingerprint(body),
        )
        notices = [notice.wire() for notice in outcome.notices]
        body_out = identity_wire(_fetch(outcome.identity))
        headers = {}
        if notices:
            body_out["notices"] = notices
            headers["Inkbox-Notices"] = json.dumps(notices, separators=(",", ":"))
        return Response(body_out, status=status.HTTP_201_CREATED, headers=headers)


class IdentityDetailApi(KeyedApiView):
    @extend_schema(responses={200: IdentityOutputSerializer}, operation_id="identities_get")
    def get(self, request: Request, handle: str) -> Response:
        identity = identity_get_for_key(key=caller_key(request), handle=handle)
        return Response(identity_wire(_fetch(identity)))

    @extend_schema(
        request=IdentityUpdateInputSerializer,
        responses=documented(
            {
                200: IdentityOutputSerializer,
                400: "validation_error or unsupported_feature",
                403: "filter modes and quiet hours need an admin key",
                404: UNKNOWN_HANDLE,
                409: "idempotency_key_reused",
                503: INVENTORY_PENDING,
            }
        ),
        operation_id="identities_update",
    )
    def patch(self, request: Request, handle: str) -> Response:
        key = caller_key(request)
        identity = identity_get_for_key(key=key, handle=handle)
        body = _body(request)
        _reject_unsupported(body, update=True)
        data = IdentityUpdateInputSerializer(data=body)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        quiet = _quiet_hours_change(key, values)
        identities.identity_update(
            identity=identity,
            actor=Actor.for_api_key(key),
            changes=values,
            filter_modes_allowed=key.is_admin,
            idempotency_key=request.headers.get("Idempotency-Key"),
            fingerprint=_claim_fingerprint(body),
        )
        if quiet is not None:
            quiet_hours.quiet_hours_set(
                identity=identity, actor=Actor.for_api_key(key), value=quiet[0]
            )
        return Response(identity_wire(_fetch(identity)))

    @extend_schema(
        responses=documented({204: None, 403: ADMIN_KEYS_ONLY}),
        operation_id="identities_delete",
    )
    def delete(self, request: Request, handle: str) -> Response:
        key = caller_key(request)
        identity = identity_get_for_key(key=key, handle=handle)
        if not key.is_admin:
            raise Forbidden("Only admin keys can delete identities.")
        identities.identity_archive(identity=identity, actor=Actor.for_api_key(key))
        return Response(status=status.HTTP_204_NO_CONTENT)
