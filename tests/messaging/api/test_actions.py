"""Tapbacks, read receipts, typing indicators and media uploads."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from messaging.models import MediaObject, Reaction
from provisioning.providers.base import ProviderError
from routing.models import AssignmentStatus
from tests.messaging.conftest import PERSON, POOL_NUMBER
from tests.messaging.factories import ConversationFactory, MessageFactory, ReactionFactory
from tests.routing.factories import ContactRuleFactory

pytestmark = pytest.mark.django_db

REACTIONS = "/api/v1/imessage/reactions"
MARK_READ = "/api/v1/imessage/mark-read"
TYPING = "/api/v1/imessage/typing"
MEDIA = "/api/v1/imessage/media"


@pytest.fixture
def inbound(conversation):
    return MessageFactory(conversation=conversation, provider_handle="in-1")


def react(client, message, reaction="love", part_index=0):
    return client.post(
        REACTIONS,
        {"message_id": str(message.id), "reaction": reaction, "part_index": part_index},
        format="json",
    )


# --- Tapbacks -------------------------------------------------------------------------


def test_a_tapback_is_sent_through_the_provider_and_returned(
    identity_client, inbound, fake_provider
):
    response = react(identity_client, inbound, "love")

    assert response.status_code == 201
    body = response.json()
    assert body["target_message_id"] == str(inbound.id)
    assert body["reaction"] == "love"
    assert body["direction"] == "outbound"
    assert body["remote_number"] == PERSON
    [call] = fake_provider.calls_to("send_reaction")
    assert call.kwargs == {
        "from_number": POOL_NUMBER,
        "provider_handle": "in-1",
        "reaction": "love",
        "part_index": 0,
    }


def test_a_second_tapback_replaces_the_first(identity_client, inbound):
    first = react(identity_client, inbound, "love").json()
    second = react(identity_client, inbound, "laugh").json()

    live = Reaction.objects.filter(message=inbound, is_live=True)
    assert [str(r.id) for r in live] == [second["id"]]
    assert not Reaction.objects.get(pk=first["id"]).is_live
    message = identity_client.get(f"/api/v1/imessage/messages/{inbound.id}").json()
    assert [r["reaction"] for r in message["reactions"]] == ["laugh"]


def test_tapbacks_on_different_parts_coexist(identity_client, inbound):
    react(identity_client, inbound, "love", part_index=0)
    react(identity_client, inbound, "like", part_index=1)

    assert Reaction.objects.filter(message=inbound, is_live=True).count() == 2


@pytest.mark.parametrize("kind", ["custom", "eyes", "wow"])
def test_only_the_classic_six_can_be_sent_and_others_never_reach_the_provider(
    identity_client, inbound, fake_provider, kind
):
    response = react(identity_client, inbound, kind)

    assert response.status_code == 400
    assert response.json()["detail"]["error"] == "invalid_reaction"
    assert fake_provider.calls_to("send_reaction") == []


@pytest.mark.parametrize("kind", ["love", "like", "dislike", "laugh", "emphasize", "question"])
def test_each_of_the_classic_six_is_sent(identity_client, inbound, fake_provider, kind):
    assert react(identity_client, inbound, kind).status_code == 201
    assert fake_provider.calls_to("send_reaction")[-1].kwargs["reaction"] == kind


def test_a_tapback_on_our_own_sent_message_goes_to_the_provider_with_its_handle(
    identity_client, conversation, fake_provider
):
    ours = MessageFactory(conversation=conversation, direction="outbound", provider_handle="out-1")

    response = react(identity_client, ours, "like")

    assert response.status_code == 201
    assert response.json()["target_message_id"] == str(ours.id)
    assert response.json()["direction"] == "outbound"
    assert fake_provider.calls_to("send_reaction")[-1].kwargs["provider_handle"] == "out-1"


def test_a_second_tapback_on_our_own_message_replaces_the_first(identity_client, conversation):
    ours = MessageFactory(conversation=conversation, direction="outbound", provider_handle="out-2")
    react(identity_client, ours, "like")

    second = react(identity_client, ours, "emphasize").json()

    live = Reaction.objects.filter(message=ours, is_live=True)
    assert [str(r.id) for r in live] == [second["id"]]


def test_our_tapback_and_the_persons_on_one_message_both_stay_live(identity_client, conversation):
    ours = MessageFactory(conversation=conversation, direction="outbound", provider_handle="out-3")
    theirs = ReactionFactory(message=ours, direction="inbound", reaction="love")

    react(identity_client, ours, "laugh")

    assert set(Reaction.objects.filter(message=ours, is_live=True)) >= {theirs}
    assert Reaction.objects.filter(message=ours, is_live=True).count() == 2


def test_a_tapback_on_our_message_not_yet_sent_is_409(identity_client, conversation, fake_provider):
    queued = MessageFactory(conversation=conversation, direction="outbound", provider_handle=None)

    response = react(identity_client, queued)

    assert response.status_code == 409
    assert response.json()["detail"]["error"] == "message_not_sent"
    assert fake_provider.calls_to("send_reaction") == []


def test_a_tapback_on_a_blocked_message_is_404_for_scoped_keys(identity_client, conversation):
    blocked = MessageFactory(conversation=conversation, is_blocked=True)

    assert react(identity_client, blocked).status_code == 404


def test_a_tapback_to_a_blocked_recipient_is_403(admin_client, identity, inbound):
    ContactRuleFactory(identity=identity, match_target=PERSON, action="block")

    assert react(admin_client, inbound).status_code == 403


def test_a_tapback_on_a_message_of_another_identity_is_404(identity_client, other_identity):
    foreign = MessageFactory(conversation=ConversationFactory(identity=other_identity))

    assert react(identity_client, foreign).status_code == 404


def test_a_tapback_on_another_organisations_message_is_404(outsider_client, inbound):
    assert react(outsider_client, inbound).status_code == 404


def test_a_tapback_in_a_released_conversation_is_409(identity_client, inbound, assignment):
    assignment.status = AssignmentStatus.RELEASED
    assignment.save()

    assert react(identity_client, inbound).status_code == 409


def test_a_provider_failure_keeps_the_previous_tapback(identity_client, inbound, fake_provider):
    first = react(identity_client, inbound, "love").json()
    fake_provider.fail_next.append(ProviderError("boom", permanent=False, status_code=503))

    response = react(identity_client, inbound, "laugh")

    assert response.status_code == 502
    assert Reaction.objects.get(pk=first["id"]).is_live


def test_removing_our_tapback_takes_it_down_without_a_provider_call(
    identity_client, inbound, fake_provider
):
    reaction = react(identity_client, inbound, "love").json()

    response = identity_client.delete(f"{REACTIONS}/{reaction['id']}")

    assert response.status_code == 204
    assert not Reaction.objects.get(pk=reaction["id"]).is_live
    assert len(fake_provider.calls_to("send_reaction")) == 1
    message = identity_client.get(f"/api/v1/imessage/messages/{inbound.id}").json()
    assert message["reactions"] == []


def test_removing_an_already_removed_tapback_succeeds_without_a_provider_call(
    identity_client, inbound, fake_provider
):
    gone = ReactionFactory(message=inbound, is_live=False)

    response = identity_client.delete(f"{REACTIONS}/{gone.id}")

    assert response.status_code == 204
    assert fake_provider.calls_to("send_reaction") == []


def test_removing_the_other_partys_tapback_is_403(identity_client, conversation):
    theirs = ReactionFactory(
        message=MessageFactory(conversation=conversation, direction="outbound"),
        direction="inbound",
    )

    assert identity_client.delete(f"{REACTIONS}/{theirs.id}").status_code == 403


def test_removing_a_tapback_works_while_the_provider_is_down(
    identity_client, inbound, fake_provider
):
    reaction = react(identity_client, inbound, "love").json()
    fake_provider.fail_next.append(ProviderError("boom", permanent=False, status_code=503))

    response = identity_client.delete(f"{REACTIONS}/{reaction['id']}")

    assert response.status_code == 204
    assert not Reaction.objects.get(pk=reaction["id"]).is_live


def test_removing_a_tapback_in_a_released_conversation_still_records_it(
    identity_client, inbound, assignment
):
    reaction = react(identity_client, inbound, "love").json()
    assignment.status = AssignmentStatus.RELEASED
    assignment.save()

    assert identity_client.delete(f"{REACTIONS}/{reaction['id']}").status_code == 204
    assert not Reaction.objects.get(pk=reaction["id"]).is_live


def test_removing_a_tapback_of_another_identity_is_404(identity_client, other_identity):
    foreign = ReactionFactory(
        message=MessageFactory(conversation=ConversationFactory(identity=other_identity))
    )

    assert identity_client.delete(f"{REACTIONS}/{foreign.id}").status_code == 404


# --- Mark read and typing ----------------------------------------------------------------


def test_mark_read_sends_a_receipt_and_marks_inbound_rows(
    identity_client, conversation, fake_provider
):
    MessageFactory.create_batch(2, conversation=conversation)
    MessageFactory(conversation=conversation, is_read=True)
    MessageFactory(conversation=conversation, direction="outbound", is_read=False)

    response = identity_client.post(
        MARK_READ, {"conversation_id": str(conversation.id)}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {"conversation_id": str(conversation.id), "updated_count": 2}
    [call] = fake_provider.calls_to("mark_read")
    assert call.kwargs == {"from_number": POOL_NUMBER, "to_number": PERSON}


def test_mark_read_leaves_blocked_rows_alone(identity_client, conversation):
    blocked = MessageFactory(conversation=conversation, is_blocked=True)

    identity_client.post(MARK_READ, {"conversation_id": str(conversation.id)}, format="json")

    blocked.refresh_from_db()
    assert blocked.is_read is False


def test_mark_read_on_another_identitys_conversation_is_404(identity_client, other_identity):
    foreign = ConversationFactory(identity=other_identity)

    response = identity_client.post(MARK_READ, {"conversation_id": str(foreign.id)}, format="json")

    assert response.status_code == 404


def test_mark_read_on_a_non_phone_conversation_is_422(identity_client, identity):
    email = ConversationFactory(identity=identity, remote_number="someone@example.com")
    MessageFactory(conversation=email)

    response = identity_client.post(MARK_READ, {"conversation_id": str(email.id)}, format="json")

    assert response.status_code == 422
    assert response.json()["detail"]["error"] == "recipient_not_e164"


def test_typing_answers_204_and_reaches_the_provider(identity_client, conversation, fake_provider):
    response = identity_client.post(
        TYPING, {"conversation_id": str(conversation.id)}, format="json"
    )

    assert response.status_code == 204
    [call] = fake_provider.calls_to("send_typing")
    assert call.kwargs == {"from_number": POOL_NUMBER, "to_number": PERSON}


def test_typing_in_a_released_conversation_is_409(identity_client, conversation, assignment):
    assignment.status = AssignmentStatus.RELEASED
    assignment.save()

    response = identity_client.post(
        TYPING, {"conversation_id": str(conversation.id)}, format="json"
    )

    assert response.status_code == 409


def test_typing_without_a_conversation_id_is_400(identity_client):
    assert identity_client.post(TYPING, {}, format="json").status_code == 400


# --- Media -------------------------------------------------------------------------------


def test_media_upload_stores_the_file_and_returns_an_absolute_url(
    identity_client, settings, client
):
    upload = SimpleUploadedFile("scan.png", b"\x89PNG fake", content_type="image/png")

    response = identity_client.post(MEDIA, {"file": upload}, format="multipart")

    assert response.status_code == 201
    body = response.json()
    assert body["media_url"].startswith(settings.PUBLIC_BASE_URL + "/media/")
    assert body["media_url"].endswith(".png")
    assert body == {**body, "content_type": "image/png", "size": 9}
    stored = MediaObject.objects.get()
    served = client.get(body["media_url"].removeprefix(settings.PUBLIC_BASE_URL))
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == b"\x89PNG fake"
    assert stored.sha256


@pytest.mark.parametrize(
    ("filename", "declared", "data", "sniffed", "extension"),
    [
        ("a.jpg", "image/jpeg", b"\x89PNG\r\n\x1a\n....", "image/png", ".png"),
        ("a.png", "application/octet-stream", b"\xff\xd8\xff\xe0 jfif", "image/jpeg", ".jpg"),
        ("card.txt", "text/plain", b"BEGIN:VCARD\r\nFN:A\r\nEND:VCARD\r\n", "text/vcard", ".vcf"),
        (
            "x.png",
            "image/png",
            b"<html><script>alert(1)</script>",
            "application/octet-stream",
            ".bin",
        ),
    ],
)
def test_uploads_take_type_and_extension_from_their_bytes_not_their_name(
    identity_client, filename, declared, data, sniffed, extension
):
    upload = SimpleUploadedFile(filename, data, content_type=declared)

    body = identity_client.post(MEDIA, {"file": upload}, format="multipart").json()

    assert body["content_type"] == sniffed
    assert body["media_url"].endswith(extension)
    assert MediaObject.objects.get().file.name.endswith(extension)


def test_an_uploaded_html_file_is_served_as_a_download(identity_client, settings, client):
    upload = SimpleUploadedFile("x.html", b"<script>alert(1)</script>", content_type="text/html")
    url = identity_client.post(MEDIA, {"file": upload}, format="multipart").json()["media_url"]

    served = client.get(url.removeprefix(settings.PUBLIC_BASE_URL))

    assert served["Content-Type"] == "application/octet-stream"
    assert served["Content-Disposition"].startswith("attachment")


def test_media_over_the_limit_is_413(identity_client, settings):
    settings.MEDIA_MAX_BYTES = 1024
    upload = SimpleUploadedFile("big.jpg", b"x" * 1025, content_type="image/jpeg")

    response = identity_client.post(MEDIA, {"file": upload}, format="multipart")

    assert response.status_code == 413
    assert response.json()["detail"]["error"] == "media_too_large"
    assert not MediaObject.objects.exists()


def test_media_is_refused_from_the_declared_length_before_the_body_is_read(
    identity_client, settings, monkeypatch
):
    from rest_framework.request import Request

    settings.MEDIA_MAX_BYTES = 1024
    read = []
    monkeypatch.setattr(Request, "_load_data_and_files", lambda self: read.append(1))

    response = identity_client.generic(
        "POST",
        MEDIA,
        b"x" * 10,
        content_type="multipart/form-data; boundary=xyz",
        CONTENT_LENGTH=str(200 * 1024),
    )

    assert response.status_code == 413
    assert read == []


def test_media_without_a_file_part_is_400(identity_client):
    response = identity_client.post(MEDIA, {"other": "x"}, format="multipart")

    assert response.status_code == 400


def test_an_uploaded_media_url_can_be_sent(identity_client, conversation, settings):
    upload = SimpleUploadedFile("a.jpg", b"jpeg", content_type="image/jpeg")
    url = identity_client.post(MEDIA, {"file": upload}, format="multipart").json()["media_url"]

    response = identity_client.post(
        "/api/v1/imessage/messages",
        {"conversation_id": str(conversation.id), "media_urls": [url]},
        format="json",
    )

    assert response.status_code == 201
