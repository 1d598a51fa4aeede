"""The agent's iMessage API (contract §2): thin views over messaging services/selectors."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db.models import Model
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from console.api.authentication import caller_key
from console.api.exceptions import rate_limit_headers
from console.api.params import parse_bool, parse_date_range, parse_limit_offset, parse_uuid
from console.api.parsers import JsonParser
from console.api.permissions import KeyedApiView
from console.api.schema import IDEMPOTENCY_KEY_PARAM, object_errors
from console.errors import ValidationFailed
from console.http import declared_content_length
from console.idempotency import IdempotentResponse, RecordKeep, run_idempotent
from console.services import Actor
from messaging import list_selectors, media, media_urls, selectors
from messaging.api import serializers as s
from messaging.api.reads import conversation_rows_read, message_rows_read, messages_read
from messaging.models import Conversation, Message
from messaging.services import reactions, receipts, scheduling, sending
from messaging.wire import (
    conversation_summary_row_wire,
    conversation_wire,
    message_row_wire,
    message_wire,
    reaction_wire,
)

AGENT_IDENTITY_PARAM = OpenApiParameter("agent_identity_id", OpenApiTypes.UUID, required=False)
LIST_PARAMS = [
    OpenApiParameter("limit", OpenApiTypes.INT, required=False, description="1-200, default 50"),
    OpenApiParameter("offset", OpenApiTypes.INT, required=False),
    AGENT_IDENTITY_PARAM,
    OpenApiParameter("is_blocked", OpenApiTypes.BOOL, required=False),
    OpenApiParameter("include_groups", OpenApiTypes.BOOL, required=False),
    OpenApiParameter("start_datetime", OpenApiTypes.STR, required=False),
    OpenApiParameter("end_datetime", OpenApiTypes.STR, required=False),
    OpenApiParameter("tz", OpenApiTypes.STR, required=False, description="IANA zone"),
]
THREAD_PARAMS = [
    OpenApiParameter("limit", OpenApiTypes.INT, required=False),
    OpenApiParameter("cursor", OpenApiTypes.STR, required=False),
    AGENT_IDENTITY_PARAM,
]
ERRORS = object_errors(400, 404)


def _rate_headers(rate: scheduling.RateInfo) -> dict[str, str]:
    return rate_limit_headers(limit=rate.limit, remaining=rate.remaining, reset_at=rate.reset_at)


def _data(serializer_class: type[Any], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _agent_id(request: Request) -> uuid.UUID | None:
    return parse_uuid(request.query_params, "agent_identity_id")


def _scope(request: Request) -> dict[str, Any]:
    """Who asks: the caller's key and the agent identity it acts as (when named)."""
    return {"key": caller_key(request), "agent_identity_id": _agent_id(request)}


def _list_filters(request: Request) -> dict[str, Any]:
    """The filters every list takes (LIST_PARAMS), with the caller's scope."""
    params = request.query_params
    limit, offset = parse_limit_offset(params)
    return {
        **_scope(request),
        "is_blocked": parse_bool(params, "is_blocked"),
        "include_groups": parse_bool(params, "include_groups") is True,
        "date_range": parse_date_range(params),
        "limit": limit,
        "offset": offset,
    }


def _detail_schema(serializer: type[Any], operation_id: str) -> Any:
    return extend_schema(
        parameters=[AGENT_IDENTITY_PARAM],
        responses={200: serializer, 404: OpenApiTypes.OBJECT},
        operation_id=operation_id,
    )


def _referenced_conversation(request: Request) -> Conversation:
    data = _data(s.ConversationRefInputSerializer, request)
    return selectors.conversation_get(
        key=caller_key(request), conversation_id=data["conversation_id"]
    )


def _thread_body(page: selectors.ThreadPage) -> dict[str, Any]:
    tz = timezone.get_current_timezone()
    return {
        "thread_id": str(page.thread_id),
        "conversation_id": str(page.conversation.id),
        "thread_root_message_id": str(page.messages[0]["id"]) if page.messages else None,
        "messages": [message_row_wire(row, tz=tz) for row in page.messages],
        "next_cursor": page.next_cursor,
    }


class ConversationListApi(KeyedApiView):
    @extend_schema(
        parameters=LIST_PARAMS,
        responses={200: s.ConversationSummarySerializer(many=True), **ERRORS},
        operation_id="imessage_conversations_list",
    )
    def get(self, request: Request) -> Response:
        rows = list_selectors.conversation_list(**_list_filters(request))
        conversation_rows_read(request, rows)
        tz = timezone.get_current_timezone()
        return Response([conversation_summary_row_wire(row, tz=tz) for row in rows])


