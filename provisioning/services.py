"""Provisioning writes: setups, their lines, and recording provider events.

Provider credentials and webhook secrets are encrypted before they touch a row and are
never logged: log lines carry setup and line ids only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from console.crypto import decrypt, encrypt
from console.errors import ApplicationError, Conflict
from console.idempotency import IDEMPOTENCY_KEY_REUSED
from console.models import Organization
from console.phone import to_e164
from console.services import Actor, audit_record
from provisioning import dispatch
from provisioning.models import (
    LineRole,
    LineState,
    PhoneLine,
    ProviderEvent,
    ProviderEventStatus,
    Setup,
    SetupStatus,
)
from provisioning.providers import get_adapter
from provisioning.providers.base import (
    AccountCredentials,
    LineAssigned,
    LineBlocked,
    ParsedWebhook,
    ProviderError,
    StatusUpdate,
    UnknownEvent,
    WebhookParseError,
)

logger = logging.getLogger(__name__)

WEBHOOK_TYPES = ("receive", "outbound", "typing_indicator", "line_assigned", "line_blocked")
PROVIDER_REFUSED = "The iMessage provider refused to create the subaccount"
PROVIDER_UNAVAILABLE = "The iMessage provider was unavailable while creating the subaccount"


class ProviderRefused(ApplicationError):
    """The provider answered 4xx: our request or our agency account is wrong."""

    status_code = 502
    code = "provider_error"


# --- secrets -----------------------------------------------------------------


def setup_credentials(setup: Setup) -> AccountCredentials:
    """The child account's key pair, decrypted. Never log or return the result."""
    data = json.loads(decrypt(setup.credentials_encrypted))
    return AccountCredentials(key_id=data["key_id"], secret=data["secret"])


def _encrypt_credentials(credentials: AccountCredentials) -> str:
    return encrypt(json.dumps({"key_id": credentials.key_id, "secret": credentials.secret}))


def setup_webhook_secret(setup: Setup) -> str:
    return decrypt(setup.webhook_secret_encrypted)


def webhook_url(setup: Setup, webhook_type: str | None = None) -> str:
    """The public URL the provider posts this setup's events of `webhook_type` to."""
    if webhook_type is None:
        path = reverse("provider-webhook", kwargs={"setup_id": str(setup.id)})
    else:
        path = reverse(
            "provider-webhook-typed",
            kwargs={"setup_id": str(setup.id), "event_type": webhook_type},
        )
    return f"{settings.PUBLIC_BASE_URL}{path}"


def status_callback_url(setup: Setup, message_ref: str | None = None) -> str:
    """Where messaging asks the provider to post status callbacks for this setup; with
    `message_ref` (our message id), the callback names the message even when the send's
    answer, and so the provider's handle, was lost."""
    if message_ref is None:
        return webhook_url(setup, "status_callback")
    path = reverse(
        "provider-webhook-callback",
        kwargs={"setup_id": str(setup.id), "message_ref": message_ref},
    )
    return f"{settings.PUBLIC_BASE_URL}{path}"


# --- setups ------------------------------------------------------------------

# A create whose provider call has not come back within this long was interrupted (the
# process died mid-call): a retry with its key fails it instead of waiting for ever.
SETUP_CREATE_TIMEOUT = timedelta(minutes=10)
SETUP_INTERRUPTED = (
    "Creating the subaccount was interrupted before the provider answered. Create it again."
)


class SetupCreateInProgress(ApplicationError):
    """A create with this Idempotency-Key is still talking to the provider."""

    status_code = 409
    code = "idempotency_in_progress"


def _primary_email(setup: Setup) -> str:
    return f"setup-{setup.id.hex[:12]}@{settings.PROVIDER_PRIMARY_EMAIL_DOMAIN}"


def _fail(setup: Setup, reason: str) -> Setup:
    setup.status = SetupStatus.FAILED
    setup.failure_reason = reason
    setup.save(update_fields=["status", "failure_reason", "updated_at"])
    logger.warning("setup %s failed: %s", setup.id, reason)
    return setup


