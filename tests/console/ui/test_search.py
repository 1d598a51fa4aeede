"""The header search: what each kind of query finds, scoping, and bounded queries."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from console.models import AgentIdentity
from console.ui.search import PER_KIND
from tests.console.ui.conftest import htmx
from tests.messaging.factories import ConversationFactory, MessageFactory
from tests.provisioning.factories import PhoneLineFactory, SetupFactory

pytestmark = pytest.mark.django_db

PERSON = "+14155550199"


def _search(client: Client, q: str) -> str:
    response = client.get(reverse("console:search"), {"q": q})
    assert response.status_code == 200
    return response.content.decode()


def _section(body: str, kind: str) -> str:
    """The results of one kind, or "" when the page has none."""
    start = body.find(f'data-kind="{kind}"')
    if start == -1:
        return ""
    end = body.find("data-kind=", start + 1)
    return body[start : end if end != -1 else len(body)]


def test_the_header_offers_a_search_box_on_every_page(operator_client: Client) -> None:
    body = operator_client.get(reverse("console:dashboard")).content.decode()
    assert 'action="/console/search/"' in body
    assert 'name="q"' in body


@pytest.mark.parametrize("q", ["0199", "(415) 555-0199", "+1 415 555 0199", "415.555.0199"])
def test_a_partial_or_formatted_number_finds_the_persons_conversations(
    operator_client: Client, identity: AgentIdentity, other_identity: AgentIdentity, q: str
) -> None:
    with_nurse = ConversationFactory(identity=identity, remote_number=PERSON)
    with_billing = ConversationFactory(identity=other_identity, remote_number=PERSON)
    ConversationFactory(identity=identity, remote_number="+12025550100")

    people = _section(_search(operator_client, q), "conversations")

    assert f"/console/conversations/{with_nurse.id}/" in people
    assert f"/console/conversations/{with_billing.id}/" in people
    assert "+12025550100" not in people


def test_a_number_finds_the_line_that_carries_it(operator_client: Client, org: Any) -> None:
    line = PhoneLineFactory(setup__organization=org, number="+14155550177")
    lines = _section(_search(operator_client, "555-0177"), "lines")
    assert f"/console/setups/{line.setup_id}/#line-{line.id}" in lines


@pytest.mark.parametrize("q", ["@nurse", "nurse-b", "Nurse Bot"])
def test_a_handle_with_or_without_at_finds_the_identity(
    operator_client: Client, identity: AgentIdentity, other_identity: AgentIdentity, q: str
) -> None:
    identities = _section(_search(operator_client, q), "identities")
    assert 'href="/console/identities/nurse-bot/"' in identities
    assert "billing-bot" not in identities


@pytest.mark.parametrize("q", ["front desk", "Riverside Fam"])
def test_a_setup_is_found_by_label_or_business_name(
    operator_client: Client, org: Any, q: str
) -> None:
    setup = SetupFactory(organization=org, label="Front desk", business_name="Riverside Family")
    SetupFactory(organization=org, label="Lab", business_name="Lab results")
    setups = _section(_search(operator_client, q), "setups")
    assert f"/console/setups/{setup.id}/" in setups
    assert "Lab results" not in setups


def test_a_message_id_leads_to_the_message_in_its_conversation(
    auditor_client: Client, identity: AgentIdentity
) -> None:
    message = MessageFactory(conversation__identity=identity, content="knee " + "x" * 200)
    messages = _section(_search(auditor_client, str(message.id)), "messages")
    link = f"/console/conversations/{message.conversation_id}/?message={message.id}"
    assert link in messages


def test_a_found_message_shows_only_a_short_preview(
    operator_client: Client, identity: AgentIdentity
) -> None:
    body = "my knee hurts " + "and more detail " * 40
    message = MessageFactory(conversation__identity=identity, content=body)
    messages = _section(_search(operator_client, str(message.id)), "messages")
    assert "my knee hurts" in messages
    assert body not in messages
    assert "and more detail " * 5 not in messages


def test_search_never_returns_another_organisations_objects(
    outsider_operator_client: Client, identity: AgentIdentity, org: Any
) -> None:
    """From the inside: an operator of another organisation searches for our objects."""
    ConversationFactory(identity=identity, remote_number=PERSON)
    PhoneLineFactory(setup__organization=org, number="+14155550188")
    SetupFactory(organization=org, label="Front desk")
    message = MessageFactory(conversation__identity=identity)

    for q in ["0199", "0188", "nurse", "Front desk", str(message.id), message.provider_handle]:
        body = _search(outsider_operator_client, q)
        assert "data-kind=" not in body, q
        assert 'data-empty="no-match"' in body, q


def test_each_kind_shows_at_most_a_bounded_number_of_results(
    operator_client: Client, identity: AgentIdentity
) -> None:
    for n in range(PER_KIND + 3):
        ConversationFactory(identity=identity, remote_number=f"+1415555{n:04d}")
    people = _section(_search(operator_client, "1415555"), "conversations")
    assert people.count('class="result"') == PER_KIND
    assert "?number=1415555" in people


def test_a_query_too_short_to_search_asks_for_more(operator_client: Client) -> None:
    assert 'data-empty="too-short"' in _search(operator_client, "x")


def test_search_costs_a_bounded_number_of_queries(
    operator_client: Client,
    identity: AgentIdentity,
    org: Any,
    django_assert_max_num_queries: Any,
) -> None:
    for n in range(PER_KIND + 5):
        ConversationFactory(identity=identity, remote_number=f"+1415555{n:04d}")
        PhoneLineFactory(setup__organization=org, number=f"+1415556{n:04d}")
    # Session, user, memberships, two permission lookups, conversations, lines.
    with django_assert_max_num_queries(7):
        body = _search(operator_client, "415")
    assert _section(body, "conversations").count('class="result"') == PER_KIND
    assert _section(body, "lines").count('class="result"') == PER_KIND


def test_a_text_search_costs_a_bounded_number_of_queries(
    operator_client: Client, identity: AgentIdentity, org: Any, django_assert_max_num_queries: Any
) -> None:
    SetupFactory.create_batch(PER_KIND + 2, organization=org)
    # Session, user, memberships, two permission lookups, identities, setups, messages
    # (by provider handle).
    with django_assert_max_num_queries(8):
        body = _search(operator_client, "Setup")
    assert _section(body, "setups").count('class="result"') == PER_KIND


def test_htmx_gets_only_the_results(operator_client: Client, identity: AgentIdentity) -> None:
    response = operator_client.get(reverse("console:search"), {"q": "nurse"}, **htmx())
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="search-results"')
    assert "nurse-bot" in body
