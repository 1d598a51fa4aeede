"""Setups API (admin keys only): create, list, detail, mark default, add a line."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.authentication import caller_key
from console.api.params import parse_limit_offset
from console.api.permissions import IsAdminKey
from console.api.schema import IDEMPOTENCY_KEY_PARAM, object_errors
from console.errors import ValidationFailed
from console.idempotency import validate_key
from console.services import Actor
from provisioning import selectors
from provisioning.api.serializers import (
    LineAddInputSerializer,
    PhoneLineOutputSerializer,
    SetupCreateInputSerializer,
    SetupListItemSerializer,
    SetupOutputSerializer,
    SetupUpdateInputSerializer,
)
from provisioning.models import SetupStatus
from provisioning.services import lines, setups

ERROR_RESPONSES = object_errors(400, 401, 403)


class SetupListCreateApi(APIView):
    permission_classes = [IsAdminKey]

    @extend_schema(
        operation_id="imessage_setups_list",
        parameters=[
            OpenApiParameter("status", str, enum=SetupStatus.values),
            OpenApiParameter("search", str, description="Substring of the label"),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses={200: SetupListItemSerializer(many=True), **ERROR_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        key = caller_key(request)
        limit, offset = parse_limit_offset(request.query_params)
        status_filter = request.query_params.get("status") or None
        if status_filter is not None and status_filter not in SetupStatus.values:
            raise ValidationFailed(
                f"status: must be one of {', '.join(SetupStatus.values)}",
                extra={"fields": {"status": ["invalid choice"]}},
            )
        setups = selectors.setup_list(
            organization=key.organization,
            status=status_filter,
            search=request.query_params.get("search") or None,
        )[offset : offset + limit]
        return Response(SetupListItemSerializer(setups, many=True).data)

    @extend_schema(
        operation_id="imessage_setups_create",
        request=SetupCreateInputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAM],
        responses={201: SetupOutputSerializer, **object_errors(409, 415, 502), **ERROR_RESPONSES},
    )
    def post(self, request: Request) -> Response:
        key = caller_key(request)
        data = SetupCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        idempotency_key = request.headers.get("Idempotency-Key")
        setup = setups.setup_create(
            organization=key.organization,
            business_name=data.validated_data["business_name"],
            label=data.validated_data["label"],
            actor=Actor.for_api_key(key),
            idempotency_key=None if idempotency_key is None else validate_key(idempotency_key),
        )
        setup = selectors.setup_get(organization=key.organization, setup_id=setup.id)
        return Response(SetupOutputSerializer(setup).data, status=status.HTTP_201_CREATED)


class SetupDetailApi(APIView):
    permission_classes = [IsAdminKey]

    @extend_schema(
        operation_id="imessage_setups_retrieve",
        responses={200: SetupOutputSerializer, 404: OpenApiTypes.OBJECT, **ERROR_RESPONSES},
    )
    def get(self, request: Request, setup_id: str) -> Response:
        key = caller_key(request)
        setup = selectors.setup_get(organization=key.organization, setup_id=setup_id)
        return Response(SetupOutputSerializer(setup).data)

    @extend_schema(
        operation_id="imessage_setups_update",
        request=SetupUpdateInputSerializer,
        responses={200: SetupOutputSerializer, 404: OpenApiTypes.OBJECT, **ERROR_RESPONSES},
    )
    def patch(self, request: Request, setup_id: str) -> Response:
        key = caller_key(request)
        setup = selectors.setup_get(organization=key.organization, setup_id=setup_id)
        data = SetupUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        setups.setup_default_set(setup=setup, actor=Actor.for_api_key(key))
        setup = selectors.setup_get(organization=key.organization, setup_id=setup.id)
        return Response(SetupOutputSerializer(setup).data)


class SetupLineAddApi(APIView):
    permission_classes = [IsAdminKey]

    @extend_schema(
        operation_id="imessage_setups_lines_create",
        request=LineAddInputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAM],
        responses={
            201: PhoneLineOutputSerializer,
            **object_errors(404, 409, 502),
            **ERROR_RESPONSES,
        },
    )
    def post(self, request: Request, setup_id: str) -> Response:
        key = caller_key(request)
        setup = selectors.setup_get(organization=key.organization, setup_id=setup_id)
        data = LineAddInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        idempotency_key = request.headers.get("Idempotency-Key")
        line = lines.setup_line_add(
            setup=setup,
            role=data.validated_data["role"],
            actor=Actor.for_api_key(key),
            idempotency_key=None if idempotency_key is None else validate_key(idempotency_key),
        )
        return Response(PhoneLineOutputSerializer(line).data, status=status.HTTP_201_CREATED)
