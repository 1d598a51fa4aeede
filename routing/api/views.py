"""Routing API views: triage number, assignments, dedicated numbers, contact rules."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from console.api.authentication import caller_key
from console.api.params import parse_limit_offset, parse_uuid
from console.api.permissions import KeyedApiView
from console.api.schema import ADMIN_KEYS_ONLY, INVENTORY_PENDING, UNKNOWN_HANDLE, documented
from console.errors import Forbidden, NotFound, ValidationFailed
from console.idempotency import fingerprint, validate_key
from console.models import ApiKey
from console.selectors import identity_get_by_id_for_key, identity_get_for_key
from console.services import Actor
from provisioning.models import LineState
from provisioning.services import claims
from routing import selectors
from routing.api.serializers import (
    AssignmentOutputSerializer,
    ContactRuleCreateInputSerializer,
    ContactRuleOutputSerializer,
    ContactRuleUpdateInputSerializer,
    NumberClaimInputSerializer,
    NumberOutputSerializer,
    TriageNumberOutputSerializer,
)
from routing.models import ReleaseReason, RuleAction, RuleDirection
from routing.services import assignments, contact_rules

RULE_FILTERS = {
    "action": {a.value for a in RuleAction},
    "match_type": {"exact_number"},
    "direction": {d.value for d in RuleDirection},
}


def _rules_wire(rules: Any) -> list[dict[str, Any]]:
    serializer = ContactRuleOutputSerializer()
    return [serializer.to_representation(r) for r in rules]


def _path_uuid(raw: str, message: str) -> uuid.UUID:
    # Path ids arrive verbatim from the SDK; a malformed one is simply not found.
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(message) from None


def _require_admin(key: ApiKey, what: str) -> None:
    if not key.is_admin:
        raise Forbidden(f"Only admin keys can {what}.")


def _rule_filters(params: Any) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name, allowed in RULE_FILTERS.items():
        value = params.get(name) or None
        if value is not None and value not in allowed:
            raise ValidationFailed(
                f"{name}: must be one of {sorted(allowed)}",
                extra={"fields": {name: [f"must be one of {sorted(allowed)}"]}},
            )
        out[name] = value
    return out


# --- Triage -------------------------------------------------------------------------


class TriageNumberApi(KeyedApiView):
    @extend_schema(
        parameters=[OpenApiParameter("agent_identity_id", str, required=False)],
        responses=documented({200: TriageNumberOutputSerializer, 404: "no active router line"}),
        operation_id="imessage_triage_number",
    )
    def get(self, request: Request) -> Response:
        key = caller_key(request)
        handle = None
        if key.identity is not None:
            handle = key.identity.handle
        elif (identity_id := parse_uuid(request.query_params, "agent_identity_id")) is not None:
            handle = identity_get_by_id_for_key(key=key, identity_id=identity_id).handle
        info = selectors.triage_info(handle=handle)
        if info is None:
            raise NotFound("No triage number is active.", code="no_triage_number")
        return Response({"number": info.number, "connect_command": info.connect_command})


# --- Assignments ----------------------------------------------------------------------


class AssignmentListApi(KeyedApiView):
    @extend_schema(
        parameters=[
            OpenApiParameter("limit", int, required=False),
            OpenApiParameter("offset", int, required=False),
            OpenApiParameter("agent_identity_id", str, required=False),
        ],
        responses={200: AssignmentOutputSerializer(many=True)},
        operation_id="imessage_assignments_list",
    )
    def get(self, request: Request) -> Response:
        key = caller_key(request)
        limit, offset = parse_limit_offset(request.query_params)
        identity_id = parse_uuid(request.query_params, "agent_identity_id")
        qs = selectors.assignment_list_for_key(key=key, agent_identity_id=identity_id)
        rows = qs[offset : offset + limit]
        return Response([AssignmentOutputSerializer().to_representation(a) for a in rows])


class AssignmentReleaseApi(KeyedApiView):
    @extend_schema(
        responses=documented(
            {204: None, 403: "identity-scoped keys", 404: "unknown or already released"}
        ),
        operation_id="imessage_assignments_release",
    )
    def delete(self, request: Request, assignment_id: str) -> Response:
        key = caller_key(request)
        _require_admin(key, "release connections")
        assignment = selectors.assignment_get_active_for_org(
            key=key,
            assignment_id=_path_uuid(assignment_id, selectors.ASSIGNMENT_NOT_FOUND),
        )
        if not assignments.assignment_release(
            assignment=assignment, actor=Actor.for_api_key(key), reason=ReleaseReason.AGENT
        ):
            raise NotFound(selectors.ASSIGNMENT_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Dedicated numbers -----------------------------------------------------------------


class NumberListClaimApi(KeyedApiView):
    @extend_schema(
        responses={200: NumberOutputSerializer(many=True)}, operation_id="imessage_numbers_list"
    )
    def get(self, request: Request) -> Response:
        key = caller_key(request)
        lines = (
            claims.dedicated_lines_for_org(key.organization)
            .filter(state=LineState.ASSIGNED)
            .select_related("identity")
            .order_by("assigned_at", "id")
        )
        serializer = NumberOutputSerializer()
        return Response([serializer.to_representation(line) for line in lines])

    @extend_schema(
        request=NumberClaimInputSerializer,
        responses=documented(
            {
                201: NumberOutputSerializer,
                402: "dedicated_imessage_number_quota_exceeded",
                404: "setup_id names no setup of the organisation",
                409: "idempotency_key_reused, no_default_setup or setup_not_active",
                503: INVENTORY_PENDING,
            }
        ),
        operation_id="imessage_numbers_claim",
    )
    def post(self, request: Request) -> Response:
        key = caller_key(request)
        _require_admin(key, "claim dedicated numbers")
        body = request.data if isinstance(request.data, dict) else {}
        data = NumberClaimInputSerializer(data=body)
        data.is_valid(raise_exception=True)
        idem_key = request.headers.get("Idempotency-Key")
        if not idem_key:
            raise ValidationFailed(
                "Idempotency-Key header is required.",
                extra={"fields": {"Idempotency-Key": ["required"]}},
            )
        line = claims.dedicated_number_claim(
            organization=key.organization,
            actor=Actor.for_api_key(key),
            key=validate_key(idem_key),
            fingerprint=fingerprint(body),
            setup_id=data.validated_data.get("setup_id"),
        )
        return Response(NumberOutputSerializer(line).data, status=status.HTTP_201_CREATED)


# --- Contact rules -------------------------------------------------------------------------

# The 409 of a rule create or update whose coverage another rule already has.
DUPLICATE_COVERAGE = "duplicate coverage, with existing_rule_id"

# The filters and paging of both rule lists (one identity's, the organisation's).
RULE_LIST_PARAMS = [
    OpenApiParameter("action", str, required=False),
    OpenApiParameter("match_type", str, required=False),
    OpenApiParameter("direction", str, required=False),
    OpenApiParameter("limit", int, required=False),
    OpenApiParameter("offset", int, required=False),
]


class ContactRuleListCreateApi(KeyedApiView):
    @extend_schema(
        parameters=RULE_LIST_PARAMS,
        responses={200: ContactRuleOutputSerializer(many=True)},
        operation_id="imessage_contact_rules_list",
    )
    def get(self, request: Request, handle: str) -> Response:
        key = caller_key(request)
        identity = identity_get_for_key(key=key, handle=handle)
        limit, offset = parse_limit_offset(request.query_params)
        qs = selectors.contact_rule_list(
            organization_id=key.organization_id,
            identity_id=identity.id,
            **_rule_filters(request.query_params),
        )
        return Response(_rules_wire(qs[offset : offset + limit]))

    @extend_schema(
        request=ContactRuleCreateInputSerializer,
        responses=documented(
            {
                201: ContactRuleOutputSerializer,
                400: "invalid number or enum",
                404: UNKNOWN_HANDLE,
                409: DUPLICATE_COVERAGE,
            }
        ),
        operation_id="imessage_contact_rules_create",
    )
    def post(self, request: Request, handle: str) -> Response:
        key = caller_key(request)
        identity = identity_get_for_key(key=key, handle=handle)
        data = ContactRuleCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rule = contact_rules.contact_rule_create(
            identity=identity, actor=Actor.for_api_key(key), **data.validated_data
        )
        return Response(ContactRuleOutputSerializer(rule).data, status=status.HTTP_201_CREATED)


class ContactRuleDetailApi(KeyedApiView):
    def _rule(self, request: Request, handle: str, rule_id: str) -> Any:
        identity = identity_get_for_key(key=caller_key(request), handle=handle)
        return selectors.contact_rule_get(
            identity=identity, rule_id=_path_uuid(rule_id, selectors.RULE_NOT_FOUND)
        )

    @extend_schema(
        responses={200: ContactRuleOutputSerializer}, operation_id="imessage_contact_rules_get"
    )
    def get(self, request: Request, handle: str, rule_id: str) -> Response:
        return Response(ContactRuleOutputSerializer(self._rule(request, handle, rule_id)).data)

    @extend_schema(
        request=ContactRuleUpdateInputSerializer,
        responses=documented(
            {
                200: ContactRuleOutputSerializer,
                400: "invalid combination",
                409: DUPLICATE_COVERAGE,
            }
        ),
        operation_id="imessage_contact_rules_update",
    )
    def patch(self, request: Request, handle: str, rule_id: str) -> Response:
        rule = self._rule(request, handle, rule_id)
        data = ContactRuleUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = contact_rules.contact_rule_update(
            rule=rule, actor=Actor.for_api_key(caller_key(request)), **data.validated_data
        )
        return Response(ContactRuleOutputSerializer(result).data)

    @extend_schema(
        responses=documented({204: None, 403: ADMIN_KEYS_ONLY}),
        operation_id="imessage_contact_rules_delete",
    )
    def delete(self, request: Request, handle: str, rule_id: str) -> Response:
        key = caller_key(request)
        rule = self._rule(request, handle, rule_id)
        _require_admin(key, "delete contact rules")
        contact_rules.contact_rule_delete(rule=rule, actor=Actor.for_api_key(key))
        return Response(status=status.HTTP_204_NO_CONTENT)


class OrgContactRuleListApi(KeyedApiView):
    @extend_schema(
        parameters=[
            OpenApiParameter("agent_identity_id", str, required=False),
            *RULE_LIST_PARAMS,
        ],
        responses=documented({200: ContactRuleOutputSerializer(many=True), 403: ADMIN_KEYS_ONLY}),
        operation_id="imessage_contact_rules_list_all",
    )
    def get(self, request: Request) -> Response:
        key = caller_key(request)
        _require_admin(key, "list every contact rule")
        limit, offset = parse_limit_offset(request.query_params)
        qs = selectors.contact_rule_list(
            organization_id=key.organization_id,
            identity_id=parse_uuid(request.query_params, "agent_identity_id"),
            **_rule_filters(request.query_params),
        )
        return Response(_rules_wire(qs[offset : offset + limit]))
