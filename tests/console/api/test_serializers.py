"""Input serializers whose fields are kept per thread (`FieldsKeptPerThread`) validate as
DRF's own do, one request after another and in two threads at once."""

from __future__ import annotations

import threading
from typing import Any

from rest_framework import serializers

from console.api.serializers import FieldsKeptPerThread


class Plain(serializers.Serializer[dict[str, Any]]):
    name = serializers.CharField(max_length=5)
    tags = serializers.ListField(child=serializers.URLField(), required=False)
    count = serializers.IntegerField(required=False, default=1)


class Kept(FieldsKeptPerThread):
    name = serializers.CharField(max_length=5)
    tags = serializers.ListField(child=serializers.URLField(), required=False)
    count = serializers.IntegerField(required=False, default=1)


INPUTS = [
    {"name": "ok"},
    {"name": "far too long"},
    {"tags": ["not a url"]},
    {"name": "ok", "tags": ["https://example.test/a"], "count": "3"},
    {"name": 7, "count": "x"},
]


def outcome(serializer_class: Any, data: dict[str, Any]) -> Any:
    serializer = serializer_class(data=data)
    if serializer.is_valid():
        return ("valid", dict(serializer.validated_data))
    return ("invalid", {k: [str(e) for e in v] for k, v in serializer.errors.items()})


def test_kept_fields_validate_as_drfs_own_request_after_request() -> None:
    for data in INPUTS * 2:
        assert outcome(Kept, data) == outcome(Plain, data)


def test_the_fields_are_built_once_per_thread_and_hold_no_request() -> None:
    first, second = Kept(data={"name": "a"}), Kept(data={"name": "b"})

    name = first.fields["name"]

    assert second.fields["name"] is name
    assert name.parent is not first and name.parent is not second
    assert not hasattr(name.parent, "initial_data")  # no request's body kept alive
    assert name.field_name == "name"


def test_a_serializer_with_a_context_or_partial_builds_its_own_fields() -> None:
    kept = Kept(data={}).fields["name"]

    assert Kept(data={}, context={"request": None}).fields["name"] is not kept
    assert Kept(data={}, partial=True).fields["name"] is not kept
    assert outcome(lambda data: Kept(data=data, partial=True), {"count": "2"}) == outcome(
        lambda data: Plain(data=data, partial=True), {"count": "2"}
    )


def test_each_thread_keeps_its_own_fields() -> None:
    seen: dict[str, Any] = {}

    def build(name: str) -> None:
        seen[name] = Kept(data={}).fields["name"]

    threads = [threading.Thread(target=build, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert seen["a"] is not seen["b"]


def test_two_threads_validating_at_once_each_get_their_own_answers() -> None:
    results: dict[int, list[Any]] = {}
    start = threading.Barrier(2)

    def validate(worker: int) -> None:
        start.wait()
        results[worker] = [outcome(Kept, data) for data in INPUTS * 20]

    threads = [threading.Thread(target=validate, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    expected = [outcome(Plain, data) for data in INPUTS * 20]
    assert results == {0: expected, 1: expected}
