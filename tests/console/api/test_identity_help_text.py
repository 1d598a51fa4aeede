"""The identity's consent help text (what HELP or INFO answers): an extra PATCH field."""

from __future__ import annotations

import pytest

from console.models import AgentIdentity, AuditEntry
from tests.conftest import KeyedClient

pytestmark = pytest.mark.django_db


def test_an_identity_patch_sets_the_help_text_and_reads_show_it(
    admin_client: KeyedClient, identity: AgentIdentity
) -> None:
    response = admin_client.patch(
        f"/api/v1/identities/{identity.handle}",
        {"consent_help_text": "Riverside Clinic: call 555-0100."},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["consent_help_text"] == "Riverside Clinic: call 555-0100."
    identity.refresh_from_db()
    assert identity.consent_help_text == "Riverside Clinic: call 555-0100."
    assert AuditEntry.objects.filter(action="identity.update").exists()


def test_an_empty_help_text_goes_back_to_the_default(
    admin_client: KeyedClient, identity: AgentIdentity
) -> None:
    identity.consent_help_text = "Old text"
    identity.save()

    admin_client.patch(
        f"/api/v1/identities/{identity.handle}", {"consent_help_text": ""}, format="json"
    )

    identity.refresh_from_db()
    assert identity.consent_help_text == ""
