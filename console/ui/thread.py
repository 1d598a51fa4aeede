"""How a page of a conversation reads: days, groups of bubbles, folded long texts, media.

The conversation page shows messages as a chat does: a separator per day ("Today",
"Yesterday", "Tue, 1 Dec 2026"), the time once per group of consecutive bubbles from the
same side within a few minutes, long texts folded behind "show more" (a <details>, so it
works without JavaScript) and media as thumbnails (images we host) or file chips.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from django.utils import timezone
from django.utils.dateformat import format as date_format

from console.ui.console_tags import is_local_media, media_href

# Consecutive bubbles from one side share a time when they start within this of the first.
GROUP_WINDOW = dt.timedelta(minutes=5)
# Longer texts (characters or lines) are folded, their first part shown.
FOLD_CHARS = 600
FOLD_LINES = 12
HEAD_LINES = 8


@dataclass(frozen=True)
class Media:
    href: str
    content_type: str
    name: str
    size: int | None
    is_thumbnail: bool


@dataclass(frozen=True)
class Bubble:
    message: Any
    # A folded text shows `head`, and the rest (`tail`) behind "show more"; else `head`
    # is the whole text and `tail` is empty.
    head: str
    tail: str
    media: list[Media]

    @property
    def folded(self) -> bool:
        return bool(self.tail)

    @property
    def thumbnails(self) -> list[Media]:
        return [item for item in self.media if item.is_thumbnail]

    @property
    def files(self) -> list[Media]:
        return [item for item in self.media if not item.is_thumbnail]


@dataclass
class BubbleGroup:
    side: str
    sender: str
    at: dt.datetime
    bubbles: list[Bubble] = field(default_factory=list)

    @property
    def time_label(self) -> str:
        return date_format(timezone.localtime(self.at), "H:i")


@dataclass
class Day:
    date: dt.date
    label: str
    groups: list[BubbleGroup] = field(default_factory=list)


def day_label(day: dt.date, today: dt.date) -> str:
    if day == today:
        return "Today"
    if day == today - dt.timedelta(days=1):
        return "Yesterday"
    return date_format(day, "D, j M Y")


def fold(text: str) -> tuple[str, str]:
    """(head, tail) of a message text: the whole text and "" when it is short, else its
    first lines (at most FOLD_CHARS characters, cut at a space) and the rest."""
    if len(text) <= FOLD_CHARS and text.count("\n") < FOLD_LINES:
        return text, ""
    cut = min(len(text), FOLD_CHARS)
    line_end = -1
    for _ in range(HEAD_LINES):
        line_end = text.find("\n", line_end + 1)
        if line_end == -1:
            break
    if 0 <= line_end < cut:
        cut = line_end
    else:
        space = text.rfind(" ", FOLD_CHARS // 2, cut)
        cut = space if space > 0 else cut
    return text[:cut].rstrip(), text[cut:].lstrip()


def _file_name(href: str, item: dict[str, Any]) -> str:
    """A readable name for a file chip; our signed URLs end in a signature, not a name."""
    base = posixpath.basename(unquote(urlsplit(href).path))
    if item.get("media_object_id") or not base:
        extension = posixpath.splitext(base)[1]
        return f"attachment{extension}"
    return base


def media_items(media: Iterable[Any]) -> list[Media]:
    items = []
    for item in media or ():
        href = media_href(item)
        if not href:
            continue
        content_type = str(item.get("content_type") or "")
        size = item.get("size")
        items.append(
            Media(
                href=href,
                content_type=content_type,
                name=_file_name(href, item),
                size=size if isinstance(size, int) else None,
                is_thumbnail=is_local_media(href) and content_type.startswith("image/"),
            )
        )
    return items


def _sender(message: Any) -> str:
    """Who a bubble is from: the side, the member who wrote it in a group thread, and the
    staff user who replied in a taken-over conversation (the agent otherwise)."""
    staff = getattr(message, "sent_by_id", None) or ""
    return f"{message.direction}:{message.sender_number or ''}:{staff}"


def thread_days(messages: Sequence[Any], *, today: dt.date | None = None) -> list[Day]:
    """`messages` (oldest first) laid out by day (in the active time zone), then in groups
    of bubbles from one sender that start within GROUP_WINDOW of the group's first."""
    today = today or timezone.localdate()
    days: list[Day] = []
    for message in messages:
        local_day = timezone.localtime(message.created_at).date()
        if not days or days[-1].date != local_day:
            days.append(Day(date=local_day, label=day_label(local_day, today)))
        day = days[-1]
        group = day.groups[-1] if day.groups else None
        if (
            group is None
            or group.sender != _sender(message)
            or message.created_at - group.at > GROUP_WINDOW
        ):
            group = BubbleGroup(
                side=message.direction, sender=_sender(message), at=message.created_at
            )
            day.groups.append(group)
        head, tail = fold(message.content or "")
        group.bubbles.append(
            Bubble(message=message, head=head, tail=tail, media=media_items(message.media))
        )
    return days
