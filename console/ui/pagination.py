"""Console pages are cut with LIMIT page_size + 1 instead of COUNT(*), so a page costs the
same with a million messages as with ten."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db.models import QuerySet

PAGE_SIZE = 50
T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def next_number(self) -> int:
        return self.number + 1

    @property
    def previous_number(self) -> int:
        return self.number - 1


def paginate(qs: QuerySet[Any], *, page: int, page_size: int = PAGE_SIZE) -> Page[Any]:
    page = max(page, 1)
    start = (page - 1) * page_size
    rows = list(qs[start : start + page_size + 1])
    return Page(items=rows[:page_size], number=page, has_next=len(rows) > page_size)
