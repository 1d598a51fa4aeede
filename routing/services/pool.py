"""Pool choice: placing a new connection on a free pool line.

The line comes from `pool_line_choose`; the database's unique constraints decide races,
so a connect that loses one either reuses the winner's connection or tries another line.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from console.db.inserts import insert_if_absent
from console.models import AgentIdentity
from console.services import Actor
from routing.line_loads import LINE_LOADS
from routing.models import Assignment, PoolExhaustion
from routing.selectors import active_assignment, pool_line_choose
from routing.services.assignments import assignment_changed

logger = logging.getLogger(__name__)

# Attempts at placing a connection when concurrent connects take the chosen line first.
CONNECT_ATTEMPTS = 3


@dataclass(frozen=True)
class Placement:
    """The person's active connection to the identity, or why there is none: `exhausted`
    names the pool's reason (recorded as a `PoolExhaustion`); neither means every line
    tried was taken by a concurrent connect."""

    assignment: Assignment | None
    exhausted: str | None = None
    # True when this call made the connection (False: the person's existing one).
    created: bool = False


def assignment_place(
    *, identity: AgentIdentity, sender: str, actor: Actor, announce: bool = True
) -> Placement:
    """Connect `sender` to `identity`: their active connection if any, else a new one on
    a free pool line (audited; `routing.hooks` listeners told unless `announce` is False,
    when the caller hands the new connection on itself)."""
    existing = active_assignment(identity=identity, remote_number=sender)
    if existing is not None:
        existing.identity = identity
        return Placement(existing)
    tried: frozenset[uuid.UUID] = frozenset()
    for _ in range(CONNECT_ATTEMPTS):
        choice = pool_line_choose(remote_number=sender, exclude_ids=tried)
        if choice.line is None:
            assert choice.exhausted is not None
            PoolExhaustion.objects.create(
                identity=identity, remote_number=sender, reason=choice.exhausted
            )
            logger.warning(
                "pool exhausted for identity=%s reason=%s", identity.id, choice.exhausted
            )
            return Placement(None, exhausted=choice.exhausted)
        assignment = insert_if_absent(
            Assignment,
            organization=identity.organization,
            identity=identity,
            remote_number=sender,
            pool_line=choice.line,
        )
        if assignment is None:
            # A concurrent connect won: either for this identity (reuse it) or on this line
            # for another identity (try the next line).
            existing = active_assignment(identity=identity, remote_number=sender)
            if existing is not None:
                existing.identity = identity
                return Placement(existing)
            tried = tried | {choice.line.id}
            continue
        assignment.identity = identity
        LINE_LOADS.placed(choice.line.id)
        assignment_changed(
            assignment,
            organization=identity.organization,
            actor=actor,
            action="assignment.create",
            after={"identity": str(identity.id), "line": str(choice.line.id)},
            announce=announce,
        )
        logger.info("assignment %s created identity=%s", assignment.id, identity.id)
        return Placement(assignment, created=True)
    return Placement(None)