def _refresh_status(setup: Setup) -> None:
    """A pending setup becomes active once none of its lines waits for carrier placement.

    Never the other way round: a line added later leaves an active subaccount in service
    (claims and sends keep using it while the new line waits).
    """
    if setup.status != SetupStatus.PENDING:
        return
    if setup.lines.filter(state=LineState.PENDING).exists():
        return
    Setup.objects.filter(pk=setup.pk, status=SetupStatus.PENDING).update(
        status=SetupStatus.ACTIVE, updated_at=timezone.now()
    )
    setup.status = SetupStatus.ACTIVE


def _creating(setup: Setup) -> bool:
    """Still waiting for the provider's subaccount (the first provider call)."""
    return setup.status == SetupStatus.PENDING and not setup.provider_account_id


def _setup_start(
    *,
    organization: Organization,
    business_name: str,
    label: str,
    is_platform: bool,
    idempotency_key: str | None,
) -> tuple[Setup, bool]:
    """Commit the `pending` setup row before any provider call; returns (setup, created).

    With a key already used, returns the earlier setup (created=False) after checking the
    request matches. Raises `Conflict` (idempotency_key_reused) or `SetupCreateInProgress`.
    """
    try:
        with transaction.atomic():
            setup = Setup(
                organization=organization,
                business_name=business_name,
                label=label,
                provider=settings.PROVIDER_NAME,
                is_platform=is_platform,
                webhook_secret_encrypted=encrypt(secrets.token_urlsafe(32)),
                status=SetupStatus.PENDING,
                idempotency_key=idempotency_key,
            )
            setup.primary_email = _primary_email(setup)
            setup.save(force_insert=True)
            return setup, True
    except IntegrityError:
        if idempotency_key is None:
            raise
    existing = Setup.objects.get(organization=organization, idempotency_key=idempotency_key)
    if (existing.business_name, existing.label, existing.is_platform) != (
        business_name,
        label,
        is_platform,
    ):
        raise Conflict(IDEMPOTENCY_KEY_REUSED, code="idempotency_key_reused")
    if _creating(existing):
        if existing.created_at > timezone.now() - SETUP_CREATE_TIMEOUT:
            raise SetupCreateInProgress(
                "A setup create with this Idempotency-Key is still in progress.",
                headers={"Retry-After": "1"},
            )
        _fail(existing, SETUP_INTERRUPTED)
    return existing, False


def setup_create(
    *,
    organization: Organization,
    business_name: str,
    label: str,
    actor: Actor,
    is_platform: bool = False,
    line_roles: list[str] | None = None,
    idempotency_key: str | None = None,
) -> Setup:
    """Create the provider subaccount, register our webhooks and record its lines.

    The setup row is committed `pending` first and every provider call runs outside a
    database transaction, so a slow provider holds no lock and an interrupted create
    still leaves a setup with a status. The first line comes with the subaccount; each
    further role in `line_roles` is requested with add-line. The organisation's first
    setup that works becomes its default (where dedicated-number claims go).

    A provider 5xx/timeout leaves the setup `failed` with a readable `failure_reason`.
    A provider 4xx raises `ProviderRefused` (502) and removes the setup row again.
    With `idempotency_key`, a retry with the same request returns the same setup (as it
    now stands); see `_setup_start` for the conflicts it raises.
    """
    from provisioning.lines import line_order, setup_default_if_none

    roles = line_roles or [LineRole.DEDICATED]
    setup, created = _setup_start(
        organization=organization,
        business_name=business_name,
        label=label,
        is_platform=is_platform,
        idempotency_key=idempotency_key,
    )
    if not created:
        return setup
    adapter = get_adapter()
    try:
        child = adapter.create_child_account(
            company_name=business_name, primary_email=setup.primary_email, provision_line=True
        )
    except ProviderError as exc:
        if exc.permanent:
            logger.warning("provider refused setup %s: HTTP %s", setup.id, exc.status_code)
            # Nothing exists at the provider: drop the row so the key can be used again.
            setup.delete()
            raise ProviderRefused(
                f"{PROVIDER_REFUSED}: {exc.message}",
                extra={"provider_status": exc.status_code, "provider_error_key": exc.error_key},
            ) from exc
        return _fail(setup, f"{PROVIDER_UNAVAILABLE} ({exc.message}). Create it again later.")

    number = to_e164(child.assigned_number)
    with transaction.atomic():
        setup.provider_account_id = child.account_id[:255]
        setup.credentials_encrypted = _encrypt_credentials(child.credentials)
        setup.save(update_fields=["provider_account_id", "credentials_encrypted", "updated_at"])
        if number:
            PhoneLine.objects.create(
                setup=setup,
                role=roles[0],
                state=LineState.ASSIGNED,
                number=number,
                assigned_at=timezone.now(),
            )
        else:
            PhoneLine.objects.create(
                setup=setup,
                role=roles[0],
                state=LineState.PENDING,
                provider_request_id=(child.line_request_id or "")[:64],
            )
    try:
        adapter.register_webhooks(
            credentials=child.credentials,
            urls_by_type={t: webhook_url(setup, t) for t in WEBHOOK_TYPES},
            secret=setup_webhook_secret(setup),
        )
        for role in roles[1:]:
            line_order(PhoneLine.objects.create(setup=setup, role=role, state=LineState.PENDING))
    except ProviderError as exc:
        return _fail(
            setup,
            "The subaccount was created but the provider failed while registering webhooks "
            f"or requesting lines ({exc.message}).",
        )
    _refresh_status(setup)
    setup_default_if_none(setup)
    audit_record(
        organization=organization,
        actor=actor,
        action="setup.create",
        obj=setup,
        after={"label": label, "status": setup.status, "lines": len(roles)},
    )
    logger.info("setup %s created with status %s", setup.id, setup.status)
    return setup


