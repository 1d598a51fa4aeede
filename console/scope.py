"""Whose rows a read may return: one object for API keys and console memberships alike."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from console.errors import NotFound
from console.models import ApiKey

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Scope:
    """What a caller may read.

    An API key reads its one organisation; a console viewer reads every organisation they
    are a member of. `identity_id` narrows reads to one identity (identity-scoped keys, or
    an admin key acting for one identity). `may_see_blocked`: admin keys and console staff
    also see blocked and group messages (kept for audit); identity keys never do.
    """

    organization_ids: tuple[uuid.UUID, ...]
    identity_id: uuid.UUID | None = None
    may_see_blocked: bool = False

    @classmethod
    def for_api_key(cls, key: ApiKey) -> Scope:
        return cls(
            organization_ids=(key.organization_id,),
            identity_id=key.identity_id,
            may_see_blocked=key.is_admin,
        )

    @classmethod
    def for_memberships(cls, organization_ids: Iterable[uuid.UUID]) -> Scope:
        """Console staff: every organisation they belong to, blocked messages included."""
        return cls(organization_ids=tuple(organization_ids), may_see_blocked=True)

    def narrowed_to(self, identity_id: uuid.UUID) -> Scope:
        return dataclasses.replace(self, identity_id=identity_id)

    def organization_q(self, field: str = "organization_id") -> Q:
        ids = self.organization_ids
        if len(ids) == 1:
            return Q(**{field: ids[0]})
        return Q(**{f"{field}__in": ids})

    def filter(
        self, qs: QuerySet[M], *, organization: str = "organization_id", identity: str = ""
    ) -> QuerySet[M]:
        """`qs` cut to the scope's organisations, and to its identity when `identity`
        names the field that holds it."""
        qs = qs.filter(self.organization_q(organization))
        if identity and self.identity_id is not None:
            qs = qs.filter(**{identity: self.identity_id})
        return qs


def scoped_get(qs: QuerySet[M], *, not_found: str, **lookup: Any) -> M:
    """One object from a scoped queryset; outside the scope it simply does not exist."""
    try:
        return qs.get(**lookup)
    except (ObjectDoesNotExist, ValidationError, ValueError) as exc:
        # A malformed id is as unknown as a foreign one.
        raise NotFound(not_found) from exc


def filter_given(qs: QuerySet[M], **lookups: Any) -> QuerySet[M]:
    """`qs` narrowed by each lookup whose value is given: an empty or missing filter
    (None, "") leaves the list whole."""
    given = {name: value for name, value in lookups.items() if value}
    return qs.filter(**given) if given else qs


def local_days_q(
    date_from: dt.date | None, date_to: dt.date | None, *, field: str = "created_at"
) -> Q:
    """`field` (`created_at`) within whole days (both included) in the active time zone."""
    q = Q()
    if date_from:
        q &= Q(**{f"{field}__gte": _local_midnight(date_from)})
    if date_to:
        q &= Q(**{f"{field}__lt": _local_midnight(date_to + dt.timedelta(days=1))})
    return q


def _local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


@dataclass(frozen=True)
class DateRange:
    """An instant range on `created_at`, as the API's `start_datetime`/`end_datetime` give it."""

    start: dt.datetime | None = None  # inclusive
    end: dt.datetime | None = None  # inclusive when end_inclusive, else exclusive
    end_inclusive: bool = True

    def q(self, prefix: str = "") -> Q:
        q = Q()
        if self.start is not None:
            q &= Q(**{f"{prefix}created_at__gte": self.start})
        if self.end is not None:
            lookup = "lte" if self.end_inclusive else "lt"
            q &= Q(**{f"{prefix}created_at__{lookup}": self.end})
        return q

    @property
    def is_set(self) -> bool:
        return self.start is not None or self.end is not None
