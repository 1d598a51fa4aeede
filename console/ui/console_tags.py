"""Presentation-only filters for console templates."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings

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