def setups_fail_interrupted() -> int:
    """Fail setups whose create died while waiting for the provider; returns how many."""
    return Setup.objects.filter(
        status=SetupStatus.PENDING,
        provider_account_id="",
        created_at__lt=timezone.now() - SETUP_CREATE_TIMEOUT,
    ).update(status=SetupStatus.FAILED, failure_reason=SETUP_INTERRUPTED, updated_at=timezone.now())


# --- lines -------------------------------------------------------------------


@transaction.atomic
def line_assign(
    *,
    setup: Setup,
    number: str,
    line_request_id: str | None = None,
    assigned_at: datetime | None = None,
) -> PhoneLine | None:
    """Move a pending line of `setup` to assigned with `number`; safe to repeat.

    Concurrent calls are serialised on the setup row; the number's unique constraint
    and a conditional update back that up. Returns the line holding the number, or None
    when there is no pending line to give it to.
    """
    e164 = to_e164(number)
    if e164 is None:
        logger.warning("setup %s: line_assigned without a valid number", setup.id)
        return None
    Setup.objects.select_for_update().filter(pk=setup.pk).first()
    holder = PhoneLine.objects.filter(number=e164).first()
    if holder is not None:
        if holder.setup_id != setup.id:
            logger.warning("setup %s: number already held by line %s", setup.id, holder.id)
            return None
        return holder
    pending = PhoneLine.objects.select_for_update().filter(setup=setup, state=LineState.PENDING)
    line = None
    if line_request_id:
        line = pending.filter(provider_request_id=line_request_id).first()
    line = line or pending.order_by("requested_at", "id").first()
    if line is None:
        logger.warning("setup %s: line_assigned but no line is pending", setup.id)
        return None
    try:
        with transaction.atomic():
            updated = PhoneLine.objects.filter(pk=line.pk, state=LineState.PENDING).update(
                state=LineState.ASSIGNED,
                number=e164,
                assigned_at=assigned_at or timezone.now(),
                updated_at=timezone.now(),
            )
    except IntegrityError:
        return PhoneLine.objects.filter(number=e164).first()
    if updated != 1:
        return PhoneLine.objects.filter(number=e164).first()
    line.refresh_from_db()
    _refresh_status(setup)
    audit_record(
        organization=setup.organization,
        actor=Actor.system(),
        action="line.assign",
        obj=line,
        before={"state": LineState.PENDING},
        after={"state": LineState.ASSIGNED, "number": e164},
    )
    logger.info("setup %s: line %s assigned", setup.id, line.id)
    return line


@transaction.atomic
def line_block(*, setup: Setup, number: str | None, reason: str | None) -> PhoneLine | None:
    """Mark the setup's line with `number` as blocked by the provider (idempotent)."""
    e164 = to_e164(number)
    if e164 is None:
        return None
    line = PhoneLine.objects.select_for_update().filter(setup=setup, number=e164).first()
    if line is None or line.blocked_at is not None:
        return line
    line.blocked_at = timezone.now()
    line.blocked_reason = (reason or "")[:2000]
    line.save(update_fields=["blocked_at", "blocked_reason", "updated_at"])
    audit_record(
        organization=setup.organization,
        actor=Actor.system(),
        action="line.block",
        obj=line,
        after={"blocked_reason": line.blocked_reason},
    )
    logger.warning("setup %s: line %s blocked by the provider", setup.id, line.id)
    return line


