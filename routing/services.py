"""Routing writes: identities, contact rules, line roles, connections and the router.

Public interface used by other apps: `inbound_route`, `outbound_permission_check`,
`assignment_release`, `line_role_set`, `contact_rule_create/update/delete`,
`identity_filter_mode_set`. Each write that a person or key makes is audited.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from console.errors import ApplicationError, Conflict, ValidationFailed
from console.models import AgentIdentity, ApiKey, ApiKeyStatus, FilterMode, Organization
from console.services import Actor, api_key_revoke, audit_record
from provisioning.models import LineRole, PhoneLine, Setup
from provisioning.providers import get_adapter
from provisioning.providers.base import AccountCredentials, ProviderError
from routing import hooks, replies
from routing.commands import CommandParseError, RouterCommand, parse_command
from routing.models import (
    Assignment,
    AssignmentStatus,
    ContactRule,
    PoolExhaustion,
    ReleaseReason,
    ReplyKind,
    ReplyState,
    RouterReply,
    RuleAction,
    RuleDirection,
    RuleStatus,
)
from routing.selectors import (
    active_assignment,
    active_assignment_on_line,
    contact_decision,
    decide,
    identity_mode,
    number_rules,
    pool_line_choose,
)

logger = logging.getLogger(__name__)

ROUTER_ACTOR = Actor(type="system", id="", label="router")
# Attempts at placing a connection when concurrent connects take the chosen line first.
CONNECT_ATTEMPTS = 3
REPLY_MAX_ATTEMPTS = 5
REPLY_CLAIM_TIMEOUT = timedelta(minutes=5)


# --- Filters -----------------------------------------------------------------


class RecipientBlocked(ApplicationError):
    status_code = 403
    code = "recipient_blocked"


RECIPIENT_BLOCKED_MESSAGE = "This identity's contact rules do not allow sending to this number."


def outbound_permission_check(*, identity: AgentIdentity, number: str) -> None:
    """Raise the contract's 403 `recipient_blocked` when `identity` may not send to `number`."""
    decision = contact_decision(identity=identity, number=number, direction="outbound")
    if decision.allowed:
        return
    raise RecipientBlocked(
        RECIPIENT_BLOCKED_MESSAGE,
        extra={
            "matched_rule_id": str(decision.matched_rule_id) if decision.matched_rule_id else None,
            "address": number,
            "reason": "contact_rule" if decision.matched_rule_id else "filter_mode",
        },
    )


FILTER_MODES = {FilterMode.BLACKLIST.value, FilterMode.WHITELIST.value}


@transaction.atomic
def identity_filter_mode_set(
    *,
    identity: AgentIdentity,
    actor: Actor,
    inbound: str | None = None,
    outbound: str | None = None,
) -> AgentIdentity:
    """Set the identity's inbound and/or outbound filter mode (admin only at the API)."""
    for value in (inbound, outbound):
        if value is not None and value not in FILTER_MODES:
            raise ValidationFailed(f"Filter mode must be one of {sorted(FILTER_MODES)}.")
    before = {"inbound": identity.inbound_filter_mode, "outbound": identity.outbound_filter_mode}
    if inbound is not None:
        identity.inbound_filter_mode = inbound
    if outbound is not None:
        identity.outbound_filter_mode = outbound
    after = {"inbound": identity.inbound_filter_mode, "outbound": identity.outbound_filter_mode}
    if before != after:
        identity.save(update_fields=["inbound_filter_mode", "outbound_filter_mode", "updated_at"])
        audit_record(
            organization=identity.organization,
            actor=actor,
            action="identity.filter_mode_set",
            obj=identity,
            before=before,
            after=after,
        )
    return identity


# --- Contact rules -----------------------------------------------------------

RULE_DIRECTIONS = {d.value for d in RuleDirection}
RULE_ACTIONS = {a.value for a in RuleAction}


def _sides(direction: str) -> set[str]:
    if direction == RuleDirection.BOTH:
        return {RuleDirection.INBOUND.value, RuleDirection.OUTBOUND.value}
    return {direction}


def _rule_snapshot(rule: ContactRule) -> dict[str, Any]:
    return {
        "action": rule.action,
        "match_target": rule.match_target,
        "direction": rule.direction,
        "status": rule.status,
    }


