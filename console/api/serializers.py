from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from django.utils.functional import cached_property
from rest_framework import serializers
from rest_framework.utils.serializer_helpers import BindingDict

from console.models import ApiKey
from console.timestamps import iso


def epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


_THIS_THREAD = threading.local()


class FieldsKeptPerThread(serializers.Serializer[dict[str, Any]]):
    """An input serializer whose fields are built once per thread, not per request.

    DRF deep-copies every declared field for each serializer instance: half a millisecond
    of CPU for a send's nine fields, on every send. Input fields keep no state of their own
    between calls (what one validation learns goes into the serializer or an exception),
    so each thread keeps one set per class, bound to a serializer of its own that holds no
    request (not partial, no context). For flat input serializers only: no nested
    serializers; one given a context or `partial` builds its own fields, as DRF does.
    """

    @cached_property
    def fields(self) -> BindingDict:
        if self.partial or self._context:
            return super().fields
        kept: dict[type, BindingDict] = _THIS_THREAD.__dict__.setdefault("serializer_fields", {})
        fields = kept.get(type(self))
        if fields is None:
            anchor = type(self)()
            fields = kept[type(self)] = BindingDict(anchor)
            for name, field in anchor.get_fields().items():
                fields[name] = field  # binds it to the anchor: its name, label and source
        return fields


class ApiKeyRecordSerializer(serializers.Serializer[ApiKey]):
    def to_representation(self, key: ApiKey) -> dict[str, Any]:
        return {
            "id": key.public_id,
            "organization_id": key.organization.public_id,
            "created_by": key.created_by,
            "creator_type": key.creator_type,
            "label": key.label,
            "description": key.description,
            "status": key.status,
            "last4": key.last4,
            "display_prefix": key.display_prefix,
            "scoped_identity_id": str(key.identity_id) if key.identity_id else None,
            "created_at": iso(key.created_at),
            "updated_at": iso(key.updated_at),
            "last_used_at": iso(key.last_used_at),
            "expires_at": iso(key.expires_at),
            "revoked_at": iso(key.revoked_at),
        }


class ApiKeyCreateInputSerializer(serializers.Serializer[dict[str, Any]]):
    label = serializers.CharField(min_length=1, max_length=255)  # type: ignore[assignment]
    description = serializers.CharField(
        max_length=1000, required=False, allow_null=True, allow_blank=True
    )
    scoped_identity_id = serializers.UUIDField(required=False, allow_null=True)


class ApiKeyCreateOutputSerializer(serializers.Serializer[dict[str, Any]]):
    api_key = serializers.CharField()
    record = ApiKeyRecordSerializer()


class WhoamiSerializer(serializers.Serializer[ApiKey]):
    def to_representation(self, key: ApiKey) -> dict[str, Any]:
        return {
            "auth_type": "api_key",
            "auth_subtype": (
                "api_key.admin_scoped" if key.is_admin else "api_key.agent_scoped.claimed"
            ),
            "scope": None if key.is_admin else f"agent_identity:{key.identity_id}",
            "organization_id": key.organization.public_id,
            "key_id": key.public_id,
            "label": key.label,
            "description": key.description or "",
            "created_by": key.created_by,
            "creator_type": key.creator_type,
            "created_at": epoch(key.created_at),
            "last_used_at": epoch(key.last_used_at),
            "expires_at": epoch(key.expires_at),
        }
