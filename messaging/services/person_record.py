"""A person's whole record in one organisation, for the person or an investigator.

`person_record_write` writes a ZIP holding `record.json` (schema in
docs/person-record.md, versioned by `schema_version`), `transcript.html` (printable and
self-contained: no external asset) and the stored media files the messages show. It
covers every conversation the number had with any of the organisation's identities
(group threads: the person's own messages and the identity's), each message with its
redaction marker, reactions and delivery status, the contact rules that named the number,
its opt-outs and opt-ins, and its connections and releases. Another organisation's data is
never read: every query starts from the organisation.
"""

from __future__ import annotations

import json
import mimetypes
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from django.db.models import Prefetch, Q, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from console.models import Organization
from messaging.models import ConsentEvent, Conversation, MediaObject, Message, Reaction
from routing.models import Assignment, ContactRule

RECORD_SCHEMA_VERSION = "1"
MESSAGE_CHUNK = 1000
PROGRESS_EVERY = 500

Progress = Callable[[int, int], None]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass
class _Build:
    organization: Organization
    number: str
    media_files: dict[str, MediaObject] = field(default_factory=dict)
    # The media objects the messages read so far refer to, by id: one query per chunk.
    media_objects: dict[str, MediaObject] = field(default_factory=dict)


def person_conversations(*, organization: Organization, number: str) -> QuerySet[Conversation]:
    """The number's conversations in `organization`: one-to-one, and group threads it is in."""
    return (
        Conversation.objects.filter(organization=organization)
        .filter(Q(remote_number=number) | Q(is_group=True, participants__icontains=number))
        .select_related("identity")
        .order_by("created_at", "id")
    )


def person_messages(*, organization: Organization, number: str) -> QuerySet[Message]:
    conversations = person_conversations(organization=organization, number=number)
    own = Q(remote_number=number) | Q(sender_number=number)
    in_groups = Q(conversation__is_group=True, direction="outbound")
    return (
        Message.objects.filter(organization=organization, conversation__in=conversations)
        .filter(own | in_groups)
        .prefetch_related(Prefetch("reactions", queryset=Reaction.objects.order_by("created_at")))
        .order_by("conversation_id", "created_at", "id")
    )