def _lock_identity(identity: AgentIdentity) -> None:
    # Rule writes for one identity are serialised, so overlapping-coverage checks hold.
    AgentIdentity.objects.select_for_update().filter(pk=identity.pk).first()


class DuplicateContactRule(Conflict):
    code = "duplicate_contact_rule"


def _duplicate(existing: ContactRule) -> DuplicateContactRule:
    return DuplicateContactRule(
        "A contact rule already covers this number and direction.",
        extra={"existing_rule_id": str(existing.id)},
    )


def _overlapping(
    *, identity: AgentIdentity, match_type: str, target: str, direction: str, exclude: Any = None
) -> ContactRule | None:
    others = ContactRule.objects.filter(
        identity=identity, match_type=match_type, match_target=target
    ).order_by("created_at")
    if exclude is not None:
        others = others.exclude(pk=exclude)
    for other in others:
        if _sides(other.direction) & _sides(direction):
            return other
    return None


@transaction.atomic
def contact_rule_create(
    *,
    identity: AgentIdentity,
    actor: Actor,
    action: str,
    match_target: str,
    match_type: str = "exact_number",
    direction: str = RuleDirection.BOTH,
) -> ContactRule:
    """Create a rule, or widen a one-way rule with the same action to `both`.

    Raises `DuplicateContactRule` (409 with `existing_rule_id`) when another rule already
    covers the number in an overlapping direction, whatever its action or status.
    """
    from console.phone import normalize_e164

    if action not in RULE_ACTIONS:
        raise ValidationFailed("action must be allow or block.")
    if direction not in RULE_DIRECTIONS:
        raise ValidationFailed("direction must be inbound, outbound or both.")
    if match_type != "exact_number":
        raise ValidationFailed("match_type must be exact_number.")
    target = normalize_e164(match_target, field="match_target")
    _lock_identity(identity)
    existing = _overlapping(
        identity=identity, match_type=match_type, target=target, direction=direction
    )
    if existing is not None:
        raise _duplicate(existing)
    # The complementary one-way rule with the same action consolidates into one `both` rule,
    # so ids issued earlier keep addressing the logical rule.
    sibling = (
        ContactRule.objects.filter(
            identity=identity, match_type=match_type, match_target=target, action=action
        )
        .exclude(direction=RuleDirection.BOTH)
        .first()
    )
    if sibling is not None and direction != RuleDirection.BOTH:
        before = _rule_snapshot(sibling)
        sibling.direction = RuleDirection.BOTH
        sibling.save(update_fields=["direction", "updated_at"])
        audit_record(
            organization=identity.organization,
            actor=actor,
            action="contact_rule.update",
            obj=sibling,
            before=before,
            after=_rule_snapshot(sibling),
        )
        return sibling
    try:
        with transaction.atomic():
            rule = ContactRule.objects.create(
                identity=identity,
                action=action,
                match_type=match_type,
                match_target=target,
                direction=direction,
            )
    except IntegrityError:
        existing = _overlapping(
            identity=identity, match_type=match_type, target=target, direction=direction
        )
        if existing is None:
            raise
        raise _duplicate(existing) from None
    audit_record(
        organization=identity.organization,
        actor=actor,
        action="contact_rule.create",
        obj=rule,
        after=_rule_snapshot(rule),
    )
    return rule


