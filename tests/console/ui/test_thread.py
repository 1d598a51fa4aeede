"""console.ui.thread: days, bubble groups, folded long texts and media of a conversation page."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from console.ui.thread import FOLD_CHARS, day_label, fold, media_items, thread_days

UTC = dt.UTC
TODAY = dt.date(2026, 12, 2)


def _message(at: dt.datetime, direction: str = "inbound", **extra: Any) -> Any:
    fields = {"content": "hi", "media": [], "sender_number": None, **extra}
    return SimpleNamespace(created_at=at, direction=direction, **fields)


def _at(hour: int, minute: int = 0, day: int = 2) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def test_days_are_named_today_yesterday_then_by_date() -> None:
    assert day_label(TODAY, TODAY) == "Today"
    assert day_label(TODAY - dt.timedelta(days=1), TODAY) == "Yesterday"
    assert day_label(dt.date(2026, 12, 1), dt.date(2026, 12, 5)) == "Tue, 1 Dec 2026"


def test_messages_are_split_into_days_in_the_viewers_time_zone() -> None:
    messages = [_message(_at(23, 30, day=1)), _message(_at(1, 0))]
    with timezone.override(zoneinfo.ZoneInfo("America/Los_Angeles")):
        # 23:30 and 01:00 UTC are both on 1 December in Los Angeles.
        days = thread_days(messages, today=TODAY)
    assert [day.label for day in days] == ["Yesterday"]
    with timezone.override(UTC):
        days = thread_days(messages, today=TODAY)
    assert [day.label for day in days] == ["Yesterday", "Today"]


def test_consecutive_bubbles_from_one_side_within_minutes_share_one_time() -> None:
    messages = [
        _message(_at(9, 0)),
        _message(_at(9, 2)),
        _message(_at(9, 4), direction="outbound"),
        _message(_at(9, 5), direction="outbound"),
        _message(_at(9, 30), direction="outbound"),
    ]
    with timezone.override(UTC):
        (day,) = thread_days(messages, today=TODAY)
    assert [(group.side, len(group.bubbles)) for group in day.groups] == [
        ("inbound", 2),
        ("outbound", 2),
        ("outbound", 1),
    ]
    assert [group.time_label for group in day.groups] == ["09:00", "09:04", "09:30"]


def test_a_group_thread_starts_a_new_group_for_each_member_who_writes() -> None:
    messages = [
        _message(_at(9, 0), sender_number="+12025550101"),
        _message(_at(9, 1), sender_number="+12025550102"),
    ]
    with timezone.override(UTC):
        (day,) = thread_days(messages, today=TODAY)
    assert len(day.groups) == 2


def test_a_short_text_is_not_folded() -> None:
    assert fold("line\n" * 5) == ("line\n" * 5, "")


def test_a_long_text_is_folded_at_a_word_and_keeps_every_word() -> None:
    text = " ".join(f"word{n}" for n in range(200))
    head, tail = fold(text)
    assert len(head) <= FOLD_CHARS
    assert tail
    assert f"{head} {tail}" == text


def test_a_text_of_many_lines_is_folded_after_its_first_lines() -> None:
    text = "\n".join(f"line {n}" for n in range(20))
    head, tail = fold(text)
    assert head == "\n".join(f"line {n}" for n in range(8))
    assert tail.startswith("line 8")


def test_images_we_host_are_thumbnails_and_other_files_are_chips() -> None:
    items = media_items(
        [
            {"url": "/media/x.jpg", "content_type": "image/jpeg", "size": 10},
            {"url": "https://files.example.com/a.jpg", "content_type": "image/jpeg"},
            {"url": "/media/report%20q3.pdf", "content_type": "application/pdf", "size": 2048},
        ]
    )
    assert [(item.is_thumbnail, item.name) for item in items] == [
        (True, "x.jpg"),
        (False, "a.jpg"),
        (False, "report q3.pdf"),
    ]
    assert items[2].size == 2048


@pytest.mark.django_db
def test_our_signed_media_is_named_by_its_type_not_its_signature() -> None:
    (item,) = media_items(
        [
            {
                "url": "ignored",
                "content_type": "application/pdf",
                "media_object_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
            }
        ]
    )
    assert item.name == "attachment.pdf"
    assert "/media/s/" in item.href
