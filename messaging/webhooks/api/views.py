"""Webhook API (contract §5): catalog, subscriptions, deliveries, replay, signing keys."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.authentication import caller_key
from console.api.params import parse_bool, parse_clamped_int, parse_uuid
from console.api.permissions import IsAdminKey, KeyedApiView
from console.errors import Conflict, Unprocessable, ValidationFailed
from console.models import AgentIdentity, ApiKey
from console.selectors import identity_get_by_id_for_key, identity_get_for_key
from console.services import Actor
from console.timestamps import iso
from messaging.webhooks import selectors, signing_keys, subscriptions
from messaging.webhooks.api.serializers import (
    CatalogOutputSerializer,
    DeliveryListOutputSerializer,
    DeliveryOutputSerializer,
    SigningKeyOutputSerializer,
    SigningKeyStatusOutputSerializer,
    SubscriptionCreateInputSerializer,
    SubscriptionCreateOutputSerializer,
    SubscriptionListOutputSerializer,
    SubscriptionOutputSerializer,
    SubscriptionUpdateInputSerializer,
)
from messaging.webhooks.catalog import CATALOG
from messaging.webhooks.delivery import delivery_replay

ERR_TOO_MANY_OWNERS = "Filter by at most one of agent_identity_id, mailbox_id, phone_number_id."
ERR_OWNER_REQUIRED = "agent_identity_id is required with an admin key."
ERR_OWNER_UNSUPPORTED = "Only agent identities own subscriptions here (agent_identity_id)."
ERR_OWNER_IMMUTABLE = "The owner of a subscription cannot change."
ERR_ADMIN_ORG_SIGNING_KEY = (
    "Admin keys manage signing keys per identity: POST /api/v1/identities/{handle}/signing-key."
)
OWNER_FILTERS = ("agent_identity_id", "mailbox_id", "phone_number_id")
ERROR_RESPONSES: dict[int | str, Any] = {400: None, 401: None, 403: None, 404: None}


def _signing_key_status_body(status_obj: selectors.SigningKeyStatus) -> dict[str, Any]:
    return {"configured": status_obj.configured, "created_at": iso(status_obj.created_at)}


class CatalogApi(KeyedApiView):
    @extend_schema(responses={200: CatalogOutputSerializer}, operation_id="webhooks_catalog")
    def get(self, request: Request) -> Response:
        return Response(
            {
                "supports_identity_subscriptions": True,
                "event_types": [
                    {
                        "event_type": event.name,
                        "channel": "imessage",
                        "description": event.description,
                        "opt_in": event.opt_in,
                    }
                    for event in CATALOG
                ],
            }
        )


class SubscriptionListCreateApi(KeyedApiView):
    @extend_schema(
        parameters=[
            OpenApiParameter("agent_identity_id", str),
            OpenApiParameter("mailbox_id", str),
            OpenApiParameter("phone_number_id", str),
            OpenApiParameter("url", str),
            OpenApiParameter("event_type", str),
            OpenApiParameter("scope", str, enum=["identity"]),
        ],
        responses={200: SubscriptionListOutputSerializer, 422: None, **ERROR_RESPONSES},
        operation_id="webhooks_subscriptions_list",
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        owners = [name for name in OWNER_FILTERS if params.get(name)]
        if len(owners) > 1:
            raise Unprocessable(ERR_TOO_MANY_OWNERS, code="too_many_owner_filters")
        rows = selectors.subscription_list(
            key=caller_key(request),
            agent_identity_id=parse_uuid(params, "agent_identity_id"),
            url=params.get("url") or None,
            event_type=params.get("event_type") or None,
            other_owner_filter=bool(owners) and owners[0] != "agent_identity_id",
        )
        out = SubscriptionOutputSerializer()
        return Response({"subscriptions": [out.to_representation(sub) for sub in rows]})

    @extend_schema(
        request=SubscriptionCreateInputSerializer,
        responses={201: SubscriptionCreateOutputSerializer, 409: None, **ERROR_RESPONSES},
        operation_id="webhooks_subscriptions_create",
    )
    def post(self, request: Request) -> Response:
        key = caller_key(request)
        data = SubscriptionCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        identity = _owner_identity(key, values)
        created = subscriptions.subscription_create(
            identity=identity,
            url=values["url"],
            event_types=values["event_types"],
            context_config=values.get("context_config"),
            auth_token=values.get("auth_token"),
            actor=Actor.for_api_key(key),
        )
        body = SubscriptionOutputSerializer(created.subscription).data
        body["signing_key"] = created.signing_key
        return Response(body, status=status.HTTP_201_CREATED)


def _owner_identity(key: ApiKey, values: dict[str, Any]) -> AgentIdentity:
    if values.get("mailbox_id") or values.get("phone_number_id"):
        raise ValidationFailed(
            ERR_OWNER_UNSUPPORTED, code="unsupported_owner", extra={"fields": {}}
        )
    identity_id = values.get("agent_identity_id")
    if identity_id is None:
        if key.is_admin:
            raise ValidationFailed(
                ERR_OWNER_REQUIRED, extra={"fields": {"agent_identity_id": [ERR_OWNER_REQUIRED]}}
            )
        assert key.identity is not None
        return key.identity
    return identity_get_by_id_for_key(key=key, identity_id=identity_id)


class SubscriptionDetailApi(KeyedApiView):
    @extend_schema(
        responses={200: SubscriptionOutputSerializer, **ERROR_RESPONSES},
        operation_id="webhooks_subscriptions_get",
    )
    def get(self, request: Request, subscription_id: str) -> Response:
        sub = selectors.subscription_get(key=caller_key(request), subscription_id=subscription_id)
        return Response(SubscriptionOutputSerializer(sub).data)

    @extend_schema(
        request=SubscriptionUpdateInputSerializer,
        parameters=[OpenApiParameter("scope", str, enum=["identity"])],
        responses={200: SubscriptionOutputSerializer, 409: None, **ERROR_RESPONSES},
        operation_id="webhooks_subscriptions_update",
    )
    def patch(self, request: Request, subscription_id: str) -> Response:
        key = caller_key(request)
        sub = selectors.subscription_get(key=key, subscription_id=subscription_id)
        raw = request.data if isinstance(request.data, dict) else {}
        for owner in OWNER_FILTERS:
            if (
                owner in raw
                and raw[owner] is not None
                and str(raw[owner])
                != str(sub.identity_id if owner == "agent_identity_id" else None)
            ):
                raise ValidationFailed(
                    ERR_OWNER_IMMUTABLE, extra={"fields": {owner: [ERR_OWNER_IMMUTABLE]}}
                )
        data = SubscriptionUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sub = subscriptions.subscription_update(
            subscription=sub, actor=Actor.for_api_key(key), **data.validated_data
        )
        return Response(SubscriptionOutputSerializer(sub).data)

    @extend_schema(
        parameters=[OpenApiParameter("scope", str, enum=["identity"])],
        responses={204: None, **ERROR_RESPONSES},
        operation_id="webhooks_subscriptions_delete",
    )
    def delete(self, request: Request, subscription_id: str) -> Response:
        key = caller_key(request)
        sub = selectors.subscription_get(key=key, subscription_id=subscription_id)
        subscriptions.subscription_delete(subscription=sub, actor=Actor.for_api_key(key))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliveryListApi(KeyedApiView):
    @extend_schema(
        parameters=[
            OpenApiParameter("limit", int, description="Clamped to 1-200; default 50."),
            OpenApiParameter("offset", int),
            OpenApiParameter("subscription_id", str),
            OpenApiParameter("phone_number_id", str),
            OpenApiParameter("event_type", str),
            OpenApiParameter("success", bool, description="true: a 2xx answer was received."),
            OpenApiParameter("agent_identity_id", str),
            OpenApiParameter("status", str, enum=["pending", "succeeded", "failed"]),
        ],
        responses={200: DeliveryListOutputSerializer, **ERROR_RESPONSES},
        operation_id="webhooks_deliveries_list",
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        rows = selectors.delivery_list(
            key=caller_key(request),
            limit=parse_clamped_int(params, "limit", 50, minimum=1, maximum=200),
            offset=parse_clamped_int(params, "offset", 0, minimum=0, maximum=None),
            subscription_id=parse_uuid(params, "subscription_id"),
            event_type=params.get("event_type") or None,
            success=parse_bool(params, "success"),
            agent_identity_id=parse_uuid(params, "agent_identity_id"),
            status=params.get("status") or None,
            other_owner_filter=bool(params.get("phone_number_id")),
        )
        out = DeliveryOutputSerializer()
        return Response({"deliveries": [out.to_representation(row) for row in rows]})


class DeliveryReplayApi(APIView):
    permission_classes = [IsAdminKey]

    @extend_schema(
        request=None,
        responses={201: DeliveryOutputSerializer, 409: None, 422: None, **ERROR_RESPONSES},
        operation_id="webhooks_deliveries_replay",
    )
    def post(self, request: Request, delivery_id: str) -> Response:
        # The SDK sends no body and no Content-Type: request.data is never read here.
        key = caller_key(request)
        delivery = selectors.delivery_get(key=key, delivery_id=delivery_id)
        replay = delivery_replay(delivery=delivery, actor=Actor.for_api_key(key))
        replay.event = delivery.event
        return Response(DeliveryOutputSerializer(replay).data, status=status.HTTP_201_CREATED)


class IdentitySigningKeyApi(KeyedApiView):
    @extend_schema(
        request=None,
        responses={
            201: SigningKeyOutputSerializer,
            200: SigningKeyOutputSerializer,
            **ERROR_RESPONSES,
        },
        operation_id="identities_signing_key_create_or_rotate",
    )
    def post(self, request: Request, handle: str) -> Response:
        key = caller_key(request)
        identity = identity_get_for_key(key=key, handle=handle)
        return _issue(identity, key)

    @extend_schema(
        responses={200: SigningKeyStatusOutputSerializer, **ERROR_RESPONSES},
        operation_id="identities_signing_key_status",
    )
    def get(self, request: Request, handle: str) -> Response:
        identity = identity_get_for_key(key=caller_key(request), handle=handle)
        return Response(_signing_key_status_body(selectors.signing_key_status(identity)))


def _issue(identity: AgentIdentity, key: ApiKey) -> Response:
    issued = signing_keys.signing_key_create_or_rotate(
        identity=identity, actor=Actor.for_api_key(key)
    )
    return Response(
        {"signing_key": issued.secret, "created_at": iso(issued.record.created_at)},
        status=status.HTTP_201_CREATED if issued.created else status.HTTP_200_OK,
    )


class OrgSigningKeyApi(KeyedApiView):
    """Deprecated org-level route: scoped keys act on their identity; admin POST is 409."""

    @extend_schema(
        request=None,
        # 201 when this call minted the identity's first key, 200 when it rotated one.
        responses={
            200: SigningKeyOutputSerializer,
            201: SigningKeyOutputSerializer,
            409: None,
            **ERROR_RESPONSES,
        },
        operation_id="signing_keys_create_deprecated",
        deprecated=True,
    )
    def post(self, request: Request) -> Response:
        key = caller_key(request)
        if key.is_admin or key.identity is None:
            raise Conflict(ERR_ADMIN_ORG_SIGNING_KEY, code="use_identity_signing_key")
        return _issue(key.identity, key)

    @extend_schema(
        responses={200: SigningKeyStatusOutputSerializer, **ERROR_RESPONSES},
        operation_id="signing_keys_status_deprecated",
        deprecated=True,
    )
    def get(self, request: Request) -> Response:
        key = caller_key(request)
        if key.is_admin or key.identity is None:
            result = selectors.signing_key_status_for_organization(key)
        else:
            result = selectors.signing_key_status(key.identity)
        return Response(_signing_key_status_body(result))
