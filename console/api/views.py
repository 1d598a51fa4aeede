from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from console import services
from console.api.authentication import caller_key
from console.api.permissions import KeyedApiView
from console.api.serializers import (
    ApiKeyCreateInputSerializer,
    ApiKeyCreateOutputSerializer,
    WhoamiSerializer,
)
from console.selectors import identity_get_by_id_for_key


class WhoamiApi(KeyedApiView):
    @extend_schema(responses={200: WhoamiSerializer}, operation_id="whoami")
    def get(self, request: Request) -> Response:
        return Response(WhoamiSerializer(caller_key(request)).data)


class ApiKeyCreateApi(KeyedApiView):
    @extend_schema(
        request=ApiKeyCreateInputSerializer,
        responses={201: ApiKeyCreateOutputSerializer},
        operation_id="api_keys_create",
    )
    def post(self, request: Request) -> Response:
        key = caller_key(request)
        data = ApiKeyCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        identity_id = data.validated_data.get("scoped_identity_id")
        identity = (
            identity_get_by_id_for_key(key=key, identity_id=identity_id)
            if identity_id and key.is_admin
            else None
        )
        issued = services.api_key_create_by_caller(
            caller=key,
            label=data.validated_data["label"],
            scoped_identity=identity,
            description=data.validated_data.get("description"),
        )
        body = ApiKeyCreateOutputSerializer(
            {"api_key": issued.raw_key, "record": issued.record}
        ).data
        return Response(body, status=status.HTTP_201_CREATED)
