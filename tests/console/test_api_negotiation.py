"""The API's content negotiation: DRF's answers, remembered per `Accept` header."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.http import Http404
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from console.api import negotiation
from console.api.negotiation import MAX_REMEMBERED, RememberedContentNegotiation


@pytest.fixture(autouse=True)
def _forgotten() -> Iterator[None]:
    negotiation._ANSWERS.clear()
    yield
    negotiation._ANSWERS.clear()


def _request(accept: str | None, path: str = "/api/v1/imessage/messages") -> Request:
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    return Request(APIRequestFactory().get(path, **headers))


RENDERERS = [JSONRenderer(), BrowsableAPIRenderer()]


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "*/*",
        "application/json",
        "application/json; indent=4",
        "text/html",
        "text/html;q=0.5, application/json",
        "application/*",
    ],
)
def test_answers_what_drf_answers_first_time_and_after(accept: str | None) -> None:
    expected = DefaultContentNegotiation().select_renderer(_request(accept), RENDERERS)

    first = RememberedContentNegotiation().select_renderer(_request(accept), RENDERERS)
    again = RememberedContentNegotiation().select_renderer(_request(accept), RENDERERS)

    assert first == again == expected


def test_the_answer_is_one_of_this_requests_renderers() -> None:
    RememberedContentNegotiation().select_renderer(_request("*/*"), RENDERERS)
    renderers = [JSONRenderer(), BrowsableAPIRenderer()]

    renderer, _ = RememberedContentNegotiation().select_renderer(_request("*/*"), renderers)

    assert renderer is renderers[0]


def test_another_set_of_renderers_is_negotiated_on_its_own() -> None:
    accept = "text/html, */*;q=0.1"  # the browsable renderer's, given the choice
    RememberedContentNegotiation().select_renderer(_request(accept), RENDERERS)
    expected = DefaultContentNegotiation().select_renderer(_request(accept), [JSONRenderer()])

    renderer, media_type = RememberedContentNegotiation().select_renderer(
        _request(accept), [JSONRenderer()]
    )

    assert isinstance(renderer, JSONRenderer) and media_type == expected[1]


def test_an_unacceptable_header_is_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(exceptions.NotAcceptable):
            RememberedContentNegotiation().select_renderer(_request("image/png"), [JSONRenderer()])
    assert negotiation._ANSWERS == {}


def test_a_format_override_takes_drfs_own_path() -> None:
    RememberedContentNegotiation().select_renderer(_request("*/*"), [JSONRenderer()])

    with pytest.raises(Http404):
        RememberedContentNegotiation().select_renderer(
            _request("*/*", path="/api/v1/imessage/messages?format=xml"), [JSONRenderer()]
        )


def test_the_remembered_answers_stay_bounded() -> None:
    for n in range(MAX_REMEMBERED + 20):
        RememberedContentNegotiation().select_renderer(
            _request(f"application/json; v={n}"), [JSONRenderer()]
        )

    assert len(negotiation._ANSWERS) == MAX_REMEMBERED