@transaction.atomic
def contact_rule_update(
    *,
    rule: ContactRule,
    actor: Actor,
    action: str | None = None,
    direction: str | None = None,
    apply_to: str | None = None,
    status: str | None = None,
) -> ContactRule:
    """Change a rule's action, coverage or status; returns the rule covering the edited side.

    `apply_to` (with `action`) changes one side only: a `both` rule splits into two one-way
    rules, the original keeping the other side.
    """
    if action is None and direction is None and status is None:
        raise ValidationFailed("Provide action or direction.")
    if apply_to is not None and (action is None or direction is not None):
        raise ValidationFailed("apply_to requires action and cannot be combined with direction.")
    if apply_to is not None and apply_to not in (RuleDirection.INBOUND, RuleDirection.OUTBOUND):
        raise ValidationFailed("apply_to must be inbound or outbound.")
    if action is not None and action not in RULE_ACTIONS:
        raise ValidationFailed("action must be allow or block.")
    if direction is not None and direction not in RULE_DIRECTIONS:
        raise ValidationFailed("direction must be inbound, outbound or both.")
    if status is not None and status not in (RuleStatus.ACTIVE, RuleStatus.PAUSED):
        raise ValidationFailed("status must be active or paused.")
    identity = rule.identity
    _lock_identity(identity)
    rule = ContactRule.objects.select_for_update().get(pk=rule.pk)
    before = _rule_snapshot(rule)
    result = rule
    if apply_to is not None:
        assert action is not None
        if apply_to not in _sides(rule.direction):
            raise ValidationFailed(f"This rule does not cover the {apply_to} side.")
        if rule.direction == RuleDirection.BOTH and action != rule.action:
            keep = (
                RuleDirection.OUTBOUND
                if apply_to == RuleDirection.INBOUND
                else RuleDirection.INBOUND
            )
            rule.direction = keep
            rule.save(update_fields=["direction", "updated_at"])
            result = ContactRule.objects.create(
                identity=identity,
                action=action,
                match_type=rule.match_type,
                match_target=rule.match_target,
                direction=apply_to,
                status=rule.status,
            )
        else:
            rule.action = action
            rule.save(update_fields=["action", "updated_at"])
    else:
        if direction is not None and direction != rule.direction:
            clash = _overlapping(
                identity=identity,
                match_type=rule.match_type,
                target=rule.match_target,
                direction=direction,
                exclude=rule.pk,
            )
            if clash is not None:
                raise _duplicate(clash)
            rule.direction = direction
        if action is not None:
            rule.action = action
        if status is not None:
            rule.status = status
        rule.save(update_fields=["direction", "action", "status", "updated_at"])
    audit_record(
        organization=identity.organization,
        actor=actor,
        action="contact_rule.update",
        obj=rule,
        before=before,
        after={**_rule_snapshot(rule), "split_into": str(result.id) if result != rule else None},
    )
    return result


@transaction.atomic
def contact_rule_delete(*, rule: ContactRule, actor: Actor) -> None:
    snapshot = _rule_snapshot(rule)
    organization = rule.identity.organization
    audit_record(
        organization=organization,
        actor=actor,
        action="contact_rule.delete",
        obj=rule,
        before=snapshot,
    )
    rule.delete()


# --- Lines -------------------------------------------------------------------

LINE_ROLES = {r.value for r in LineRole}


@transaction.atomic
def line_role_set(*, line: PhoneLine, role: str, actor: Actor) -> PhoneLine:
    """Give a line the router, pool or dedicated role.

    A line that still carries active connections cannot stop being a pool line (release
    them first), and router/pool lines are platform lines with no identity attached.
    """
    if role not in LINE_ROLES:
        raise ValidationFailed(f"role must be one of {sorted(LINE_ROLES)}.")
    line = PhoneLine.objects.select_for_update().select_related("setup").get(pk=line.pk)
    if line.role == role:
        return line
    if (
        line.role == LineRole.POOL
        and Assignment.objects.filter(pool_line=line, status=AssignmentStatus.ACTIVE).exists()
    ):
        raise Conflict(
            "This pool line still carries active connections; release them first.",
            code="line_in_use",
        )
    if role in (LineRole.ROUTER, LineRole.POOL) and line.identity_id is not None:
        raise Conflict("Detach the line from its identity first.", code="line_attached")
    before = {"role": line.role}
    line.role = role
    line.save(update_fields=["role", "updated_at"])
    audit_record(
        organization=line.setup.organization,
        actor=actor,
        action="line.role_set",
        obj=line,
        before=before,
        after={"role": role},
    )
    return line


# --- Connections -------------------------------------------------------------


@transaction.atomic
def assignment_release(*, assignment: Assignment, actor: Actor, reason: str) -> bool:
    """Release an active connection for `reason` (a `ReleaseReason`); returns False when
    it was no longer active.

    The conditional update makes concurrent releases harmless: exactly one wins.
    """
    now = timezone.now()
    changed = Assignment.objects.filter(pk=assignment.pk, status=AssignmentStatus.ACTIVE).update(
        status=AssignmentStatus.RELEASED, released_at=now, updated_at=now, release_reason=reason
    )
    if not changed:
        return False
    assignment.status = AssignmentStatus.RELEASED
    assignment.released_at = now
    assignment.updated_at = now
    assignment.release_reason = reason
    hooks.assignment_changed(assignment)
    audit_record(
        organization=assignment.organization,
        actor=actor,
        action="assignment.release",
        obj=assignment,
        before={"status": "active"},
        after={"status": "released", "reason": reason},
    )
    return True