class ConversationDetailApi(KeyedApiView):
    @_detail_schema(s.ConversationSerializer, "imessage_conversations_get")
    def get(self, request: Request, conversation_id: uuid.UUID) -> Response:
        conversation = selectors.conversation_get(
            conversation_id=conversation_id, **_scope(request)
        )
        return Response(conversation_wire(conversation))


class MessageListSendApi(KeyedApiView):
    """GET lists messages; POST sends one (both live on `/messages`)."""

    @extend_schema(
        parameters=[
            *LIST_PARAMS,
            OpenApiParameter("conversation_id", OpenApiTypes.UUID, required=False),
            OpenApiParameter("thread_id", OpenApiTypes.UUID, required=False),
            OpenApiParameter("is_read", OpenApiTypes.BOOL, required=False),
        ],
        responses={200: s.IMessageSerializer(many=True), **ERRORS},
        operation_id="imessage_messages_list",
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        filters = _list_filters(request)
        rows = list_selectors.message_list(
            conversation_id=parse_uuid(params, "conversation_id"),
            thread_id=parse_uuid(params, "thread_id"),
            is_read=parse_bool(params, "is_read"),
            **filters,
        )
        message_rows_read(request, rows)
        tz = timezone.get_current_timezone()
        return Response([message_row_wire(row, tz=tz) for row in rows])

    @extend_schema(
        parameters=[AGENT_IDENTITY_PARAM, IDEMPOTENCY_KEY_PARAM],
        request=s.MessageSendInputSerializer,
        responses={
            201: s.MessageSendOutputSerializer,
            **object_errors(400, 403, 404, 409, 422, 429),
        },
        operation_id="imessage_messages_send",
    )
    def post(self, request: Request) -> Response:
        key = caller_key(request)
        agent_identity_id = _agent_id(request)
        data = _data(s.MessageSendInputSerializer, request)
        send_at = data.get("send_at")
        target = sending.send_target_resolve(
            key=key,
            agent_identity_id=agent_identity_id,
            conversation_id=data.get("conversation_id"),
            reply_to_message_id=data.get("reply_to_message_id"),
        )
        identity = target.identity

        def response(message: Message, rate: scheduling.RateInfo) -> IdempotentResponse:
            return IdempotentResponse(
                status=status.HTTP_201_CREATED,
                body={"message": message_wire(message)},
                headers=_rate_headers(rate),
            )

        def work(keep: RecordKeep | None) -> IdempotentResponse:
            if send_at is not None:  # checked here so that a replay is not refused later
                scheduling.send_at_check(send_at, now=timezone.now())

            def with_record(message: Message, rate: scheduling.RateInfo) -> list[Model]:
                # The key's record goes in with the message, in its statement.
                assert keep is not None
                return [keep.row(response(message, rate))]

            outcome = sending.message_send(
                identity=identity,
                conversation=target.conversation,
                to=data.get("to"),
                text=data.get("text"),
                media_urls=data.get("media_urls") or [],
                send_style=data.get("send_style"),
                reply_to=target.reply_to,
                send_at=send_at,
                urgent=data.get("urgent", False),
                actor=Actor.for_api_key(key),
                stored_with=with_record if keep is not None and keep.offered else None,
            )
            if keep is not None and keep.taken is not None:
                return keep.taken  # what the record holds
            return response(outcome.message, outcome.rate)

        result = run_idempotent(
            organization=key.organization,
            scope=str(identity.id),
            operation="imessage.send",
            key=request.headers.get("Idempotency-Key"),
            payload={"body": request.data, "agent_identity_id": str(agent_identity_id or "")},
            work=work,
        )
        headers = dict(result.headers)
        if result.replayed:
            headers.update(_rate_headers(sending.rate_status(identity=identity)))
            headers["Idempotency-Replayed"] = "true"
        return Response(result.body, status=result.status, headers=headers)


class MessageDetailApi(KeyedApiView):
    @_detail_schema(s.IMessageSerializer, "imessage_messages_get")
    def get(self, request: Request, message_id: uuid.UUID) -> Response:
        message = selectors.message_get(message_id=message_id, **_scope(request))
        messages_read(request, [message])
        return Response(message_wire(message))

    @extend_schema(
        parameters=[AGENT_IDENTITY_PARAM],
        responses={204: None, **object_errors(404, 409)},
        operation_id="imessage_messages_cancel",
    )
    def delete(self, request: Request, message_id: uuid.UUID) -> Response:
        """Cancel a scheduled or held message that has not started sending."""
        message = selectors.message_get(message_id=message_id, **_scope(request))
        scheduling.scheduled_cancel(message=message, actor=Actor.for_api_key(caller_key(request)))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _page_args(request: Request) -> dict[str, Any]:
    limit, _ = parse_limit_offset(request.query_params)
    return {"limit": limit, "cursor": request.query_params.get("cursor")}


class MessageThreadApi(KeyedApiView):
    @extend_schema(
        parameters=THREAD_PARAMS,
        responses={200: s.ThreadSerializer, **ERRORS},
        operation_id="imessage_messages_thread",
    )
    def get(self, request: Request, message_id: uuid.UUID) -> Response:
        page = selectors.thread_for_message(
            message_id=message_id,
            **_scope(request),
            **_page_args(request),
        )
        message_rows_read(request, page.messages)
        return Response(_thread_body(page))


class ConversationThreadApi(KeyedApiView):
    @extend_schema(
        parameters=THREAD_PARAMS,
        responses={200: s.ThreadSerializer, **ERRORS},
        operation_id="imessage_conversations_thread",
    )
    def get(self, request: Request, conversation_id: uuid.UUID, thread_id: uuid.UUID) -> Response:
        page = selectors.thread_in_conversation(
            conversation_id=conversation_id,
            thread_id=thread_id,
            **_scope(request),
            **_page_args(request),
        )
        message_rows_read(request, page.messages)
        return Response(_thread_body(page))


class ReactionCreateApi(KeyedApiView):
    @extend_schema(
        request=s.ReactionCreateInputSerializer,
        responses={201: s.ReactionSerializer, **object_errors(400, 403, 404, 409, 502)},
        operation_id="imessage_reactions_create",
    )
    def post(self, request: Request) -> Response:
        key = caller_key(request)
        data = _data(s.ReactionCreateInputSerializer, request)
        message = selectors.message_get(key=key, message_id=data["message_id"])
        reaction = reactions.reaction_send(
            message=message, reaction=data["reaction"], part_index=data["part_index"]
        )
        return Response(reaction_wire(reaction), status=status.HTTP_201_CREATED)


class ReactionDeleteApi(KeyedApiView):
    @extend_schema(
        responses={204: None, 403: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT},
        operation_id="imessage_reactions_delete",
    )
    def delete(self, request: Request, reaction_id: uuid.UUID) -> Response:
        reaction = selectors.reaction_get(key=caller_key(request), reaction_id=reaction_id)
        reactions.reaction_remove(reaction=reaction)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MarkReadApi(KeyedApiView):
    @extend_schema(
        request=s.ConversationRefInputSerializer,
        responses={200: s.MarkReadOutputSerializer, **ERRORS, 422: OpenApiTypes.OBJECT},
        operation_id="imessage_mark_read",
    )
    def post(self, request: Request) -> Response:
        conversation = _referenced_conversation(request)
        result = receipts.conversation_mark_read(conversation=conversation)
        return Response(
            {"conversation_id": str(result.conversation_id), "updated_count": result.updated_count}
        )


class TypingApi(KeyedApiView):
    @extend_schema(
        request=s.ConversationRefInputSerializer,
        responses={204: None, **ERRORS, 409: OpenApiTypes.OBJECT, 422: OpenApiTypes.OBJECT},
        operation_id="imessage_typing",
    )
    def post(self, request: Request) -> Response:
        conversation = _referenced_conversation(request)
        receipts.typing_send(conversation=conversation)
        return Response(status=status.HTTP_204_NO_CONTENT)


# Multipart overhead (boundaries, part headers) on top of the file itself.
_MULTIPART_SLACK = 64 * 1024


class MediaUploadApi(KeyedApiView):
    parser_classes = [MultiPartParser, JsonParser]

    @extend_schema(
        request={"multipart/form-data": s.MediaUploadInputSerializer},
        responses={201: s.MediaUploadOutputSerializer, 400: OpenApiTypes.OBJECT, 413: None},
        operation_id="imessage_media_upload",
    )
    def post(self, request: Request) -> Response:
        # Refuse from the declared length before the body is parsed (read) at all.
        if declared_content_length(request.META) > settings.MEDIA_MAX_BYTES + _MULTIPART_SLACK:
            raise media.media_too_large()
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationFailed(
                "file: a multipart part named `file` is required.",
                extra={"fields": {"file": ["required"]}},
            )
        stored = media.media_upload_store(
            organization=caller_key(request).organization, upload=upload
        )
        return Response(
            {
                "media_url": media_urls.agent_url(stored),
                "content_type": stored.content_type,
                "size": stored.size,
            },
            status=status.HTTP_201_CREATED,
        )