def setup_reconcile(*, setup: Setup) -> int:
    """Poll the provider for lines of a setup still waiting; returns how many got assigned.

    Covers a `line_assigned` delivery we missed: ticket status first (it names the line
    it fulfilled), then the account's lines/state for numbers we do not know yet.
    """
    if not setup.credentials_encrypted:
        return 0
    credentials = setup_credentials(setup)
    adapter = get_adapter()
    assigned = 0
    for line in setup.lines.filter(state=LineState.PENDING).exclude(provider_request_id=""):
        ticket = adapter.get_line_request(
            credentials=credentials, request_id=line.provider_request_id
        )
        if ticket.number and line_assign(
            setup=setup, number=ticket.number, line_request_id=line.provider_request_id
        ):
            assigned += 1
    if setup.lines.filter(state=LineState.PENDING).exists():
        known = set(setup.lines.exclude(number=None).values_list("number", flat=True))
        for entry in adapter.lines_state(credentials=credentials):
            if (
                entry.number
                and entry.number not in known
                and line_assign(setup=setup, number=entry.number)
            ):
                known.add(entry.number)
                assigned += 1
    return assigned


# --- provider events ---------------------------------------------------------


@dataclass(frozen=True)
class IntakeResult:
    provider_event: ProviderEvent
    duplicate: bool


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:32]


