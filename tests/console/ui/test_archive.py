"""Archived identities in the console: still readable, marked, and their handle freed only
by an operator."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from console.identities import identity_archive
from console.models import AgentIdentity
from console.services import Actor
from tests.console.ui.conftest import htmx
from tests.messaging.factories import MessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def archived(identity: AgentIdentity) -> AgentIdentity:
    identity_archive(identity=identity, actor=Actor.system())
    return identity


def test_an_auditor_still_reads_an_archived_identitys_conversation(
    auditor_client: Client, identity: AgentIdentity
) -> None:
    message = MessageFactory(conversation__identity=identity, content="Your results are in")
    identity_archive(identity=identity, actor=Actor.system())

    page = auditor_client.get(reverse("console:conversation", args=[message.conversation_id]))

    assert page.status_code == 200
    assert b"Your results are in" in page.content


def test_the_identity_list_marks_archived_identities(
    auditor_client: Client, archived: AgentIdentity
) -> None:
    body = auditor_client.get(reverse("console:identities")).content.decode()
    assert 'data-testid="archived"' in body
    assert "@nurse-bot (archived)" in body


def test_an_auditor_sees_the_archive_but_no_control_to_free_the_handle(
    auditor_client: Client, archived: AgentIdentity
) -> None:
    body = auditor_client.get(reverse("console:identity", args=["nurse-bot"])).content.decode()
    assert "Archived identity" in body
    assert "Free the handle" not in body
    forged = auditor_client.post(reverse("console:identity-handle-free", args=["nurse-bot"]))
    assert forged.status_code == 403


def test_an_operator_frees_the_handle_in_place(
    operator_client: Client, archived: AgentIdentity
) -> None:
    response = operator_client.post(
        reverse("console:identity-handle-free", args=["nurse-bot"]), **htmx()
    )

    assert response.status_code == 200
    assert b"@nurse-bot is free for reuse." in response.content
    archived.refresh_from_db()
    assert archived.released_handle == "nurse-bot"
    assert response["HX-Replace-Url"] == reverse("console:identity", args=[archived.handle])


def test_freeing_a_live_identitys_handle_is_refused_with_a_reason(
    operator_client: Client, identity: AgentIdentity
) -> None:
    response = operator_client.post(reverse("console:identity-handle-free", args=["nurse-bot"]))

    assert response.status_code == 422
    assert b"Only an archived identity" in response.content


def test_an_operator_of_another_organisation_gets_404(
    outsider_operator_client: Client, archived: AgentIdentity
) -> None:
    response = outsider_operator_client.post(
        reverse("console:identity-handle-free", args=["nurse-bot"])
    )
    assert response.status_code == 404


def test_a_conversation_of_an_archived_identity_says_so(
    auditor_client: Client, identity: AgentIdentity
) -> None:
    message = MessageFactory(conversation__identity=identity)
    identity_archive(identity=identity, actor=Actor.system())

    body = auditor_client.get(
        reverse("console:conversation", args=[message.conversation_id])
    ).content.decode()

    assert "archived identity" in body
