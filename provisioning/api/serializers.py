"""Input and output shapes of the setups API. Secrets are never part of any output."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from provisioning.models import LineRole, PhoneLine, Setup


class SetupCreateInputSerializer(serializers.Serializer[dict[str, Any]]):
    business_name = serializers.CharField(max_length=200, trim_whitespace=True)
    # The metaclass pops declared fields, so this does not shadow Field.label at runtime.
    label = serializers.CharField(max_length=200, trim_whitespace=True)  # type: ignore[assignment]


class LineAddInputSerializer(serializers.Serializer[dict[str, Any]]):
    role = serializers.ChoiceField(
        choices=LineRole.choices, required=False, default=LineRole.DEDICATED
    )


class SetupUpdateInputSerializer(serializers.Serializer[dict[str, Any]]):
    # Only `true`: a default is replaced by marking another setup, never cleared.
    is_default = serializers.BooleanField()

    def validate_is_default(self, value: bool) -> bool:
        if value is not True:
            raise serializers.ValidationError("Only true: mark another setup to move it.")
        return value


class PhoneLineOutputSerializer(serializers.ModelSerializer[PhoneLine]):
    class Meta:
        model = PhoneLine
        fields = [
            "id",
            "state",
            "number",
            "role",
            "provider_request_id",
            "requested_at",
            "assigned_at",
            "blocked_at",
            "released_at",
        ]


# A setup's fields on the wire, in order; the detail adds its lines before the timestamps.
SETUP_FIELDS = [
    "id",
    "business_name",
    "label",
    "provider",
    "status",
    "failure_reason",
    "is_platform",
    "is_default",
    "phone_line_count",
]


class SetupOutputSerializer(serializers.ModelSerializer[Setup]):
    """A setup with its lines (create and detail)."""

    phone_lines = PhoneLineOutputSerializer(source="lines", many=True, read_only=True)
    phone_line_count = serializers.SerializerMethodField()

    class Meta:
        model = Setup
        fields = [*SETUP_FIELDS, "phone_lines", "created_at", "updated_at"]

    def get_phone_line_count(self, setup: Setup) -> int:
        # Counted from the prefetched lines: released ones are listed but not counted.
        return sum(1 for line in setup.lines.all() if line.released_at is None)


class SetupListItemSerializer(serializers.ModelSerializer[Setup]):
    """A list row: the line count comes from the queryset annotation."""

    phone_line_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Setup
        fields = [*SETUP_FIELDS, "created_at", "updated_at"]
