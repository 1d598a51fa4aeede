"""The API's one JSON parser refuses hostile nesting with 400 `invalid_json`."""

from __future__ import annotations

import io

import pytest
from rest_framework.exceptions import ParseError

from console.api.parsers import MAX_JSON_DEPTH, InvalidJson, JsonParser, json_depth_exceeds


def parse(text: str) -> object:
    return JsonParser().parse(io.BytesIO(text.encode()), "application/json", {})


def test_a_body_nested_2000_levels_deep_is_invalid_json():
    with pytest.raises(InvalidJson):
        parse("[" * 2000 + "]" * 2000)


def test_a_body_just_past_the_depth_limit_is_invalid_json():
    with pytest.raises(InvalidJson):
        parse('{"a":' * MAX_JSON_DEPTH + "[]" + "}" * MAX_JSON_DEPTH)


def test_a_body_at_the_depth_limit_parses():
    depth = MAX_JSON_DEPTH - 1
    assert parse('{"a":' * depth + "[]" + "}" * depth) is not None


def test_broken_json_stays_a_plain_parse_error():
    with pytest.raises(ParseError) as caught:
        parse('{"a": ')
    assert not isinstance(caught.value, InvalidJson)


def test_depth_counts_containers_only():
    assert not json_depth_exceeds({"a": [1, "x", {"b": None}]}, 3)
    assert json_depth_exceeds({"a": [1, "x", {"b": []}]}, 3)


def test_the_api_answers_400_invalid_json_for_deep_bodies(admin_client):
    response = admin_client.post(
        "/api/v1/imessage/setups", data="[" * 2000 + "]" * 2000, content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["detail"]["error"] == "invalid_json"