# --- The router --------------------------------------------------------------


@dataclass(frozen=True)
class InboundRoute:
    identity: AgentIdentity
    assignment: Assignment | None
    line: PhoneLine
    # The identity's rules filter this sender inbound: store for review, never deliver.
    is_blocked: bool
    matched_rule_id: uuid.UUID | None


def _reply(*, line: PhoneLine, to: str, kind: str, text: str, media_url: str = "") -> RouterReply:
    """Write a reply to the outbox; a task sends it after commit (the sweep if it is lost)."""
    reply = RouterReply.objects.create(
        line=line, to_number=to, kind=kind, text=text, media_url=media_url
    )
    transaction.on_commit(lambda: _enqueue_reply(reply.id))
    logger.info("router reply %s queued kind=%s line=%s", reply.id, kind, line.id)
    return reply


def _enqueue_reply(reply_id: uuid.UUID) -> None:
    from routing.tasks import router_reply_send_task

    try:
        router_reply_send_task.delay(str(reply_id))
    except Exception:
        # The broker is down: the row stays queued and the sweep sends it later.
        logger.warning("router reply %s not enqueued; the sweep will retry", reply_id)


def _identity_for_handle(handle: str) -> AgentIdentity | None:
    return AgentIdentity.objects.select_related("organization").filter(handle=handle).first()


def _may_connect(identity: AgentIdentity | None, sender: str) -> bool:
    """Connecting needs an enabled identity and permission in both directions."""
    if identity is None or not identity.imessage_enabled:
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
    _reply(
        line=line,
        to=assignment.remote_number,
        kind=ReplyKind.CONNECTED,
        text=replies.connected_text(assignment.identity),
        media_url=replies.contact_card_url(identity=assignment.identity, line=line),
    )


def _connect(*, router: PhoneLine, sender: str, handle: str) -> Assignment | None:
    identity = _identity_for_handle(handle)
    if not _may_connect(identity, sender):
        _reply(line=router, to=sender, kind=ReplyKind.GENERIC, text=replies.GENERIC_REPLY)
        return None
    assert identity is not None
    existing = active_assignment(identity=identity, remote_number=sender)
    if existing is not None:
        existing.identity = identity
        _send_connected(existing)
        return existing
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
            text = (
                replies.POOL_EXHAUSTED_REPLY
                if choice.exhausted == "person"
                else replies.POOL_BUSY_REPLY
            )
            _reply(line=router, to=sender, kind=ReplyKind.POOL_EXHAUSTED, text=text)
            return None
        try:
            with transaction.atomic():
                assignment = Assignment.objects.create(
                    organization=identity.organization,
                    identity=identity,
                    remote_number=sender,
                    pool_line=choice.line,
                )
        except IntegrityError:
            # A concurrent connect won: either for this identity (reuse it) or on this line
            # for another identity (try the next line).
            existing = active_assignment(identity=identity, remote_number=sender)
            if existing is not None:
                existing.identity = identity
                _send_connected(existing)
                return existing
            tried = tried | {choice.line.id}
            continue
        assignment.identity = identity
        hooks.assignment_changed(assignment)
        audit_record(
            organization=identity.organization,
            actor=ROUTER_ACTOR,
            action="assignment.create",
            obj=assignment,
            after={"identity": str(identity.id), "line": str(choice.line.id)},
        )
        logger.info("assignment %s created identity=%s", assignment.id, identity.id)
        _send_connected(assignment)
        return assignment
    _reply(line=router, to=sender, kind=ReplyKind.POOL_BUSY, text=replies.POOL_BUSY_REPLY)
    return None


def _disconnect_on_router(*, router: PhoneLine, sender: str, handle: str) -> None:
    # Same reply whether or not a connection existed: no probing of handles.
    identity = _identity_for_handle(handle)
    if identity is not None:
        assignment = active_assignment(identity=identity, remote_number=sender)
        if assignment is not None:
            assignment_release(
                assignment=assignment, actor=ROUTER_ACTOR, reason=ReleaseReason.PERSON
            )
    _reply(line=router, to=sender, kind=ReplyKind.DISCONNECTED, text=replies.DISCONNECTED_REPLY)


