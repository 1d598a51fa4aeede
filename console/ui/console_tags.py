"""Presentation-only filters for console templates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html

from messaging.media_urls import item_url

register = template.Library()

TAPBACKS = {
    "love": "\u2764\ufe0f",
    "like": "\U0001f44d",
    "dislike": "\U0001f44e",
    "laugh": "\U0001f602",
    "emphasize": "\u203c\ufe0f",
    "question": "\u2753",
    "eyes": "\U0001f440",
}


@register.filter
def tapback_symbol(reaction: Any) -> str:
    if reaction.reaction == "custom":
        return reaction.custom_emoji or "?"
    return TAPBACKS.get(reaction.reaction, reaction.reaction)


@register.filter
def is_local_media(url: object) -> bool:
    """Our CSP only loads images from our own origin; others are shown as links."""
    if not isinstance(url, str):
        return False
    if url.startswith("/") and not url.startswith("//"):
        return True
    return url.startswith(f"{settings.PUBLIC_BASE_URL}/")


@register.filter
def media_href(item: Any) -> str:
    """A stored media item's URL for the viewer: our own files signed afresh."""
    return (item_url(item) or "") if isinstance(item, dict) else ""


DATE_FORMAT = "Y-m-d H:i"


def relative(value: datetime, now: datetime | None = None) -> str:
    """A short distance from now: "just now", "5 min ago", "3 h ago", "2 d ago", "in 4 h"."""
    seconds = int(((now or timezone.now()) - value).total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        return "just now" if not future else "in a moment"
    for size, unit in ((86_400, "d"), (3_600, "h"), (60, "min")):
        if seconds >= size:
            amount = f"{seconds // size} {unit}"
            return f"in {amount}" if future else f"{amount} ago"
    return "just now"


@register.filter
def when(value: datetime | None) -> str:
    """One way to show a time on every page: the absolute time in the viewer's zone (the
    full timestamp as a tooltip) and how long ago it was."""
    if value is None:
        return "—"
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{}">{}</time> <span class="ago">{}</span>',
        value.isoformat(),
        date_format(local, "Y-m-d H:i:s T"),
        date_format(local, DATE_FORMAT),
        relative(value),
    )
