"""Blocked-message review reads: the held messages of the viewer's scope as a queue.

A held message is one the inbound filter stored `is_blocked`; a reviewer may release it
later (then `is_blocked` is false and `released_at` set), and it stays in the review.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from django.db.models import OuterRef, Q, QuerySet, Subquery

from console.phone import to_e164
from console.scope import Scope, filter_given, local_days_q, scoped_get
from messaging.models import REVIEW_WAITING, Message
from messaging.selectors import MESSAGE_NOT_FOUND, messages_in
from routing.models import ContactRule

REVIEW_FILTER_WAITING = "waiting"
REVIEW_FILTER_ALL = "all"


@dataclass(frozen=True)
class BlockedFilters:
    """`review`: waiting (the default), allowed, kept or all. `sender`: what the reviewer
    typed; its digits are looked for in the stored E.164 number."""

    review: str = REVIEW_FILTER_WAITING
    identity: str = ""
    sender: str = ""
    date_from: date | None = None
    date_to: date | None = None


def held_messages_in(scope: Scope) -> QuerySet[Message]:
    """Every message that was held for review: still blocked, or released by a reviewer."""
    if not scope.may_see_blocked:
        return Message.objects.none()
    return messages_in(scope).filter(Q(is_blocked=True) | Q(released_at__isnull=False))


def sender_q(text: str) -> Q:
    """Numbers matching what a reviewer typed: a whole number with its country code
    (`+1 415 555 0199`) by equality, anything else (`0199`, `(415) 555-0199`) by its
    digits anywhere in the number. No digits: nothing matches."""
    number = to_e164(text)
    if number is not None:
        return Q(remote_number=number)
    digits = "".join(ch for ch in text if ch.isdigit())
    if not digits:
        return Q(pk__in=[])
    return Q(remote_number__contains=digits)


def blocked_message_list(*, scope: Scope, filters: BlockedFilters) -> QuerySet[Message]:
    """The blocked review: waiting messages oldest first (the queue), decided ones newest
    first; each row carries the matched rule's action and direction (None when the rule is
    gone or the filter mode decided) and its reviewer."""
    review = filters.review or REVIEW_FILTER_WAITING
    if review == REVIEW_FILTER_WAITING:
        qs = held_messages_in(scope).filter(is_blocked=True, review_state=REVIEW_WAITING)
        qs = qs.order_by("created_at", "id")
    else:
        qs = held_messages_in(scope).order_by("-created_at", "-id")
        if review != REVIEW_FILTER_ALL:
            qs = qs.filter(review_state=review)
    rules = ContactRule.objects.filter(pk=OuterRef("blocked_rule_id"))
    qs = qs.select_related("identity", "reviewed_by").annotate(
        rule_action=Subquery(rules.values("action")[:1]),
        rule_direction=Subquery(rules.values("direction")[:1]),
    )
    qs = filter_given(qs, identity__handle=filters.identity)
    if filters.sender:
        qs = qs.filter(sender_q(filters.sender))
    return qs.filter(local_days_q(filters.date_from, filters.date_to))


def blocked_message_get(*, scope: Scope, message_id: uuid.UUID | str) -> Message:
    return scoped_get(
        blocked_message_list(scope=scope, filters=BlockedFilters(review=REVIEW_FILTER_ALL))
        .select_related("identity__organization", "conversation")
        .order_by(),
        not_found=MESSAGE_NOT_FOUND,
        id=message_id,
    )


def blocked_messages_by_ids(*, scope: Scope, ids: list[uuid.UUID]) -> list[Message]:
    """The held messages among `ids` that the scope reads (others are simply absent),
    oldest first."""
    return list(
        held_messages_in(scope)
        .filter(pk__in=ids)
        .select_related("identity__organization", "conversation")
        .order_by("created_at", "id")
    )