def _parse(text: str) -> RouterCommand | None:
    try:
        return parse_command(text)
    except CommandParseError:
        return None


# No caller catches its errors and carries on in the same transaction, so a SAVEPOINT
# would only add two round trips per call (ingest ran ten of them).
@transaction.atomic(savepoint=False)
def inbound_route(*, line: PhoneLine, sender: str, text: str) -> InboundRoute | None:
    """Decide where an inbound message on one of our lines goes.

    Returns None when the router consumed the message (connect, disconnect, help replies)
    or nothing can take it; otherwise the identity, connection and filter verdict, which
    messaging uses to store (and, unless blocked, deliver) the message.
    """
    text = text or ""
    if line.role == LineRole.ROUTER:
        command = _parse(text)
        if command is not None and command.verb == "connect" and command.handle:
            _connect(router=line, sender=sender, handle=command.handle)
        elif command is not None and command.verb == "disconnect" and command.handle:
            _disconnect_on_router(router=line, sender=sender, handle=command.handle)
        else:
            _reply(line=line, to=sender, kind=ReplyKind.HELP, text=replies.HELP_REPLY)
        return None
    if line.role == LineRole.POOL:
        assignment = active_assignment_on_line(line=line, remote_number=sender)
        command = _parse(text)
        if assignment is None:
            _reply(line=line, to=sender, kind=ReplyKind.HELP, text=replies.HELP_REPLY)
            return None
        if command is not None and command.verb == "disconnect" and command.handle is None:
            assignment_release(
                assignment=assignment, actor=ROUTER_ACTOR, reason=ReleaseReason.PERSON
            )
            _reply(
                line=line, to=sender, kind=ReplyKind.DISCONNECTED, text=replies.DISCONNECTED_REPLY
            )
            return None
        return _route_to(
            identity=assignment.identity, assignment=assignment, line=line, sender=sender
        )
    identity = line.identity
    if identity is None:
        logger.info("inbound on unattached dedicated line %s dropped", line.id)
        return None
    return _route_to(identity=identity, assignment=None, line=line, sender=sender)


def _route_to(
    *, identity: AgentIdentity, assignment: Assignment | None, line: PhoneLine, sender: str
) -> InboundRoute:
    decision = contact_decision(identity=identity, number=sender, direction="inbound")
    return InboundRoute(
        identity=identity,
        assignment=assignment,
        line=line,
        is_blocked=not decision.allowed,
        matched_rule_id=decision.matched_rule_id,
    )


# --- Reply outbox --------------------------------------------------------------


def setup_credentials(setup: Setup) -> AccountCredentials:
    """Decrypted provider credentials of the setup that owns a line."""
    from provisioning.services import setup_credentials as provisioning_credentials

    return provisioning_credentials(setup)


