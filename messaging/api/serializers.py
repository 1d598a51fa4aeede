"""Input validation and documented output shapes of the iMessage API.

Outputs are built by `messaging.wire` (shared with the webhook payloads); the serializers
below describe them for drf-spectacular."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from console.api.serializers import FieldsKeptPerThread
from console.phone import is_e164
from messaging.models import ReactionType, SendStyle

EMPTY_MESSAGE = "A message needs text or a media URL."
TOO_MANY_MEDIA = "At most one media URL per message."
TO_AND_CONVERSATION = "Give either `to` or `conversation_id`, not both."
NO_RECIPIENT = "Give `to` or `conversation_id`."
REPLY_NEEDS_CONVERSATION = "reply_to_message_id requires conversation_id (and no `to`)."
NOT_E164 = "Must be an E.164 phone number such as +14155550100."
GROUPS_UNSUPPORTED = "Group messages are not supported; give one recipient."


class MessageSendInputSerializer(FieldsKeptPerThread):
    to = serializers.JSONField(required=False)
    conversation_id = serializers.UUIDField(required=False)
    text = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, trim_whitespace=False
    )
    media_urls = serializers.ListField(
        child=serializers.URLField(max_length=2000), required=False, allow_empty=True
    )
    send_style = serializers.ChoiceField(choices=SendStyle.choices, required=False, allow_null=True)
    reply_to_message_id = serializers.UUIDField(required=False, allow_null=True)
    plain_reply_fallback = serializers.BooleanField(required=False, default=True)
    # Send later (1 minute to 35 days ahead; checked by the service) / skip quiet hours.
    send_at = serializers.DateTimeField(required=False, allow_null=True)
    urgent = serializers.BooleanField(required=False, default=False)

    def validate_text(self, value: str | None) -> str | None:
        limit = settings.MESSAGE_TEXT_MAX_CHARS
        if value is not None and len(value) > limit:
            raise serializers.ValidationError(f"Text is limited to {limit} characters.")
        return value

    def validate_media_urls(self, value: list[str]) -> list[str]:
        if len(value) > 1:
            raise serializers.ValidationError(TOO_MANY_MEDIA)
        return value

    def validate_to(self, value: Any) -> str:
        recipients = value if isinstance(value, list) else [value]
        if not recipients or not all(isinstance(r, str) for r in recipients):
            raise serializers.ValidationError(NOT_E164)
        if len(set(recipients)) > 1:
            raise serializers.ValidationError(GROUPS_UNSUPPORTED)
        number = recipients[0]
        if not is_e164(number):
            raise serializers.ValidationError(NOT_E164)
        return str(number)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        has_to = attrs.get("to") is not None
        has_conversation = attrs.get("conversation_id") is not None
        if has_to and has_conversation:
            raise serializers.ValidationError({"conversation_id": [TO_AND_CONVERSATION]})
        if attrs.get("reply_to_message_id") and not has_conversation:
            raise serializers.ValidationError({"reply_to_message_id": [REPLY_NEEDS_CONVERSATION]})
        if not has_to and not has_conversation:
            raise serializers.ValidationError({"to": [NO_RECIPIENT]})
        if not attrs.get("text") and not attrs.get("media_urls"):
            raise serializers.ValidationError({"text": [EMPTY_MESSAGE]})
        return attrs


class ReactionCreateInputSerializer(serializers.Serializer[dict[str, Any]]):
    message_id = serializers.UUIDField()
    # Checked by the service (400 invalid_reaction): only the classic six are sendable.
    reaction = serializers.CharField(max_length=32)
    part_index = serializers.IntegerField(required=False, default=0, min_value=0)


class ConversationRefInputSerializer(serializers.Serializer[dict[str, Any]]):
    conversation_id = serializers.UUIDField()


class MediaUploadInputSerializer(serializers.Serializer[dict[str, Any]]):
    file = serializers.FileField()


# --- Output shapes (documentation only; bodies come from messaging.wire) --------------


class MediaItemSerializer(serializers.Serializer[dict[str, Any]]):
    url = serializers.CharField()
    content_type = serializers.CharField(allow_null=True)
    size = serializers.IntegerField(allow_null=True)


class MessageReactionSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.UUIDField()
    direction = serializers.CharField()
    reaction = serializers.ChoiceField(choices=ReactionType.choices)
    custom_emoji = serializers.CharField(allow_null=True)
    remote_number = serializers.CharField()
    part_index = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class ReactionSerializer(MessageReactionSerializer):
    conversation_id = serializers.UUIDField()
    assignment_id = serializers.UUIDField(allow_null=True)
    target_message_id = serializers.UUIDField()
    updated_at = serializers.DateTimeField()


class IMessageSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.UUIDField()
    conversation_id = serializers.UUIDField()
    assignment_id = serializers.UUIDField(allow_null=True)
    direction = serializers.CharField()
    remote_number = serializers.CharField(allow_null=True)
    content = serializers.CharField(allow_null=True)
    message_type = serializers.CharField()
    service = serializers.CharField()
    send_style = serializers.CharField(allow_null=True)
    media = MediaItemSerializer(many=True)
    was_downgraded = serializers.BooleanField(allow_null=True)
    status = serializers.CharField(allow_null=True)
    error_code = serializers.CharField(allow_null=True)
    error_message = serializers.CharField(allow_null=True)
    error_reason = serializers.CharField(allow_null=True)
    error_detail = serializers.CharField(allow_null=True)
    is_read = serializers.BooleanField()
    is_blocked = serializers.BooleanField()
    is_group = serializers.BooleanField()
    reply_to_message_id = serializers.UUIDField(allow_null=True)
    thread_id = serializers.UUIDField(allow_null=True)
    thread_root_message_id = serializers.UUIDField(allow_null=True)
    reactions = MessageReactionSerializer(many=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    redacted_at = serializers.DateTimeField(
        allow_null=True, help_text="When retention removed the content and media."
    )
    scheduled_for = serializers.DateTimeField(allow_null=True)


class MessageSendOutputSerializer(serializers.Serializer[dict[str, Any]]):
    message = IMessageSerializer()


class ConversationSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.UUIDField()
    assignment_id = serializers.UUIDField(allow_null=True)
    assignment_status = serializers.CharField(allow_null=True)
    remote_number = serializers.CharField(allow_null=True)
    participants = serializers.ListField(child=serializers.CharField(), allow_null=True)
    is_group = serializers.BooleanField()
    group_creation_status = serializers.CharField(allow_null=True)
    handled_by = serializers.ChoiceField(choices=["agent", "staff"])
    handed_off_at = serializers.DateTimeField(allow_null=True)
    handed_off_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ConversationSummarySerializer(ConversationSerializer):
    latest_text = serializers.CharField(allow_null=True)
    latest_message_at = serializers.DateTimeField(allow_null=True)
    latest_direction = serializers.CharField(allow_null=True)
    latest_has_media = serializers.BooleanField()
    unread_count = serializers.IntegerField()
    total_count = serializers.IntegerField()


class ThreadSerializer(serializers.Serializer[dict[str, Any]]):
    thread_id = serializers.UUIDField(allow_null=True)
    conversation_id = serializers.UUIDField()
    thread_root_message_id = serializers.UUIDField(allow_null=True)
    messages = IMessageSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class MarkReadOutputSerializer(serializers.Serializer[dict[str, Any]]):
    conversation_id = serializers.UUIDField()
    updated_count = serializers.IntegerField()


class MediaUploadOutputSerializer(serializers.Serializer[dict[str, Any]]):
    media_url = serializers.CharField()
    content_type = serializers.CharField(allow_null=True)
    size = serializers.IntegerField(allow_null=True)
