"""The chaos drill's verdict: what it observed, checked against the promises of issue 12."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOKEN_PREFIX = "chaos-text-"
# Every patient text and agent reply carries one; it must never show up in a log.
TOKEN = re.compile(r"chaos-text-[0-9a-f]{16}")


@dataclass
class Reply:
    """One agent reply as the client saw it (retried with one Idempotency-Key)."""

    token: str
    patient: str
    key: str
    message_id: str | None = None
    status: int | None = None
    attempts: int = 0


@dataclass
class Observed:
    inbound: list[tuple[str, str]]  # (token, patient) the provider accepted
    replies: list[Reply]
    messages: list[dict[str, Any]]  # rows of messaging_message carrying a token
    events: list[dict[str, Any]]  # the receiver's verified deliveries (ids only)
    handset: Counter[str]  # token -> times on a patient's phone
    log_hits: dict[str, int]  # log name -> tokens found
    receiver_stats: dict[str, int]
    unexpected_exits: dict[str, int]
    unsettled: dict[str, int]


def scan_logs(folder: Path) -> dict[str, int]:
    """How many patient texts (tokens) each process log holds."""
    return {
        path.stem: len(TOKEN.findall(path.read_text(errors="replace")))
        for path in sorted(folder.glob("*.log"))
    }


def evaluate(seen: Observed) -> dict[str, dict[str, Any]]:
    """One entry per invariant: `passed` plus the counts and up to 20 violating tokens."""
    by_token: dict[str, list[dict[str, Any]]] = {}
    for message in seen.messages:
        found = TOKEN.search(message["content"] or "")
        if found:
            by_token.setdefault(found.group(0), []).append(message)
    received = {e["message_id"] for e in seen.events if e["event_type"] == "imessage.received"}
    reported_failed = {
        e["message_id"] for e in seen.events if e["event_type"] == "imessage.delivery_failed"
    }
    accepted = [r for r in seen.replies if r.message_id is not None]

    inbound_bad = [
        token
        for token, _ in seen.inbound
        if len(by_token.get(token, [])) != 1 or by_token[token][0]["id"] not in received
    ]
    reply_bad: list[str] = []
    delivered_reported_failed: list[str] = []
    for reply in seen.replies:
        rows = by_token.get(reply.token, [])
        on_phone = seen.handset[reply.token]
        if reply.message_id is None:
            # Never accepted: still never on the phone twice, never stored twice.
            if on_phone > 1 or len(rows) > 1:
                reply_bad.append(reply.token)
            continue
        if len(rows) != 1 or rows[0]["id"] != reply.message_id or on_phone > 1:
            reply_bad.append(reply.token)
            continue
        row = rows[0]
        if on_phone == 1 and (row["status"] == "error" or row["id"] in reported_failed):
            delivered_reported_failed.append(reply.token)
        if on_phone == 0 and not (row["status"] == "error" and row["error_reason"]):
            reply_bad.append(reply.token)

    hits = {name: count for name, count in seen.log_hits.items() if count}
    stats = seen.receiver_stats
    exits = {name: count for name, count in seen.unexpected_exits.items() if count}
    return {
        "inbound_stored_once_and_delivered": {
            "passed": not inbound_bad,
            "accepted": len(seen.inbound),
            "violations": inbound_bad[:20],
        },
        "replies_on_handset_once_or_failed_with_reason_never_sent": {
            "passed": not reply_bad,
            "accepted": len(accepted),
            "on_handset": sum(1 for r in accepted if seen.handset[r.token] == 1),
            "failed_with_reason": sum(
                1
                for r in accepted
                if by_token.get(r.token) and by_token[r.token][0]["status"] == "error"
            ),
            "not_accepted_by_the_api": len(seen.replies) - len(accepted),
            "violations": reply_bad[:20],
        },
        "no_delivered_message_reported_failed": {
            "passed": not delivered_reported_failed,
            "violations": delivered_reported_failed[:20],
        },
        "nothing_left_queued_or_sending": {"passed": not seen.unsettled, "left": seen.unsettled},
        "no_patient_text_in_any_log": {
            "passed": not hits,
            "hits_per_log": hits,
            "logs_scanned": sorted(seen.log_hits),
        },
        "every_webhook_signature_valid": {
            "passed": stats.get("invalid", 0) == 0 and stats.get("verified", 0) > 0,
            **stats,
        },
        "no_process_died_unasked": {"passed": not exits, "unexpected_exits": exits},
    }
