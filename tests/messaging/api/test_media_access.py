"""Patient media is not public: signed, expiring URLs; the owner's API key on the plain
path; one 404 for every refusal; private, no-store, nosniff; downloads for non-media."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from messaging.media_urls import refresh_signed_urls, signed_url
from messaging.models import MediaObject, Message
from tests.messaging.factories import MessageFactory

pytestmark = pytest.mark.django_db

MEDIA = "/api/v1/imessage/media"
SEND = "/api/v1/imessage/messages"
PNG = b"\x89PNG\r\n\x1a\n patient photo"
PDF = b"%PDF-1.7 lab results"
SIGNED = re.compile(
    r"/media/s/(?P<id>[0-9a-f]{32})/(?P<expires>\d+)/(?P<sig>[A-Za-z0-9_-]{43})\.png$"
)


def upload(client: Any, data: bytes = PNG, name: str = "photo.png") -> dict[str, Any]:
    response = client.post(MEDIA, {"file": SimpleUploadedFile(name, data)}, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()


def path(url: str) -> str:
    return url.removeprefix(settings.PUBLIC_BASE_URL)


def fetch(client: Client, url: str, **headers: Any) -> Any:
    return client.get(path(url), **headers)


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def not_found(client: Client) -> tuple[int, bytes]:
    missing = client.get(f"/media/s/{uuid.uuid4().hex}/9999999999/{'A' * 43}.png")
    return missing.status_code, missing.content


def test_an_upload_answers_a_signed_expiring_url_with_the_extension_last(identity_client):
    url = upload(identity_client)["media_url"]

    match = SIGNED.search(url)
    assert match is not None and "?" not in url
    assert abs(int(match["expires"]) - (time.time() + settings.MEDIA_URL_TTL_SECONDS)) < 60


def test_a_signed_url_serves_the_file_private_and_unsniffable(identity_client, client):
    url = upload(identity_client)["media_url"]

    response = fetch(client, url)

    assert response.status_code == 200 and body(response) == PNG
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "image/png"
    assert "attachment" not in response.get("Content-Disposition", "")


def test_a_pdf_is_served_as_a_download(identity_client, client):
    url = upload(identity_client, PDF, "results.pdf")["media_url"]

    response = fetch(client, url)

    assert response["Content-Disposition"].startswith("attachment")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda m: f"/media/s/{m['id']}/{m['expires']}/{'B' * 43}.png",  # wrong signature
        lambda m: f"/media/s/{m['id']}/{int(m['expires']) + 1}/{m['sig']}.png",  # longer life
        lambda m: f"/media/s/{uuid.uuid4().hex}/{m['expires']}/{m['sig']}.png",  # other object
    ],
    ids=["signature", "expiry", "object"],
)
def test_a_tampered_signed_url_answers_the_missing_object_404(identity_client, client, tamper):
    match = SIGNED.search(upload(identity_client)["media_url"])
    assert match is not None

    response = client.get(tamper(match))

    assert (response.status_code, response.content) == not_found(client)


def test_an_expired_signed_url_answers_the_missing_object_404(identity_client, client):
    url = upload(identity_client)["media_url"]

    with time_machine.travel(time.time() + settings.MEDIA_URL_TTL_SECONDS + 5):
        response = fetch(client, url)

    assert (response.status_code, response.content) == not_found(client)


def test_the_plain_path_answers_only_the_owning_organisation_key(
    identity_client, admin_key, outsider_client, client
):
    upload(identity_client)
    plain = f"/media/{MediaObject.objects.get().file.name}"

    anonymous = client.get(plain)
    outsider = client.get(plain, HTTP_X_API_KEY=outsider_client.issued.raw_key)
    owner = client.get(plain, HTTP_X_API_KEY=admin_key.raw_key)
    agent = client.get(plain, HTTP_X_API_KEY=identity_client.issued.raw_key)

    assert (anonymous.status_code, anonymous.content) == not_found(client)
    assert (outsider.status_code, outsider.content) == not_found(client)
    assert owner.status_code == 200 and body(owner) == PNG
    assert agent.status_code == 200


def test_each_read_of_a_message_issues_a_fresh_url(identity_client, conversation, client):
    media = MediaObject.objects.create(
        organization=conversation.organization,
        file="media/x/a.png",
        content_type="image/png",
        size=1,
        sha256="0",
    )
    message = MessageFactory(
        conversation=conversation,
        media=[
            {
                "url": "http://127.0.0.1:8000/media/media/x/a.png",
                "content_type": "image/png",
                "size": 1,
                "media_object_id": str(media.id),
            }
        ],
    )

    first = identity_client.get(f"/api/v1/imessage/messages/{message.id}").json()["media"][0]
    with time_machine.travel(time.time() + 10):
        second = identity_client.get(f"/api/v1/imessage/messages/{message.id}").json()["media"]

    assert SIGNED.search(first["url"]) and SIGNED.search(second[0]["url"])
    assert first["url"] != second[0]["url"]


def test_a_send_with_an_uploaded_url_hands_the_provider_a_long_lived_signed_url(
    identity_client, conversation, fake_provider, client, django_capture_on_commit_callbacks
):
    uploaded = upload(identity_client)["media_url"]

    with django_capture_on_commit_callbacks(execute=True):
        sent = identity_client.post(
            SEND,
            {"conversation_id": str(conversation.id), "media_urls": [uploaded]},
            format="json",
        )

    assert sent.status_code == 201, sent.content
    [call] = fake_provider.calls_to("send_message")
    provider_url = call.kwargs["media_url"]
    match = SIGNED.search(provider_url)
    assert match is not None and provider_url != uploaded
    assert abs(int(match["expires"]) - (time.time() + settings.MEDIA_PROVIDER_URL_TTL_SECONDS)) < 60
    sent_id = sent.json()["message"]["id"]
    assert Message.objects.get(pk=sent_id).send_state == "sent"
    assert body(fetch(client, provider_url)) == PNG
    agent_view = identity_client.get(f"/api/v1/imessage/messages/{sent_id}").json()
    assert agent_view["media"][0]["url"] != provider_url
    assert agent_view["media"][0]["content_type"] == "image/png"


def test_a_send_naming_another_organisation_media_is_not_signed_for_it(
    identity_client,
    outsider_client,
    conversation,
    fake_provider,
    django_capture_on_commit_callbacks,
):
    upload(outsider_client)
    foreign_plain = f"{settings.PUBLIC_BASE_URL}/media/{MediaObject.objects.get().file.name}"

    with django_capture_on_commit_callbacks(execute=True):
        identity_client.post(
            SEND,
            {"conversation_id": str(conversation.id), "media_urls": [foreign_plain]},
            format="json",
        )

    [call] = fake_provider.calls_to("send_message")
    assert call.kwargs["media_url"] == foreign_plain


def test_a_webhook_retry_carries_freshly_signed_media_urls(db):
    media_id = uuid.uuid4()
    stale = signed_url(object_id=media_id, content_type="image/png", ttl_seconds=-60)
    forged = f"{settings.PUBLIC_BASE_URL}/media/s/{uuid.uuid4().hex}/1/{'C' * 43}.png"
    payload = (
        '{"id":"evt_1","data":{"message":{"media":['
        f'{{"url":"{stale}","content_type":"image/png","size":1}},'
        f'{{"url":"{forged}","content_type":"image/png","size":1}}'
        "]}}}"
    )

    refreshed = refresh_signed_urls(payload)

    fresh, kept = re.findall(r'"url":"([^"]+)"', refreshed)
    match = SIGNED.search(fresh)
    assert match is not None and match["id"] == media_id.hex
    assert int(match["expires"]) > time.time()
    assert kept == forged


def test_a_payload_without_our_media_is_sent_unchanged():
    payload = '{"data":{"message":{"media":[{"url":"https://cdn.example/a.jpg"}]}}}'

    assert refresh_signed_urls(payload) is payload


def test_a_contact_card_for_the_provider_is_signed_for_the_provider_lifetime(org, client):
    from messaging.media import media_bytes_publish

    url = media_bytes_publish(
        organization_id=org.id,
        filename="contact.vcf",
        content_type="text/vcard",
        body=b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Nurse\r\nEND:VCARD\r\n",
    )

    match = re.search(r"/media/s/[0-9a-f]{32}/(\d+)/[A-Za-z0-9_-]{43}\.vcf$", url)
    assert match is not None
    assert abs(int(match[1]) - (time.time() + settings.MEDIA_PROVIDER_URL_TTL_SECONDS)) < 60
    response = fetch(client, url)
    assert response["Content-Type"] == "text/vcard"
    assert response["Content-Disposition"].startswith("attachment")
