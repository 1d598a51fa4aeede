"""Offboarding: archive now, purge in batches only after the retention period."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from console.errors import Conflict
from console.models import AgentIdentity, ApiKey, ApiKeyStatus, Organization
from console.services import Actor
from messaging.models import Conversation, Message
from messaging.services.offboarding import organization_archive, organization_purge
from tests.console.factories import ApiKeyFactory
from tests.messaging.factories import LegalHoldFactory, MessageFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system()


@pytest.fixture
def archived(org: Organization, identity: AgentIdentity) -> Organization:
    org.message_retention_days = 30
    org.save()
    for _ in range(5):
        MessageFactory(conversation__identity=identity)
    return organization_archive(organization=org, actor=ACTOR)


def test_archiving_archives_identities_and_revokes_every_key(
    org: Organization, identity: AgentIdentity
) -> None:
    key = ApiKeyFactory(organization=org)

    organization_archive(organization=org, actor=ACTOR)

    identity.refresh_from_db()
    assert identity.archived_at is not None
    assert ApiKey.objects.get(pk=key.pk).status == ApiKeyStatus.REVOKED
    org.refresh_from_db()
    assert org.archived_at is not None


def test_a_purge_before_the_retention_period_ends_is_refused(archived: Organization) -> None:
    with pytest.raises(Conflict, match="retention period ends"):
        organization_purge(organization=archived, now=timezone.now() + timedelta(days=29))
    assert Message.objects.filter(organization=archived).count() == 5


def test_an_organisation_that_keeps_everything_is_never_purged(org: Organization) -> None:
    archived = organization_archive(organization=org, actor=ACTOR)
    with pytest.raises(Conflict, match="forever"):
        organization_purge(organization=archived, now=timezone.now() + timedelta(days=9999))


def test_an_active_legal_hold_stops_the_purge(archived: Organization) -> None:
    LegalHoldFactory(organization=archived)
    with pytest.raises(Conflict, match="legal hold"):
        organization_purge(organization=archived, now=timezone.now() + timedelta(days=31))


def test_after_retention_the_purge_removes_everything_in_batches_and_nothing_else(
    archived: Organization, other_org: Organization, outsider_identity: AgentIdentity
) -> None:
    kept = MessageFactory(conversation__identity=outsider_identity)

    counts = organization_purge(
        organization=archived, now=timezone.now() + timedelta(days=31), batch_size=2
    )

    assert (counts.messages, counts.conversations) == (5, 5)
    assert not Organization.objects.filter(pk=archived.pk).exists()
    assert not Conversation.objects.filter(organization_id=archived.pk).exists()
    assert Message.objects.filter(pk=kept.pk).exists()


def test_the_command_archives_then_refuses_an_early_purge(org: Organization) -> None:
    org.message_retention_days = 30
    org.save()
    out = io.StringIO()

    call_command("offboard_organization", "--org", org.slug, stdout=out)

    assert "may be purged from" in out.getvalue()
    with pytest.raises(CommandError, match="retention period ends"):
        call_command("offboard_organization", "--org", org.slug, "--purge", stdout=out)