def person_record_write(
    *,
    organization: Organization,
    number: str,
    out: IO[bytes],
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write the ZIP to `out`; returns the record (what `record.json` holds)."""
    build = _Build(organization=organization, number=number)
    record = _record(build, progress)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("record.json", json.dumps(record, indent=2, ensure_ascii=False))
        archive.writestr(
            "transcript.html",
            render_to_string("records/transcript.html", {"record": record}),
        )
        for path, media in build.media_files.items():
            with media.file.open("rb") as stored:
                archive.writestr(path, stored.read())
    return record


def _record(build: _Build, progress: Progress | None) -> dict[str, Any]:
    org, number = build.organization, build.number
    conversations = list(person_conversations(organization=org, number=number))
    total = person_messages(organization=org, number=number).count()
    by_conversation: dict[Any, list[dict[str, Any]]] = {c.id: [] for c in conversations}
    done = 0
    for chunk in _message_chunks(build):
        _load_media(build, chunk)
        for message in chunk:
            done += 1
            by_conversation[message.conversation_id].append(_message(build, message))
            if progress and (done % PROGRESS_EVERY == 0 or done == total):
                progress(done, total)
    if progress and total == 0:
        progress(0, 0)
    return {
        "schema_version": RECORD_SCHEMA_VERSION,
        "generated_at": timezone.now().isoformat(),
        "organization": {"id": str(org.id), "name": org.name},
        "person": {"number": number},
        "conversations": [
            {
                "id": str(c.id),
                "identity": {
                    "handle": c.identity.released_handle or c.identity.handle,
                    "display_name": c.identity.display_name,
                    "archived": c.identity.archived_at is not None,
                },
                "is_group": c.is_group,
                "participants": list(c.participants or []),
                "created_at": _iso(c.created_at),
                "messages": by_conversation[c.id],
            }
            for c in conversations
        ],
        "contact_rules": _contact_rules(org, number),
        "consent": _consent(org, number),
        "connections": _connections(org, number),
    }


def _message_chunks(build: _Build) -> Iterator[list[Message]]:
    messages = person_messages(organization=build.organization, number=build.number)
    chunk: list[Message] = []
    for message in messages.iterator(chunk_size=MESSAGE_CHUNK):
        chunk.append(message)
        if len(chunk) == MESSAGE_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _load_media(build: _Build, messages: list[Message]) -> None:
    wanted = {
        str(item["media_object_id"])
        for message in messages
        for item in message.media or []
        if item.get("media_object_id")
    }
    wanted -= build.media_objects.keys()
    if wanted:
        found = MediaObject.objects.filter(organization=build.organization, pk__in=wanted)
        build.media_objects.update({str(media.pk): media for media in found})


def _message(build: _Build, message: Message) -> dict[str, Any]:
    return {
        "id": str(message.id),
        "direction": message.direction,
        "from": message.sender_number if message.is_group else None,
        "created_at": _iso(message.created_at),
        "service": message.service,
        "content": message.content,
        "media": [_media(build, item) for item in message.media or []],
        "redacted_at": _iso(message.redacted_at),
        "is_blocked": message.is_blocked,
        "status": message.status,
        "was_downgraded": message.was_downgraded,
        "read_at": _iso(message.read_at),
        "error": (
            {"code": message.error_code, "message": message.error_message}
            if message.error_code or message.error_message
            else None
        ),
        "updated_at": _iso(message.updated_at),
        "reactions": [
            {
                "direction": r.direction,
                "reaction": r.reaction,
                "custom_emoji": r.custom_emoji,
                "created_at": _iso(r.created_at),
                "removed_at": _iso(r.removed_at),
            }
            for r in message.reactions.all()
        ],
    }


def _media(build: _Build, item: dict[str, Any]) -> dict[str, Any]:
    described: dict[str, Any] = {
        "content_type": item.get("content_type"),
        "size": item.get("size"),
        "file": None,
    }
    object_id = item.get("media_object_id")
    if object_id:
        media = build.media_objects.get(str(object_id))
        if media is not None and media.file:
            extension = mimetypes.guess_extension(media.content_type) or ""
            path = f"media/{media.pk}{extension}"
            build.media_files[path] = media
            described["file"] = path
    elif item.get("url"):
        described["url"] = item["url"]
    return described


def _contact_rules(org: Organization, number: str) -> list[dict[str, Any]]:
    rules = ContactRule.objects.filter(
        identity__organization=org, match_target=number
    ).select_related("identity")
    return [
        {
            "identity": r.identity.handle,
            "action": r.action,
            "direction": r.direction,
            "status": r.status,
            "created_at": _iso(r.created_at),
            "updated_at": _iso(r.updated_at),
        }
        for r in rules.order_by("created_at")
    ]


def _consent(org: Organization, number: str) -> list[dict[str, Any]]:
    """Every opt-out and opt-in of the number with the organisation's identities."""
    events = ConsentEvent.objects.filter(organization=org, remote_number=number).select_related(
        "identity"
    )
    return [
        {
            "identity": e.identity.handle if e.identity else None,
            "kind": e.kind,
            "source": e.source,
            "keyword": e.keyword or None,
            "operator": e.operator_label or None,
            "reason": e.reason or None,
            "source_message_id": str(e.source_message_id) if e.source_message_id else None,
            "created_at": _iso(e.created_at),
        }
        for e in events.order_by("created_at", "id")
    ]


def _connections(org: Organization, number: str) -> list[dict[str, Any]]:
    assignments = Assignment.objects.filter(organization=org, remote_number=number).select_related(
        "identity", "pool_line"
    )
    return [
        {
            "identity": a.identity.handle,
            "line": a.pool_line.number,
            "status": a.status,
            "connected_at": _iso(a.created_at),
            "released_at": _iso(a.released_at),
            "release_reason": a.release_reason or None,
        }
        for a in assignments.order_by("created_at")
    ]
