"""A person's record: everything about one number in one organisation, nothing else."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console.models import AgentIdentity, AuditEntry, Organization
from messaging.services.person_record import person_record_write
from tests.console.factories import AgentIdentityFactory
from tests.messaging.factories import MediaObjectFactory, MessageFactory, ReactionFactory
from tests.routing.factories import AssignmentFactory, ContactRuleFactory

pytestmark = pytest.mark.django_db
PERSON = "+14155550199"


def _zip(org: Organization, number: str = PERSON) -> tuple[dict[str, Any], zipfile.ZipFile]:
    out = io.BytesIO()
    person_record_write(organization=org, number=number, out=out)
    archive = zipfile.ZipFile(out)
    return json.loads(archive.read("record.json")), archive


def test_the_record_holds_both_conversations_of_a_number_that_talked_to_two_identities(
    org: Organization, identity: AgentIdentity, other_identity: AgentIdentity
) -> None:
    MessageFactory(conversation__identity=identity, conversation__remote_number=PERSON, content="A")
    MessageFactory(
        conversation__identity=other_identity, conversation__remote_number=PERSON, content="B"
    )

    record, _ = _zip(org)

    handles = {c["identity"]["handle"] for c in record["conversations"]}
    assert handles == {identity.handle, other_identity.handle}
    assert sorted(m["content"] for c in record["conversations"] for m in c["messages"]) == [
        "A",
        "B",
    ]


def test_the_record_holds_nothing_from_another_organisation_or_another_person(
    org: Organization, identity: AgentIdentity, outsider_identity: AgentIdentity
) -> None:
    MessageFactory(
        conversation__identity=identity, conversation__remote_number=PERSON, content="mine"
    )
    MessageFactory(
        conversation__identity=outsider_identity,
        conversation__remote_number=PERSON,
        content="theirs",
    )
    MessageFactory(conversation__identity=identity, content="someone else")

    record, archive = _zip(org)

    text = archive.read("record.json").decode() + archive.read("transcript.html").decode()
    assert "mine" in text
    assert "theirs" not in text
    assert "someone else" not in text
    assert record["organization"]["id"] == str(org.id)


def test_redacted_messages_carry_their_marker(org: Organization, identity: AgentIdentity) -> None:
    MessageFactory(
        conversation__identity=identity,
        conversation__remote_number=PERSON,
        content=None,
        redacted_at=timezone.now() - timedelta(days=1),
    )

    record, archive = _zip(org)

    [message] = record["conversations"][0]["messages"]
    assert message["content"] is None
    assert message["redacted_at"] is not None
    assert b"Removed by retention policy" in archive.read("transcript.html")


def test_reactions_rules_and_connections_are_included(
    org: Organization, identity: AgentIdentity
) -> None:
    message = MessageFactory(conversation__identity=identity, conversation__remote_number=PERSON)
    ReactionFactory(message=message, reaction="love")
    ContactRuleFactory(identity=identity, match_target=PERSON, action="block")
    AssignmentFactory(identity=identity, remote_number=PERSON)

    record, _ = _zip(org)

    assert record["conversations"][0]["messages"][0]["reactions"][0]["reaction"] == "love"
    assert [r["action"] for r in record["contact_rules"]] == ["block"]
    assert [c["identity"] for c in record["connections"]] == [identity.handle]


def test_stored_media_is_inside_the_zip(org: Organization, identity: AgentIdentity) -> None:
    media = MediaObjectFactory(organization=org)
    MessageFactory(
        conversation__identity=identity,
        conversation__remote_number=PERSON,
        media=[{"media_object_id": str(media.pk), "content_type": "image/jpeg"}],
    )

    record, archive = _zip(org)

    path = record["conversations"][0]["messages"][0]["media"][0]["file"]
    assert path.startswith("media/")
    assert archive.read(path) == b"\xff\xd8\xff fake jpeg"


def test_media_is_read_in_one_query_however_many_messages_carry_it(
    org: Organization, identity: AgentIdentity
) -> None:
    first = MessageFactory(conversation__identity=identity, conversation__remote_number=PERSON)

    def one_with_media() -> None:
        media = MediaObjectFactory(organization=org)
        MessageFactory(
            conversation=first.conversation,
            media=[{"media_object_id": str(media.pk), "content_type": "image/jpeg"}],
        )

    one_with_media()
    with CaptureQueriesContext(connection) as one:
        _zip(org)
    for _ in range(5):
        one_with_media()

    with CaptureQueriesContext(connection) as six:
        record, _ = _zip(org)

    assert len(six.captured_queries) == len(one.captured_queries)
    files = [m["media"][0]["file"] for m in record["conversations"][0]["messages"] if m["media"]]
    assert len(files) == 6 and all(files)


def test_the_transcript_loads_nothing_from_outside(
    org: Organization, identity: AgentIdentity
) -> None:
    MessageFactory(conversation__identity=identity, conversation__remote_number=PERSON)

    _, archive = _zip(org)

    html = archive.read("transcript.html").decode()
    assert "<link" not in html
    assert "<script" not in html
    assert "src=" not in html


def test_the_schema_is_versioned(org: Organization) -> None:
    record, _ = _zip(org)
    assert record["schema_version"] == "1"
    assert record["person"] == {"number": PERSON}


def test_the_management_command_writes_the_zip_and_audits_it(
    org: Organization, identity: AgentIdentity, tmp_path: Any
) -> None:
    MessageFactory(conversation__identity=identity, conversation__remote_number=PERSON)
    output = tmp_path / "record.zip"

    call_command(
        "export_person", "--org", org.slug, "(415) 555-0199", str(output), stdout=io.StringIO()
    )

    record = json.loads(zipfile.ZipFile(output).read("record.json"))
    assert len(record["conversations"]) == 1
    assert AuditEntry.objects.filter(action="person_record.export", organization=org).exists()


def test_group_threads_hold_the_persons_messages_not_other_members(
    org: Organization, identity: AgentIdentity
) -> None:
    group = {
        "conversation__identity": identity,
        "conversation__is_group": True,
        "conversation__remote_number": "group:abc",
        "conversation__participants": [PERSON, "+14155550100"],
    }
    mine = MessageFactory(**group, is_group=True, sender_number=PERSON, content="from me")
    MessageFactory(
        conversation=mine.conversation, is_group=True, sender_number="+14155550100", content="other"
    )
    AgentIdentityFactory(organization=org)

    record, _ = _zip(org)

    assert [m["content"] for m in record["conversations"][0]["messages"]] == ["from me"]


def test_opt_outs_and_opt_ins_of_the_number_are_included(
    org: Organization, identity: AgentIdentity
) -> None:
    from tests.messaging.factories import ConsentEventFactory

    ConsentEventFactory(identity=identity, remote_number=PERSON, kind="opt_out", keyword="STOP")
    ConsentEventFactory(identity=identity, remote_number="+14155550100", kind="opt_out")

    record, archive = _zip(org)

    assert [(c["kind"], c["keyword"]) for c in record["consent"]] == [("opt_out", "STOP")]
    assert b"texted STOP" in archive.read("transcript.html")
