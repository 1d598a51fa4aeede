"""Recording provider events: parse, store at most once per provider key, dispatch."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, replace
from typing import Any

from django.db import transaction
from django.utils import timezone

from provisioning import dispatch, providers
from provisioning.models import ProviderEvent, ProviderEventStatus, Setup
from provisioning.providers.base import ParsedWebhook, StatusUpdate, UnknownEvent, WebhookParseError
from provisioning.services.event_records import EventRecord

logger = logging.getLogger(__name__)


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
    if _clean_already(raw_body):
        return body
    return _clean(body)


def _clean_already(raw_body: bytes) -> bool:
    """Whether `_clean` would answer the parsed body unchanged, told from the raw bytes.
    UTF-8 JSON writes a NUL character only as its `u0000` escape (a raw one does not
    parse; a body with a zero byte may be UTF-16 or UTF-32, and is cleaned), and it cannot
    nest more containers than it opens. A provider body opens two or three."""
    opened = raw_body.count(b"{") + raw_body.count(b"[")
    return opened <= MAX_BODY_DEPTH and b"\\u0000" not in raw_body and b"\x00" not in raw_body


def _record(**fields: Any) -> tuple[ProviderEvent, bool]:
    """Store the record `EventRecord.of(**fields)` once per (setup, key); (the stored row,
    whether this call stored it)."""
    record = EventRecord.of(**fields)
    stored = record.store()
    return record.row, stored


def _record_parsed(
    setup: Setup, parsed: ParsedWebhook, body: Any, status: str, **fields: Any
) -> tuple[ProviderEvent, bool]:
    """`_record` for a parsed delivery: its own key and type, the body as sent (`fields`:
    `error`, `processed_at`)."""
    return _record(
        setup=setup,
        event_key=parsed.event_key,
        event_type=parsed.event_type,
        payload=body,
        status=status,
        **fields,
    )


def provider_event_receive(
    *,
    setup: Setup,
    event_type_hint: str | None,
    raw_body: bytes,
    message_ref: str | None = None,
) -> IntakeResult:
    """Record one authenticated provider delivery and dispatch it (acted on at most once
    per key: a handler that stores the record itself does so before its first write).

    Malformed or unparseable bodies are recorded as `failed` and not dispatched; unknown
    types are recorded as `ignored`. An event that names a line or message of another
    setup (a handler raised `ForeignReference`) is rolled back entirely and recorded as
    `rejected_foreign`. Any other handler exception propagates and rolls back the
    delivery's transaction, so the provider's re-delivery can succeed later (a connected
    person's message commits with its one statement, which stores everything at once).
    `message_ref` comes from a message's own status callback URL: the status update
    carries it, under a key of its own (the same status also reaches the setup's
    `outbound` webhook).
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
        parsed: ParsedWebhook = providers.get_adapter().parse_webhook(
            event_type_hint=hint, body=body
        )
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
    event_class = type(parsed.event)
    handled = not isinstance(parsed.event, UnknownEvent) and bool(
        dispatch.handlers_for(event_class)
    )
    record = EventRecord.of(
        setup=setup,
        event_key=parsed.event_key,
        event_type=parsed.event_type,
        payload=body,
        status=ProviderEventStatus.PROCESSED if handled else ProviderEventStatus.IGNORED,
        processed_at=timezone.now(),
    )
    try:
        if handled and dispatch.handler_records(event_class):
            # The handler opens its transaction and stores the record in it before its
            # first write, or stores it with its only write, one statement.
            dispatch.dispatch(setup=setup, event=parsed.event, record=record)
            record.store()
        else:
            _record_and_dispatch(setup=setup, event=parsed.event, record=record, handled=handled)
    except dispatch.ForeignReference:
        return _rejected_foreign(setup=setup, parsed=parsed, body=body, record=record)
    event = record.row
    if not record.stored:
        logger.info("setup %s: duplicate provider event %s", setup.id, event.id)
        return IntakeResult(event, duplicate=True)
    logger.info(
        "setup %s: provider event %s (%s) %s", setup.id, event.id, event.event_type, event.status
    )
    return IntakeResult(event, duplicate=False)


@transaction.atomic
def _record_and_dispatch(*, setup: Setup, event: Any, record: EventRecord, handled: bool) -> None:
    # The row is written in its final state at once (one statement, no UPDATE after the
    # handlers): its unique key is what makes a concurrent re-delivery wait and then stop,
    # nobody sees it before the commit, and a handler failure rolls it back with the rest.
    if record.store() and handled:
        dispatch.dispatch(setup=setup, event=event, record=record)


def _rejected_foreign(
    *, setup: Setup, parsed: ParsedWebhook, body: Any, record: EventRecord
) -> IntakeResult:
    """Record a delivery whose handler raised `ForeignReference`. Its transaction rolled
    back whatever the handlers had done (rows, audit entries, on_commit jobs): only the
    rejection is kept. A handler's one statement may have stored the record on its own
    and found the message's handle taken by another setup's delivery just then (it
    stored nothing else): that record becomes the rejection."""
    error = "The event names a line or message that belongs to another setup."
    now = timezone.now()
    with transaction.atomic():
        # By its key too: a rolled-back insert's id may be handed out again (SQLite).
        marked = bool(record.stored) and ProviderEvent.objects.filter(
            pk=record.row.pk,
            setup_id=record.row.setup_id,
            event_key=record.row.event_key,
            status=ProviderEventStatus.PROCESSED,
        ).update(status=ProviderEventStatus.REJECTED_FOREIGN, error=error, processed_at=now)
        if marked:
            event, created = ProviderEvent.objects.get(pk=record.row.pk), True
        else:
            event, created = _record_parsed(
                setup,
                parsed,
                body,
                ProviderEventStatus.REJECTED_FOREIGN,
                error=error,
                processed_at=now,
            )
    if created:
        logger.warning("setup %s: provider event %s rejected as foreign", setup.id, event.id)
    return IntakeResult(event, duplicate=not created)