# Provider bodies are flat; deeper nesting is hostile and would overflow the JSON encoder.
MAX_BODY_DEPTH = 32


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _clean(node: Any, depth: int = 0) -> Any:
    """Drop NUL characters (PostgreSQL text and jsonb cannot hold them) and refuse bodies
    nested deeper than MAX_BODY_DEPTH, so whatever parses can also be stored."""
    if depth > MAX_BODY_DEPTH:
        raise ValueError("body is nested too deeply")
    if isinstance(node, str):
        return node.replace("\x00", "")
    if isinstance(node, dict):
        return {str(k).replace("\x00", ""): _clean(v, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_clean(v, depth + 1) for v in node]
    return node


def _load_body(raw_body: bytes) -> Any:
    """Parse a webhook body; raises ValueError (or UnicodeDecodeError) when malformed."""
    try:
        body = json.loads(raw_body, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise ValueError("body is nested too deeply") from exc
    return _clean(body)


def _record(
    *, setup: Setup, event_key: str, event_type: str, payload: Any, status: str, error: str = ""
) -> tuple[ProviderEvent, bool]:
    try:
        with transaction.atomic():
            event = ProviderEvent.objects.create(
                setup=setup,
                event_key=event_key[:255],
                event_type=event_type[:64],
                payload=payload,
                status=status,
                error=error,
            )
            return event, True
    except IntegrityError:
        return ProviderEvent.objects.get(setup=setup, event_key=event_key[:255]), False


def provider_event_receive(
    *,
    setup: Setup,
    event_type_hint: str | None,
    raw_body: bytes,
    message_ref: str | None = None,
) -> IntakeResult:
    """Record one authenticated provider delivery and dispatch it (at most once per key).

    Malformed or unparseable bodies are recorded as `failed` and not dispatched; unknown
    types are recorded as `ignored`. An event that names a line or message of another
    setup (a handler raised `ForeignReference`) is rolled back entirely and recorded as
    `rejected_foreign`. Any other handler exception propagates and rolls back the whole
    delivery, so the provider's re-delivery can succeed later. `message_ref` comes from a
    message's own status callback URL: the status update carries it, under a key of its
    own (the same status also reaches the setup's `outbound` webhook).
    """
    hint = event_type_hint or None
    try:
        body = _load_body(raw_body)
    except (ValueError, UnicodeDecodeError):
        with transaction.atomic():
            event, created = _record(
                setup=setup,
                event_key=f"malformed:{_digest(raw_body)}",
                event_type=hint or "malformed",
                payload={"unparsed_sha256": _digest(raw_body), "size": len(raw_body)},
                status=ProviderEventStatus.FAILED,
                error="Body is not valid JSON.",
            )
        logger.warning("setup %s: malformed provider webhook recorded as %s", setup.id, event.id)
        return IntakeResult(event, duplicate=not created)
    try:
        parsed: ParsedWebhook = get_adapter().parse_webhook(event_type_hint=hint, body=body)
    except WebhookParseError as exc:
        with transaction.atomic():
            event, created = _record(
                setup=setup,
                event_key=f"unparseable:{_digest(raw_body)}",
                event_type=hint or "unknown",
                # The payload column is a non-null JSON object; keep bare values inside one.
                payload=body if isinstance(body, dict) else {"body": body},
                status=ProviderEventStatus.FAILED,
                error=str(exc)[:500],
            )
        logger.warning("setup %s: unparseable provider webhook %s", setup.id, event.id)
        return IntakeResult(event, duplicate=not created)
    if message_ref is not None and isinstance(parsed.event, StatusUpdate):
        parsed = replace(
            parsed,
            event_key=f"callback:{message_ref[:64]}:{parsed.event_key}",
            event=replace(parsed.event, message_ref=message_ref[:64]),
        )
    try:
        return _record_and_dispatch(setup=setup, parsed=parsed, body=body)
    except dispatch.ForeignReference:
        # The transaction above rolled back whatever the handlers had done (rows, audit
        # entries, on_commit jobs); only the rejection itself is kept.
        with transaction.atomic():
            event, created = _record(
                setup=setup,
                event_key=parsed.event_key,
                event_type=parsed.event_type,
                payload=body,
                status=ProviderEventStatus.REJECTED_FOREIGN,
                error="The event names a line or message that belongs to another setup.",
            )
            if created:
                event.processed_at = timezone.now()
                event.save(update_fields=["processed_at"])
        logger.warning("setup %s: provider event %s rejected as foreign", setup.id, event.id)
        return IntakeResult(event, duplicate=not created)


@transaction.atomic
def _record_and_dispatch(*, setup: Setup, parsed: ParsedWebhook, body: Any) -> IntakeResult:
    event, created = _record(
        setup=setup,
        event_key=parsed.event_key,
        event_type=parsed.event_type,
        payload=body,
        status=ProviderEventStatus.RECEIVED,
    )
    if not created:
        logger.info("setup %s: duplicate provider event %s", setup.id, event.id)
        return IntakeResult(event, duplicate=True)
    handled = 0
    if not isinstance(parsed.event, UnknownEvent):
        handled = dispatch.dispatch(setup=setup, event=parsed.event, provider_event=event)
    event.status = ProviderEventStatus.PROCESSED if handled else ProviderEventStatus.IGNORED
    event.processed_at = timezone.now()
    event.save(update_fields=["status", "processed_at"])
    logger.info(
        "setup %s: provider event %s (%s) %s", setup.id, event.id, event.event_type, event.status
    )
    return IntakeResult(event, duplicate=False)


# --- dispatch handlers for our own event types -------------------------------


def _refuse_foreign_number(*, setup: Setup, number: str | None) -> None:
    from provisioning.selectors import line_number_held_elsewhere

    e164 = to_e164(number)
    if e164 is not None and line_number_held_elsewhere(setup=setup, number=e164):
        raise dispatch.ForeignReference


def handle_line_assigned(
    *, setup: Setup, event: LineAssigned, provider_event: ProviderEvent
) -> None:
    """Raises `ForeignReference` when another setup's line holds the number."""
    if event.number:
        _refuse_foreign_number(setup=setup, number=event.number)
        line_assign(setup=setup, number=event.number, line_request_id=event.line_request_id)
        return
    # No number in the body: ask the provider which line it placed, after commit.
    from provisioning.tasks import setup_reconcile_task

    setup_id = str(setup.id)
    transaction.on_commit(lambda: setup_reconcile_task.delay(setup_id))


def handle_line_blocked(*, setup: Setup, event: LineBlocked, provider_event: ProviderEvent) -> None:
    """Raises `ForeignReference` when the number is another setup's line."""
    if line_block(setup=setup, number=event.number, reason=event.reason) is None:
        _refuse_foreign_number(setup=setup, number=event.number)