def router_reply_deliver(*, reply_id: uuid.UUID | str) -> str:
    """Send one queued reply at most once per claim; returns the reply's final state.

    The claim is a conditional update (queued -> sending), so duplicate jobs are no-ops.
    """
    now = timezone.now()
    claimed = RouterReply.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        pk=reply_id,
        state=ReplyState.QUEUED,
    ).update(state=ReplyState.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return "skipped"
    reply = RouterReply.objects.select_related("line", "line__setup").get(pk=reply_id)
    line = reply.line
    try:
        result = get_adapter().send_message(
            credentials=setup_credentials(line.setup),
            from_number=line.number or "",
            to_number=reply.to_number,
            content=reply.text,
            media_url=reply.media_url or None,
            send_style=None,
            status_callback=None,
        )
    except ProviderError as exc:
        final = exc.permanent or reply.attempts >= REPLY_MAX_ATTEMPTS
        delay = exc.retry_after or min(30 * 2 ** (reply.attempts - 1), 1800)
        RouterReply.objects.filter(pk=reply.pk).update(
            state=ReplyState.FAILED if final else ReplyState.QUEUED,
            next_attempt_at=None if final else timezone.now() + timedelta(seconds=delay),
            last_error=exc.message[:1000],
            updated_at=timezone.now(),
        )
        logger.warning("router reply %s failed permanent=%s", reply.id, final)
        return ReplyState.FAILED if final else ReplyState.QUEUED
    RouterReply.objects.filter(pk=reply.pk).update(
        state=ReplyState.SENT, provider_handle=result.provider_handle, updated_at=timezone.now()
    )
    return ReplyState.SENT


def router_reply_sweep(*, stale_after: timedelta = timedelta(seconds=30)) -> int:
    """Re-enqueue replies whose job was lost (broker down at commit, worker died).

    Replies stuck in `sending` past the claim timeout go back to `queued`: a duplicate
    automatic reply is harmless, a lost connect confirmation is not.
    """
    now = timezone.now()
    RouterReply.objects.filter(
        state=ReplyState.SENDING, claimed_at__lt=now - REPLY_CLAIM_TIMEOUT
    ).update(state=ReplyState.QUEUED, next_attempt_at=now, updated_at=now)
    due = list(
        RouterReply.objects.filter(state=ReplyState.QUEUED)
        .filter(
            Q(next_attempt_at__lte=now)
            | Q(next_attempt_at__isnull=True, updated_at__lt=now - stale_after)
        )
        .values_list("id", flat=True)[:500]
    )
    for reply_id in due:
        _enqueue_reply(reply_id)
    return len(due)


# --- Identities ----------------------------------------------------------------

HANDLE_UNAVAILABLE = "This handle is not available."


class HandleUnavailable(Conflict):
    code = "agent_handle_unavailable"


@transaction.atomic
def identity_create(
    *,
    organization: Organization,
    actor: Actor,
    handle: str,
    display_name: str | None = None,
    description: str | None = None,
    imessage_enabled: bool = False,
    contact_sharing_enabled: bool = True,
) -> AgentIdentity:
    """Create an identity. Raises `HandleUnavailable` (409) when the handle is taken anywhere."""
    identity = AgentIdentity(
        organization=organization,
        handle=handle,
        display_name=display_name or handle,
        description=description,
        imessage_enabled=imessage_enabled,
        contact_sharing_enabled=contact_sharing_enabled,
    )
    identity.full_clean(exclude=["handle"])
    try:
        with transaction.atomic():
            identity.save(force_insert=True)
    except IntegrityError:
        raise HandleUnavailable(
            HANDLE_UNAVAILABLE, extra={"blocking_namespace": "identities"}
        ) from None
    audit_record(
        organization=organization,
        actor=actor,
        action="identity.create",
        obj=identity,
        after={"handle": handle, "imessage_enabled": imessage_enabled},
    )
    return identity


IDENTITY_FIELDS = ("display_name", "description", "imessage_enabled", "contact_sharing_enabled")


@transaction.atomic
def identity_update(
    *, identity: AgentIdentity, actor: Actor, changes: dict[str, Any]
) -> AgentIdentity:
    """Apply whitelisted field changes; `display_name: None` falls back to the handle."""
    before = {name: getattr(identity, name) for name in IDENTITY_FIELDS}
    for name in IDENTITY_FIELDS:
        if name not in changes:
            continue
        value = changes[name]
        if name == "display_name" and not value:
            value = identity.handle
        setattr(identity, name, value)
    after = {name: getattr(identity, name) for name in IDENTITY_FIELDS}
    if before != after:
        identity.full_clean(exclude=["handle"], validate_unique=False)
        identity.save(update_fields=[*IDENTITY_FIELDS, "updated_at"])
        audit_record(
            organization=identity.organization,
            actor=actor,
            action="identity.update",
            obj=identity,
            before=before,
            after=after,
        )
    return identity


@transaction.atomic
def identity_delete(*, identity: AgentIdentity, actor: Actor) -> None:
    """Delete an identity: revoke its scoped keys, release its connections, detach lines."""
    for key in ApiKey.objects.filter(identity=identity, status=ApiKeyStatus.ACTIVE).select_related(
        "organization"
    ):
        api_key_revoke(key=key, actor=actor)
    for assignment in Assignment.objects.filter(
        identity=identity, status=AssignmentStatus.ACTIVE
    ).select_related("organization"):
        assignment_release(assignment=assignment, actor=actor, reason=ReleaseReason.AGENT)
    PhoneLine.objects.filter(identity=identity).update(identity=None, updated_at=timezone.now())
    audit_record(
        organization=identity.organization,
        actor=actor,
        action="identity.delete",
        obj=identity,
        before={"handle": identity.handle},
    )
    identity.delete()
