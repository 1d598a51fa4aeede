"""The router: where an inbound message on one of our lines goes.

On the router line the text is a command (`connect @handle`, `disconnect @handle`) and the
router answers it (the connection it makes or ends goes back to the caller, which
attaches the conversation); on a pool line the person's connection names the identity (or a bare
`disconnect` ends it); on a dedicated line the line's identity does.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from console.db.prepared import PreparedQuery
from console.models import AgentIdentity
from console.services import Actor
from provisioning.models import LineRole, PhoneLine
from routing import hooks, replies
from routing.commands import CommandParseError, RouterCommand, parse_command
from routing.inbound_selectors import InboundLine
from routing.models import Assignment, ReleaseReason, ReplyKind
from routing.rule_decisions import (
    RuleDecision,
    contact_decision,
    decide,
    identity_mode,
    number_rules,
)
from routing.selectors import active_assignment, active_assignment_on_line
from routing.services.assignments import assignment_release
from routing.services.pool import assignment_place
from routing.services.router_replies import router_reply_queue

logger = logging.getLogger(__name__)

ROUTER_ACTOR = Actor(type="system", id="", label="router")


@dataclass(frozen=True)
class InboundRoute:
    identity: AgentIdentity
    assignment: Assignment | None
    line: PhoneLine
    # The identity's rules filter this sender inbound: store for review, never deliver.
    is_blocked: bool
    matched_rule_id: uuid.UUID | None


@dataclass(frozen=True)
class RouteResult:
    """What `inbound_route` decided.

    `route` is where the message goes, None when the router consumed it (connect,
    disconnect, help replies) or nothing can take it. `changed` is the connection a
    command made or ended (None when none did): routing tells no listener about it, the
    caller (messaging) attaches the conversation and announces it itself.
    """

    route: InboundRoute | None
    changed: Assignment | None = None


def inbound_route(
    *,
    line: PhoneLine,
    sender: str,
    text: str,
    resolved: InboundLine | None = None,
    before_change: Callable[[], bool] | None = None,
) -> RouteResult:
    """Decide where an inbound message on one of our lines goes: the identity, connection
    and filter verdict messaging uses to store (and, unless blocked, deliver) it, and the
    connection a router command changed.

    `resolved` (`routing.inbound_selectors.inbound_line_get` for this line and sender) saves the
    reads of the connection and the contact rules. Raises ValueError when it was read
    for another line or sender. `before_change` is called before routing writes anything
    (a command, a reply): it opens the transaction of the writes (without it, this call
    runs in one of its own), and when it answers False (the delivery was handled before)
    routing writes nothing and answers no route."""
    if before_change is None:
        # No caller catches its errors and carries on in the same transaction, so a
        # SAVEPOINT would only add two round trips per call (ingest ran ten of them).
        with transaction.atomic(savepoint=False):
            return _route(
                line=line, sender=sender, text=text, resolved=resolved, before_change=_go_on
            )
    return _route(
        line=line, sender=sender, text=text, resolved=resolved, before_change=before_change
    )


def _go_on() -> bool:
    return True


def _route(
    *,
    line: PhoneLine,
    sender: str,
    text: str,
    resolved: InboundLine | None,
    before_change: Callable[[], bool],
) -> RouteResult:
    text = text or ""
    if resolved is not None and (resolved.line.pk != line.pk or resolved.sender != sender):
        raise ValueError("resolved is for another line or sender")
    if line.role == LineRole.ROUTER:
        if not before_change():
            return RouteResult(None)
        command = _parse(text)
        if command is not None and command.verb == "connect" and command.handle:
            return RouteResult(None, _connect(router=line, sender=sender, handle=command.handle))
        if command is not None and command.verb == "disconnect" and command.handle:
            return RouteResult(
                None, _disconnect_on_router(router=line, sender=sender, handle=command.handle)
            )
        router_reply_queue(line=line, to=sender, kind=ReplyKind.HELP, text=replies.HELP_REPLY)
        return RouteResult(None)
    if line.role == LineRole.POOL:
        assignment = (
            resolved.connection
            if resolved is not None
            else active_assignment_on_line(line=line, remote_number=sender)
        )
        command = _parse(text)
        if assignment is None:
            if before_change():
                router_reply_queue(
                    line=line, to=sender, kind=ReplyKind.HELP, text=replies.HELP_REPLY
                )
            return RouteResult(None)
        if command is not None and command.verb == "disconnect" and command.handle is None:
            if not before_change():
                return RouteResult(None)
            released = assignment_release(
                assignment=assignment,
                actor=ROUTER_ACTOR,
                reason=ReleaseReason.PERSON,
                announce=False,
            )
            router_reply_queue(
                line=line, to=sender, kind=ReplyKind.DISCONNECTED, text=replies.DISCONNECTED_REPLY
            )
            return RouteResult(None, assignment if released else None)
        return RouteResult(
            _route_to(
                identity=assignment.identity,
                assignment=assignment,
                line=line,
                sender=sender,
                decision=resolved.decision if resolved is not None else None,
            )
        )
    identity = line.identity
    if identity is None:
        logger.info("inbound on unattached dedicated line %s dropped", line.id)
        return RouteResult(None)
    return RouteResult(
        _route_to(
            identity=identity,
            assignment=None,
            line=line,
            sender=sender,
            decision=resolved.decision if resolved is not None else None,
        )
    )


def _route_to(
    *,
    identity: AgentIdentity,
    assignment: Assignment | None,
    line: PhoneLine,
    sender: str,
    decision: RuleDecision | None,
) -> InboundRoute:
    if decision is None:
        decision = contact_decision(identity=identity, number=sender, direction="inbound")
    return InboundRoute(
        identity=identity,
        assignment=assignment,
        line=line,
        is_blocked=not decision.allowed,
        matched_rule_id=decision.matched_rule_id,
    )


def _parse(text: str) -> RouterCommand | None:
    try:
        return parse_command(text)
    except CommandParseError:
        return None


# Every router command names one: compiled once per process.
_IDENTITY_BY_HANDLE = PreparedQuery(
    AgentIdentity,
    lambda *, handle: (
        AgentIdentity.objects.live()
        .select_related("organization")
        .filter(handle=handle)
        .order_by("pk")[:1]
    ),
    handle=str,
)


def _identity_for_handle(handle: str) -> AgentIdentity | None:
    found: AgentIdentity | None = _IDENTITY_BY_HANDLE.first(handle=handle)
    return found


def _may_connect(identity: AgentIdentity | None, sender: str) -> bool:
    """Connecting needs an enabled identity, no opt-out of it by the person, and
    permission in both directions."""
    if identity is None or not identity.imessage_enabled:
        return False
    if hooks.opted_out(identity, sender):
        return False
    rules = number_rules(identity=identity, number=sender)
    return all(
        decide(
            mode=identity_mode(identity, direction), rules=rules, direction=direction, number=sender
        ).allowed
        for direction in ("inbound", "outbound")
    )


def _send_connected(assignment: Assignment) -> None:
    line = assignment.pool_line
    router_reply_queue(
        line=line,
        to=assignment.remote_number,
        kind=ReplyKind.CONNECTED,
        text=replies.connected_text(assignment.identity),
        media_url=replies.contact_card_url(identity=assignment.identity, line=line),
    )


def _connect(*, router: PhoneLine, sender: str, handle: str) -> Assignment | None:
    """Returns the connection it made (None: refused, or the person's existing one)."""
    identity = _identity_for_handle(handle)
    if not _may_connect(identity, sender):
        router_reply_queue(
            line=router, to=sender, kind=ReplyKind.GENERIC, text=replies.GENERIC_REPLY
        )
        return None
    assert identity is not None
    placement = assignment_place(
        identity=identity, sender=sender, actor=ROUTER_ACTOR, announce=False
    )
    if placement.assignment is not None:
        _send_connected(placement.assignment)
        return placement.assignment if placement.created else None
    if placement.exhausted is not None:
        text = (
            replies.POOL_EXHAUSTED_REPLY
            if placement.exhausted == "person"
            else replies.POOL_BUSY_REPLY
        )
        router_reply_queue(line=router, to=sender, kind=ReplyKind.POOL_EXHAUSTED, text=text)
        return None
    router_reply_queue(
        line=router, to=sender, kind=ReplyKind.POOL_BUSY, text=replies.POOL_BUSY_REPLY
    )
    return None


def _disconnect_on_router(*, router: PhoneLine, sender: str, handle: str) -> Assignment | None:
    """Returns the connection it ended, if any."""
    # Same reply whether or not a connection existed: no probing of handles.
    released = None
    identity = _identity_for_handle(handle)
    if identity is not None:
        assignment = active_assignment(identity=identity, remote_number=sender)
        if assignment is not None and assignment_release(
            assignment=assignment, actor=ROUTER_ACTOR, reason=ReleaseReason.PERSON, announce=False
        ):
            released = assignment
    router_reply_queue(
        line=router, to=sender, kind=ReplyKind.DISCONNECTED, text=replies.DISCONNECTED_REPLY
    )
    return released
