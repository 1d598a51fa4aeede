from __future__ import annotations

from datetime import datetime
from typing import Any

from rest_framework import serializers

from console.models import ApiKey
from console.timestamps import iso


def epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


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
