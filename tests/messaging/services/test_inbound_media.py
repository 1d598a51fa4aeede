"""Inbound media is fetched through the SSRF guard of agent webhooks: https only, every hop
checked and connected to at its checked address, at most 3 redirects, capped size, and
only images, video, audio, PDF and contact cards."""

from __future__ import annotations

import httpx
import pytest

from messaging import media
from messaging.models import MediaObject
from tests.messaging.conftest import PUBLIC_ADDRESS, Cdn
from tests.messaging.factories import MessageFactory

pytestmark = pytest.mark.django_db

JPEG = b"\xff\xd8\xff\xe0 a photo"


def with_media(conversation, url: str):
    return MessageFactory(
        conversation=conversation,
        media=[{"url": url, "content_type": None, "size": None, "rehosted": False}],
    )


def rehost(message) -> dict:
    media.media_rehost(message_id=message.id)
    message.refresh_from_db()
    return message.media[0]


def redirect(to: str) -> httpx.Response:
    return httpx.Response(302, headers={"location": to})


def test_the_fetch_connects_to_the_checked_address_with_the_host_name_kept(conversation, cdn: Cdn):
    url = "https://cdn.provider.example/a/photo.jpg"
    cdn[url] = httpx.Response(200, content=JPEG, headers={"content-type": "image/jpeg"})

    item = rehost(with_media(conversation, url))

    assert item["rehosted"] is True
    assert cdn.requests == [(f"https://{PUBLIC_ADDRESS}/a/photo.jpg", "cdn.provider.example")]


@pytest.mark.parametrize(
    ("url", "dns"),
    [
        ("https://internal.example/admin", ["10.0.0.5"]),
        ("https://169.254.169.254/latest/meta-data/", None),
        ("https://metadata.google.internal/computeMetadata/v1/", None),
        ("https://[::ffff:10.0.0.5]/x", None),
        ("https://[64:ff9b::a00:5]/x", None),
        ("https://rebind.example/x", [PUBLIC_ADDRESS, "192.168.0.10"]),
        ("http://cdn.provider.example/photo.jpg", None),
        ("file:///etc/passwd", None),
        ("https://user:pw@cdn.provider.example/photo.jpg", None),
    ],
)
def test_a_refused_address_is_never_requested_and_the_item_is_marked_unavailable(
    conversation, cdn: Cdn, url: str, dns: list[str] | None
):
    if dns is not None:
        cdn.dns[url.split("/")[2]] = dns
    cdn[url] = httpx.Response(200, content=JPEG)

    item = rehost(with_media(conversation, url))

    assert cdn.requests == []
    assert item["unavailable"] is True and item["rehosted"] is None
    assert item["rehost_error"].startswith("refused")
    assert not MediaObject.objects.exists()


def test_a_redirect_to_an_internal_address_is_refused_before_it_is_followed(conversation, cdn: Cdn):
    url = "https://cdn.provider.example/photo.jpg"
    cdn.dns["internal.example"] = ["10.0.0.5"]
    cdn[url] = redirect("https://internal.example/secret")

    item = rehost(with_media(conversation, url))

    assert [host for _, host in cdn.requests] == ["cdn.provider.example"]
    assert item["unavailable"] is True
    assert not MediaObject.objects.exists()


def test_three_redirects_are_followed_each_checked_again(conversation, cdn: Cdn):
    url = "https://a.example/1"
    cdn[url] = redirect("https://b.example/2")
    cdn["https://b.example/2"] = redirect("/3")
    cdn["https://b.example/3"] = redirect("https://c.example/4.jpg")
    cdn["https://c.example/4.jpg"] = httpx.Response(200, content=JPEG)

    item = rehost(with_media(conversation, url))

    assert item["rehosted"] is True
    assert [host for _, host in cdn.requests] == [
        "a.example",
        "b.example",
        "b.example",
        "c.example",
    ]


def test_a_fourth_redirect_is_refused(conversation, cdn: Cdn):
    for n in range(1, 5):
        cdn[f"https://a.example/{n}"] = redirect(f"https://a.example/{n + 1}")
    cdn["https://a.example/5"] = httpx.Response(200, content=JPEG)

    item = rehost(with_media(conversation, "https://a.example/1"))

    assert item["unavailable"] is True and "redirects" in item["rehost_error"]
    assert len(cdn.requests) == 4


@pytest.mark.parametrize(
    ("declared", "body"),
    [
        ("text/html", b"<html><body>internal page</body></html>"),
        ("application/octet-stream", b"<html><body>internal page</body></html>"),
        ("image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>"),
        ("application/json", b'{"secret": 1}'),
        ("image/jpeg", b"not a jpeg at all"),
    ],
)
def test_anything_but_images_video_audio_pdf_and_vcards_is_refused(
    conversation, cdn: Cdn, declared: str, body: bytes
):
    url = "https://cdn.provider.example/file"
    cdn[url] = httpx.Response(200, content=body, headers={"content-type": declared})

    item = rehost(with_media(conversation, url))

    assert item["unavailable"] is True and "not allowed" in item["rehost_error"]
    assert not MediaObject.objects.exists()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"%PDF-1.7 ...", "application/pdf"),
        (b"BEGIN:VCARD\r\nVERSION:3.0\r\nEND:VCARD\r\n", "text/vcard"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00", "video/mp4"),
        (b"caff\x00\x01\x00\x00", "audio/x-caf"),
    ],
)
def test_allowed_types_are_stored_with_their_sniffed_type(
    conversation, cdn: Cdn, body: bytes, content_type: str
):
    url = "https://cdn.provider.example/file"
    cdn[url] = httpx.Response(200, content=body, headers={"content-type": "text/plain"})

    item = rehost(with_media(conversation, url))

    assert item["rehosted"] is True and item["content_type"] == content_type


def test_an_oversized_body_without_a_declared_length_is_cut_off(conversation, cdn, settings):
    settings.INBOUND_MEDIA_MAX_BYTES = 1024
    url = "https://cdn.provider.example/big.jpg"
    cdn[url] = httpx.Response(200, content=iter([JPEG, b"x" * 2048]))

    item = rehost(with_media(conversation, url))

    assert item["unavailable"] is True and "cap" in item["rehost_error"]


def test_an_unresolvable_host_is_retried_later(conversation, cdn: Cdn):
    cdn.dns["gone.example"] = []
    message = with_media(conversation, "https://gone.example/photo.jpg")

    with pytest.raises(media.MediaFetchError) as caught:
        media.media_rehost(message_id=message.id)

    assert caught.value.permanent is False


def test_loopback_http_is_fetched_only_under_the_demo_setting(conversation, cdn, settings):
    url = "http://127.0.0.1:8001/media/abc"
    cdn["http://127.0.0.1:8001/media/abc"] = httpx.Response(200, content=JPEG)

    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    refused = rehost(with_media(conversation, url))
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    fetched = rehost(with_media(conversation, url))

    assert refused["unavailable"] is True
    assert fetched["rehosted"] is True
