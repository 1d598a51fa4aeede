"""The identity services: `identity_register` applies a whole create and `identity_update`
a whole PATCH, their refusals raised before anything is written."""

from __future__ import annotations

import pytest

from console.errors import Forbidden, ValidationFailed
from console.identities import identity_register, identity_update
from console.models import AgentIdentity, AuditEntry, Organization
from console.services import Actor
from provisioning.models import PhoneLine

ACTOR = Actor.system()


def test_display_name_none_falls_back_to_the_handle(identity: AgentIdentity) -> None:
    identity_update(
        identity=identity, actor=ACTOR, changes={"display_name": None}, filter_modes_allowed=False
    )

    identity.refresh_from_db()
    assert identity.display_name == identity.handle


def test_filter_modes_need_permission_and_nothing_is_written_without_it(
    identity: AgentIdentity,
) -> None:
    before = identity.display_name
    with pytest.raises(Forbidden):
        identity_update(
            identity=identity,
            actor=ACTOR,
            changes={"display_name": "Renamed", "imessage_filter_mode": "whitelist"},
            filter_modes_allowed=False,
        )

    identity.refresh_from_db()
    assert (identity.display_name, identity.inbound_filter_mode) == (before, "blacklist")
    assert not AuditEntry.objects.filter(action__startswith="identity.").exists()


def test_a_shared_mode_sets_both_directions(identity: AgentIdentity) -> None:
    identity_update(
        identity=identity,
        actor=ACTOR,
        changes={"phone_filter_mode": "whitelist"},
        filter_modes_allowed=True,
    )

    identity.refresh_from_db()
    assert (identity.inbound_filter_mode, identity.outbound_filter_mode) == (
        "whitelist",
        "whitelist",
    )


def test_a_claim_without_an_idempotency_key_is_refused_before_any_line_exists(
    identity: AgentIdentity,
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        identity_update(
            identity=identity,
            actor=ACTOR,
            changes={"claim_imessage_number": True},
            filter_modes_allowed=True,
        )

    assert refused.value.extra == {
        "fields": {"Idempotency-Key": ["Required with claim_imessage_number."]}
    }
    assert not PhoneLine.objects.exists()


CREATE_VALUES = {"imessage_enabled": False, "contact_sharing_enabled": True}


def test_a_create_without_a_claim_returns_the_identity_and_no_notices(org: Organization) -> None:
    created = identity_register(
        organization=org, actor=ACTOR, handle="front-desk", values=CREATE_VALUES
    )

    assert (created.identity.handle, created.identity.display_name) == ("front-desk", "front-desk")
    assert created.notices == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({**CREATE_VALUES, "claim_imessage_number": False}, "Only true is accepted."),
        ({**CREATE_VALUES, "claim_imessage_number": True}, "Requires imessage_enabled: true."),
    ],
)
def test_create_claim_rules_refuse_before_anything_is_written(
    org: Organization, values: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        identity_register(organization=org, actor=ACTOR, handle="front-desk", values=values)

    assert refused.value.extra == {"fields": {"claim_imessage_number": [message]}}
    assert not AgentIdentity.objects.filter(handle="front-desk").exists()
    assert not PhoneLine.objects.exists()
