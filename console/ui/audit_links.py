"""Links from audit entries to the console pages of their objects.

Each object type with a page has a finder that takes the ids on one page of the log and
answers with the URLs of those that still exist in the viewer's organisations: one query
per type, whatever the number of entries.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.db import models
from django.urls import reverse

from console.models import AgentIdentity, AuditEntry
from messaging.models import Conversation, Message
from messaging.webhooks.models import WebhookDelivery, WebhookSubscription
from provisioning.models import PhoneLine, Setup
from routing.models import Assignment, ContactRule

Links = Callable[[list[uuid.UUID], list[Any]], dict[str, str]]


def _finder(model: type[models.Model], organization: str, argument: str, page: str) -> Links:
    """Objects of `model` (in the organisations `organization` names) link to the console
    page `page`, which takes the object's `argument` (a handle, an id)."""

    def find(ids: list[uuid.UUID], organization_ids: list[Any]) -> dict[str, str]:
        rows = model._default_manager.filter(
            **{"id__in": ids, f"{organization}__in": organization_ids}
        ).values_list("id", argument)
        return {str(pk): reverse(f"console:{page}", args=[value]) for pk, value in rows}

    return find


def _message_links(ids: list[uuid.UUID], organization_ids: list[Any]) -> dict[str, str]:
    """A blocked message has its review page; any other, its conversation."""
    rows = Message.objects.filter(id__in=ids, organization_id__in=organization_ids)
    return {
        str(message_id): (
            reverse("console:blocked-detail", args=[message_id])
            if is_blocked
            else reverse("console:conversation", args=[conversation_id])
        )
        for message_id, is_blocked, conversation_id in rows.values_list(
            "id", "is_blocked", "conversation_id"
        )
    }


LINKS: dict[str, Links] = {
    "AgentIdentity": _finder(AgentIdentity, "organization_id", "handle", "identity"),
    "ContactRule": _finder(ContactRule, "identity__organization_id", "identity__handle", "rules"),
    "Setup": _finder(Setup, "organization_id", "id", "setup"),
    "PhoneLine": _finder(PhoneLine, "setup__organization_id", "setup_id", "setup"),
    "Assignment": _finder(Assignment, "organization_id", "identity__handle", "identity"),
    "WebhookSubscription": _finder(
        WebhookSubscription, "organization_id", "identity__handle", "identity"
    ),
    "WebhookDelivery": _finder(WebhookDelivery, "organization_id", "id", "delivery"),
    "Conversation": _finder(Conversation, "organization_id", "id", "conversation"),
    "Message": _message_links,
}


def object_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def object_links(entries: list[AuditEntry], organization_ids: list[Any]) -> dict[str, str]:
    """`"<type>:<id>"` → console URL for the entries' objects that still have a page."""
    wanted: dict[str, list[uuid.UUID]] = {}
    for entry in entries:
        object_id = object_uuid(entry.object_id)
        if entry.object_type in LINKS and object_id is not None:
            wanted.setdefault(entry.object_type, []).append(object_id)
    links: dict[str, str] = {}
    for object_type, ids in wanted.items():
        for found, url in LINKS[object_type](ids, organization_ids).items():
            links[f"{object_type}:{found}"] = url
    return links
