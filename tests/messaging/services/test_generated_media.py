"""Files the platform generates (`media_bytes_publish`, the router's contact cards): stored
once per organisation and content, found by digest."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection

from messaging.media import _STORED_BY_DIGEST, media_bytes_publish
from messaging.models import MediaObject
from tests.console.factories import OrganizationFactory
from tests.messaging.factories import MediaObjectFactory

pytestmark = pytest.mark.django_db

CARD = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Nurse\r\nEND:VCARD\r\n"


def publish(organization, body: bytes = CARD) -> str:  # type: ignore[no-untyped-def]
    return media_bytes_publish(
        organization_id=organization.id,
        filename="contact.vcf",
        content_type="text/vcard",
        body=body,
    )


def test_identical_content_of_an_organisation_is_stored_once(tmp_path, settings) -> None:
    settings.MEDIA_ROOT = tmp_path
    organization = OrganizationFactory()

    publish(organization)
    publish(organization)

    assert MediaObject.objects.filter(organization=organization).count() == 1


def test_another_organisation_gets_its_own_copy(tmp_path, settings) -> None:
    settings.MEDIA_ROOT = tmp_path
    first, second = OrganizationFactory(), OrganizationFactory()

    publish(first)
    publish(second)

    assert {m.organization_id for m in MediaObject.objects.all()} == {first.id, second.id}


def test_different_content_is_stored_apart(tmp_path, settings) -> None:
    settings.MEDIA_ROOT = tmp_path
    organization = OrganizationFactory()

    publish(organization)
    publish(organization, CARD.replace(b"Nurse", b"Billing"))

    assert MediaObject.objects.filter(organization=organization).count() == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_stored_content_is_found_by_its_digest_index() -> None:
    organization = OrganizationFactory()
    # An organisation holding many files, and statistics that know of them.
    MediaObject.objects.bulk_create(
        MediaObjectFactory.build(organization=organization, sha256=f"{n:064x}") for n in range(300)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messaging_mediaobject")
        cursor.execute("SET LOCAL enable_seqscan = off")
    digest = hashlib.sha256(CARD).hexdigest()

    plan = _STORED_BY_DIGEST.build(
        organization_id=organization.id, sha256=digest, content_type="text/vcard"
    ).explain()

    assert "media_by_digest" in plan
