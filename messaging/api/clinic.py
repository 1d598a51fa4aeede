"""Clinic safety in the agent API: staff takeover (`/conversations/{id}/handoff`) and the
consent ledger (`/opt-outs`). Extra endpoints only: every existing shape is unchanged."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from console.api.authentication import caller_key
from console.api.params import parse_bool, parse_limit_offset, parse_uuid
from console.api.permissions import KeyedApiView
from console.api.schema import documented
from console.errors import Forbidden, ValidationFailed
from console.services import Actor
from messaging import selectors
from messaging.api import serializers as s
from messaging.consent_selectors import ConsentFilters, consent_event_list, consent_event_wire
from messaging.models import ConsentKind, HandledBy
from messaging.services import handoff
from messaging.wire import conversation_wire

ADMIN_KEYS_ONLY = "identity-scoped keys: only an organisation admin key hands conversations over"


class HandoffInputSerializer(serializers.Serializer[dict[str, Any]]):
    to = serializers.ChoiceField(choices=HandledBy.choices)


class ConsentEventSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=ConsentKind.choices)
    remote_number = serializers.CharField()
    agent_identity_id = serializers.UUIDField()
    agent_handle = serializers.CharField()
    # A DRF field named `source` shadows Field.source for mypy only (the metaclass takes it).
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="keyword (the person texted it) or operator"
    )
    keyword = serializers.CharField(allow_null=True)
    operator = serializers.CharField(allow_null=True)
    source_message_id = serializers.UUIDField(allow_null=True)
    reason = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class ConversationHandoffApi(KeyedApiView):
    @extend_schema(
        request=HandoffInputSerializer,
        responses=documented(
            {
                200: s.ConversationSerializer,
                400: "invalid `to`",
                403: ADMIN_KEYS_ONLY,
                404: "unknown conversation",
                409: "group conversations cannot be handed over",
            }
        ),
        operation_id="imessage_conversations_handoff",
    )
    def post(self, request: Request, conversation_id: uuid.UUID) -> Response:
        key = caller_key(request)
        conversation = selectors.conversation_get(key=key, conversation_id=conversation_id)
        if not key.is_admin:
            raise Forbidden("Only admin keys can hand conversations over.")
        data = HandoffInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changed = handoff.conversation_handoff(
            conversation=conversation, to=data.validated_data["to"], actor=Actor.for_api_key(key)
        )
        return Response(conversation_wire(changed))


class OptOutListApi(KeyedApiView):
    @extend_schema(
        parameters=[
            OpenApiParameter("limit", OpenApiTypes.INT, required=False, description="1-200"),
            OpenApiParameter("offset", OpenApiTypes.INT, required=False),
            OpenApiParameter("agent_identity_id", OpenApiTypes.UUID, required=False),
            OpenApiParameter("remote_number", OpenApiTypes.STR, required=False),
            OpenApiParameter("kind", OpenApiTypes.STR, required=False, enum=["opt_out", "opt_in"]),
            OpenApiParameter(
                "current",
                OpenApiTypes.BOOL,
                required=False,
                description="true: only opt-outs still in force",
            ),
        ],
        responses=documented({200: ConsentEventSerializer(many=True), 400: "invalid filter"}),
        operation_id="imessage_opt_outs_list",
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        limit, offset = parse_limit_offset(params)
        kind = params.get("kind") or ""
        if kind and kind not in ConsentKind.values:
            raise ValidationFailed(
                "kind: must be opt_out or opt_in",
                extra={"fields": {"kind": ["must be opt_out or opt_in"]}},
            )
        scope = selectors.key_scope(
            key=caller_key(request), agent_identity_id=parse_uuid(params, "agent_identity_id")
        )
        rows = consent_event_list(
            scope=scope,
            filters=ConsentFilters(
                number=params.get("remote_number") or "",
                kind=kind,
                current=parse_bool(params, "current") is True,
            ),
        )
        return Response([consent_event_wire(e) for e in rows[offset : offset + limit]])
