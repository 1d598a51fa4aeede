"""The one query an inbound message starts with: a setup's line as a message from one
sender finds it, with the sender's connection and the inbound filter verdict
(`inbound_line_get`). The provider intake runs it for every message, so it reads in one
statement what routing and messaging would otherwise read in several.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from django.db.models import (
    Case,
    F,
    FilteredRelation,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    UUIDField,
    When,
)

from console.db.prepared import PreparedQuery
from console.models import AgentIdentity
from provisioning.models import LineRole, LineState, PhoneLine
from routing.models import Assignment, AssignmentStatus, RuleAction
from routing.rule_decisions import RuleDecision, first_covering_rule, identity_mode, verdict

if TYPE_CHECKING:
    from provisioning.models import Setup

# The annotation `inbound_line_get` gives the identity a message on the line goes to (the
# connection's on a pool line, the line's own on a dedicated line): callers' `extra`
# expressions refer to it as `OuterRef(ROUTED_IDENTITY)`.
ROUTED_IDENTITY = "routed_identity_id"


@dataclass(frozen=True)
class InboundLine:
    """One of a setup's lines as an inbound message from `sender` finds it.

    `connection` is the sender's active connection when the line is a pool line;
    `decision` the inbound filter verdict of the identity the message goes to (None when
    there is none: a router line, an unconnected sender, an unattached dedicated line);
    `extra` the values of the caller's extra annotations.
    """

    line: PhoneLine
    sender: str
    connection: Assignment | None
    decision: RuleDecision | None
    extra: dict[str, Any]

    @property
    def identity(self) -> AgentIdentity | None:
        if self.line.role == LineRole.POOL:
            return self.connection.identity if self.connection is not None else None
        if self.line.role == LineRole.DEDICATED:
            return self.line.identity
        return None


def _first_rule(sender: str, action: str) -> Subquery:
    """The routed identity's first active rule with `action` covering `sender` inbound."""
    return first_covering_rule(
        identity=OuterRef(ROUTED_IDENTITY), number=sender, direction="inbound", action=action
    )


_CONNECTION_RELATED = ("connection__identity__organization",)


class InboundLineReader:
    """`inbound_line_get` with a caller's extra annotations, compiled once per process
    (`console.db.prepared`): the intake runs it for every message, and building and compiling
    its joins and subqueries cost several times what executing them does.

    `extra(**placeholders)` answers the annotations (which may refer to
    `OuterRef(ROUTED_IDENTITY)`); `extra_params` names their parameters and kinds, whose
    values each call passes by name.
    """

    def __init__(
        self, extra: Callable[..., Mapping[str, Any]] | None = None, **extra_params: type
    ) -> None:
        self.extra = extra
        # Known once the query is compiled, which the first call does before any row.
        self.extra_names: tuple[str, ...] = ()
        self._query = PreparedQuery(
            PhoneLine,
            self._build,
            setup_id=uuid.UUID,
            number=str,
            sender=str,
            paged=False,
            **extra_params,
        )

    def __call__(
        self, *, setup: Setup, number: str, sender: str, **extra_values: Any
    ) -> InboundLine | None:
        row = self._query.first(setup_id=setup.id, number=number, sender=sender, **extra_values)
        if row is None:
            return None
        return _inbound_line(row, setup=setup, sender=sender, extra_names=self.extra_names)

    def _build(
        self, *, setup_id: Any, number: str, sender: str, **extra_values: Any
    ) -> QuerySet[PhoneLine]:
        extra = dict(self.extra(**extra_values)) if self.extra is not None else {}
        self.extra_names = tuple(extra)
        return _inbound_line_queryset(setup_id=setup_id, number=number, sender=sender, extra=extra)


def _inbound_line_queryset(
    *, setup_id: Any, number: str, sender: str, extra: Mapping[str, Any]
) -> QuerySet[PhoneLine]:
    connection = FilteredRelation(
        "assignments",
        condition=Q(assignments__remote_number=sender, assignments__status=AssignmentStatus.ACTIVE),
    )
    return (
        PhoneLine.objects.filter(setup_id=setup_id, number=number, state=LineState.ASSIGNED)
        .annotate(connection=connection)
        .select_related("identity__organization")
        # The annotation is only known at run time (the stubs see model fields alone).
        .select_related(*_CONNECTION_RELATED)
        .annotate(
            **{
                ROUTED_IDENTITY: Case(
                    When(role=LineRole.POOL, then=F("connection__identity_id")),
                    When(role=LineRole.DEDICATED, then=F("identity_id")),
                    default=None,
                    output_field=UUIDField(),
                )
            }
        )
        .annotate(
            blocking_rule_id=_first_rule(sender, RuleAction.BLOCK),
            allowing_rule_id=_first_rule(sender, RuleAction.ALLOW),
            **extra,
        )
        .order_by("pk")[:1]
    )


def _inbound_line(
    row: PhoneLine, *, setup: Setup, sender: str, extra_names: tuple[str, ...]
) -> InboundLine:
    # The line is read by its setup's id: the caller's setup is the line's, not read again.
    row.setup = setup
    # Only the active connection of this sender matches the join (unique per line and
    # person), and only pool lines have connections.
    assignment: Assignment | None = getattr(row, "connection", None)
    if assignment is not None and assignment.pk is None:
        assignment = None
    found = InboundLine(
        line=row,
        sender=sender,
        connection=assignment,
        decision=None,
        extra={name: getattr(row, name) for name in extra_names},
    )
    identity = found.identity
    if identity is None:
        return found
    decision = verdict(
        mode=identity_mode(identity, "inbound"),
        blocking=row.blocking_rule_id,  # type: ignore[attr-defined]
        allowing=row.allowing_rule_id,  # type: ignore[attr-defined]
    )
    return replace(found, decision=decision)


_plain_reader = InboundLineReader()


def inbound_line_get(
    *, setup: Setup, number: str, sender: str, extra: Mapping[str, Any] | None = None
) -> InboundLine | None:
    """The assigned line of `setup` with this number, in one query with all that routing
    an inbound message from `sender` on it reads: the line's identity (its setup is
    `setup`), the sender's active connection on it (with its identity) and the inbound
    filter verdict (`decide` over the active rules covering `sender`). `extra` annotations
    ride along (they may refer to `OuterRef(ROUTED_IDENTITY)`) and make the query compile
    again; a caller that passes them on every message keeps an `InboundLineReader`
    instead. None when `setup` has no such line, even if another setup has.
    """
    if not extra:
        return _plain_reader(setup=setup, number=number, sender=sender)
    row = _inbound_line_queryset(
        setup_id=setup.id, number=number, sender=sender, extra=extra
    ).first()
    if row is None:
        return None
    return _inbound_line(row, setup=setup, sender=sender, extra_names=tuple(extra))
