"""What every paged list says when it shows nothing, how filter forms build their URL, and
the one way times are shown."""

from __future__ import annotations

import datetime as dt

import pytest
from django.template import Context, Template
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from console.models import AgentIdentity
from console.ui.console_tags import relative
from tests.messaging.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def test_a_filter_matching_nothing_says_no_matches_not_that_the_list_is_empty(
    operator_client: Client, identity: AgentIdentity
) -> None:
    MessageFactory(conversation__identity=identity, is_blocked=True)
    body = operator_client.get(reverse("console:blocked"), {"sender": "0000000"}).content
    assert b'data-empty="no-match"' in body
    assert b"No blocked messages" not in body


def test_a_page_past_the_end_says_so(operator_client: Client, identity: AgentIdentity) -> None:
    ConversationFactory(identity=identity)
    body = operator_client.get(reverse("console:conversations"), {"page": "999"}).content
    assert b"Page 999 is past the end" in body
    assert b"No conversations yet" not in body


def test_an_empty_list_without_filters_says_there_is_nothing_yet(
    operator_client: Client,
) -> None:
    body = operator_client.get(reverse("console:conversations")).content
    assert b'data-empty="none"' in body
    assert b"No conversations yet" in body


def test_filter_forms_target_the_bare_path_so_filters_replace_each_other(
    operator_client: Client, identity: AgentIdentity
) -> None:
    body = operator_client.get(reverse("console:audit"), {"action": "a"}).content.decode()
    path = reverse("console:audit")
    assert f'action="{path}"' in body
    assert f'hx-get="{path}"' in body
    assert 'hx-get=""' not in body
    assert "Plain GET without JavaScript" not in body  # the partial's comment stays a comment


@pytest.mark.parametrize(
    ("seconds_ago", "text"),
    [(10, "just now"), (300, "5 min ago"), (3 * 3600 + 5, "3 h ago"), (2 * 86_400, "2 d ago")],
)
def test_relative_times_are_short_and_rounded_down(seconds_ago: int, text: str) -> None:
    now = timezone.now()
    assert relative(now - dt.timedelta(seconds=seconds_ago), now) == text


def test_a_future_time_reads_as_in(seconds: int = 4 * 3600 + 30) -> None:
    now = timezone.now()
    assert relative(now + dt.timedelta(seconds=seconds), now) == "in 4 h"


def test_when_shows_the_absolute_time_in_the_viewers_zone_and_how_long_ago() -> None:
    moment = dt.datetime(2026, 3, 1, 17, 5, tzinfo=dt.UTC)
    with timezone.override("America/New_York"):
        html = Template("{% load console_tags %}{{ moment|when }}").render(
            Context({"moment": moment})
        )
    assert '<time datetime="2026-03-01T17:05:00+00:00"' in html
    assert ">2026-03-01 12:05</time>" in html
    assert 'class="ago"' in html
