"""A message retention removed reads as `content: null`, `media: []` and `redacted_at`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from console.models import Organization
from messaging.services.retention import retention_run
from tests.messaging.factories import MessageFactory

pytestmark = pytest.mark.django_db


def test_a_redacted_message_reads_with_no_content_no_media_and_when(
    admin_client, identity, org: Organization
):
    org.message_retention_days = 30
    org.save()
    message = MessageFactory(
        conversation__identity=identity,
        content="Your lab results",
        media=[{"url": "https://media.example.org/x.jpg", "content_type": "image/jpeg"}],
        created_at=timezone.now() - timedelta(days=31),
    )
    retention_run(organization=org)

    body = admin_client.get(f"/api/v1/imessage/messages/{message.id}").json()

    assert body["content"] is None
    assert body["media"] == []
    assert body["redacted_at"] is not None


def test_a_kept_message_reads_redacted_at_null(admin_client, identity):
    message = MessageFactory(conversation__identity=identity, content="Hello")

    body = admin_client.get(f"/api/v1/imessage/messages/{message.id}").json()

    assert (body["content"], body["redacted_at"]) == ("Hello", None)
