"""The declared length of a request, read the same way by every size check."""

from __future__ import annotations

import pytest

from console.http import declared_content_length


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({"CONTENT_LENGTH": "1234"}, 1234),
        ({"CONTENT_LENGTH": ""}, 0),
        ({}, 0),
        ({"CONTENT_LENGTH": "12x"}, 0),
    ],
)
def test_declared_content_length(meta: dict[str, str], expected: int) -> None:
    assert declared_content_length(meta) == expected
