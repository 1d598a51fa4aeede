"""Wire shapes of the routing endpoints (contract §2.4 Assignment/Number/TriageNumber, §3)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from console.timestamps import iso
from provisioning.models import PhoneLine
from routing.models import Assignment, ContactRule, RuleAction, RuleDirection, RuleStatus


class AssignmentOutputSerializer(serializers.Serializer[Assignment]):
    id = serializers.UUIDField()
    remote_number = serializers.CharField()
    agent_identity_id = serializers.UUIDField()
    organization_id = serializers.CharField()
    status = serializers.ChoiceField(choices=["active", "released"])
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    released_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, a: Assignment) -> dict[str, Any]:
        # The pool line is deliberately absent: agents never see pool numbers.
        return {
            "id": str(a.id),
            "remote_number": a.remote_number,
            "agent_identity_id": str(a.identity_id),
            "organization_id": a.organization.public_id,
            "status": a.status,
            "created_at": iso(a.created_at),
            "updated_at": iso(a.updated_at),
            "released_at": iso(a.released_at),
        }


class ContactRuleOutputSerializer(serializers.Serializer[ContactRule]):
    id = serializers.UUIDField()
    agent_identity_id = serializers.UUIDField()
    action = serializers.ChoiceField(choices=RuleAction.choices)
    match_type = serializers.ChoiceField(choices=["exact_number"])
    match_target = serializers.CharField()
    direction = serializers.ChoiceField(choices=RuleDirection.choices)
    status = serializers.ChoiceField(choices=RuleStatus.choices)
    contact = serializers.DictField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def to_representation(self, r: ContactRule) -> dict[str, Any]:
        return {
            "id": str(r.id),
            "agent_identity_id": str(r.identity_id),
            "action": r.action,
            "match_type": r.match_type,
            "match_target": r.match_target,
            "direction": r.direction,
            "status": r.status,
            "contact": None,
            "created_at": iso(r.created_at),
            "updated_at": iso(r.updated_at),
        }


class ContactRuleCreateInputSerializer(serializers.Serializer[dict[str, Any]]):
    action = serializers.ChoiceField(choices=RuleAction.choices)
    match_type = serializers.ChoiceField(choices=["exact_number"], default="exact_number")
    match_target = serializers.CharField()
    direction = serializers.ChoiceField(choices=RuleDirection.choices, default="both")


class ContactRuleUpdateInputSerializer(serializers.Serializer[dict[str, Any]]):
    action = serializers.ChoiceField(choices=RuleAction.choices, required=False)
    direction = serializers.ChoiceField(choices=RuleDirection.choices, required=False)
    apply_to = serializers.ChoiceField(choices=["inbound", "outbound"], required=False)
    # Our extension (the SDK never sends it): pause or resume a rule.
    status = serializers.ChoiceField(choices=RuleStatus.choices, required=False)


class NumberClaimInputSerializer(serializers.Serializer[dict[str, Any]]):
    # Optional: the setup to order the line on; without it the organisation's default.
    setup_id = serializers.UUIDField(required=False)


class NumberOutputSerializer(serializers.Serializer[PhoneLine]):
    id = serializers.UUIDField()
    number = serializers.CharField()
    type = serializers.ChoiceField(choices=["dedicated_outbound"])
    status = serializers.ChoiceField(choices=["active", "paused"])
    agent_identity_id = serializers.UUIDField(allow_null=True)
    agent_handle = serializers.CharField(allow_null=True)

    def to_representation(self, line: PhoneLine) -> dict[str, Any]:
        identity = line.identity
        return {
            "id": str(line.id),
            "number": line.number,
            "type": "dedicated_outbound",
            "status": "paused" if line.is_paused or line.blocked_at else "active",
            "agent_identity_id": str(identity.id) if identity else None,
            "agent_handle": identity.handle if identity else None,
        }


class TriageNumberOutputSerializer(serializers.Serializer[Any]):
    number = serializers.CharField()
    connect_command = serializers.CharField()
