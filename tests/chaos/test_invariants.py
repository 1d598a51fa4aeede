"""The drill's verdict fails on each kind of broken promise (no stack needed)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.chaos.invariants import Observed, Reply, evaluate

IN, OUT = "chaos-text-00000000000000a1", "chaos-text-00000000000000b2"


def healthy(**changes: Any) -> Observed:
    seen = Observed(
        inbound=[(IN, "+14157770000")],
        replies=[Reply(token=OUT, patient="+14157770000", key="k1", message_id="m-out")],
        messages=[
            {
                "id": "m-in",
                "direction": "inbound",
                "content": f"Patient says {IN}",
                "send_state": None,
                "status": "received",
                "error_reason": None,
            },
            {
                "id": "m-out",
                "direction": "outbound",
                "content": f"Agent replies {OUT}",
                "send_state": "sent",
                "status": "delivered",
                "error_reason": None,
            },
        ],
        events=[
            {"event_id": "evt_1", "event_type": "imessage.received", "message_id": "m-in"},
            {"event_id": "evt_2", "event_type": "imessage.delivered", "message_id": "m-out"},
        ],
        handset=Counter({OUT: 1}),
        log_hits={"web": 0, "worker": 0},
        receiver_stats={"verified": 2, "invalid": 0, "refused": 0},
        unexpected_exits={"worker": 0},
        unsettled={},
    )
    for name, value in changes.items():
        setattr(seen, name, value)
    return seen


def failed(seen: Observed) -> set[str]:
    return {name for name, result in evaluate(seen).items() if not result["passed"]}


def test_a_healthy_run_passes_every_invariant() -> None:
    assert failed(healthy()) == set()


def test_an_inbound_text_stored_twice_fails() -> None:
    seen = healthy()
    seen.messages.append({**seen.messages[0], "id": "m-in-2"})
    assert failed(seen) == {"inbound_stored_once_and_delivered"}


def test_an_inbound_text_never_delivered_to_the_agent_fails() -> None:
    assert failed(healthy(events=[])) == {"inbound_stored_once_and_delivered"}


def test_a_reply_on_the_handset_twice_fails() -> None:
    assert failed(healthy(handset=Counter({OUT: 2}))) == {
        "replies_on_handset_once_or_failed_with_reason_never_sent"
    }


def test_a_reply_neither_on_the_handset_nor_failed_with_a_reason_fails() -> None:
    assert failed(healthy(handset=Counter())) == {
        "replies_on_handset_once_or_failed_with_reason_never_sent"
    }


def test_a_reply_that_failed_with_a_reason_and_never_left_passes() -> None:
    seen = healthy(handset=Counter())
    seen.messages[1].update(status="error", send_state="failed", error_reason="provider down")
    assert failed(seen) == set()


def test_a_delivered_reply_reported_failed_fails() -> None:
    seen = healthy()
    seen.events.append(
        {"event_id": "evt_3", "event_type": "imessage.delivery_failed", "message_id": "m-out"}
    )
    assert failed(seen) == {"no_delivered_message_reported_failed"}


def test_a_delivered_reply_stored_as_error_fails() -> None:
    seen = healthy()
    seen.messages[1].update(status="error", error_reason="outcome_unknown")
    assert failed(seen) == {"no_delivered_message_reported_failed"}


def test_anything_still_queued_or_sending_fails() -> None:
    assert failed(healthy(unsettled={"outbound_queued_or_sending": 1})) == {
        "nothing_left_queued_or_sending"
    }


def test_a_patient_text_in_a_log_fails() -> None:
    assert failed(healthy(log_hits={"web": 0, "worker": 1})) == {"no_patient_text_in_any_log"}


def test_an_invalid_signature_fails() -> None:
    stats = {"verified": 2, "invalid": 1, "refused": 0}
    assert failed(healthy(receiver_stats=stats)) == {"every_webhook_signature_valid"}


def test_a_process_that_died_unasked_fails() -> None:
    assert failed(healthy(unexpected_exits={"worker": 1})) == {"no_process_died_unasked"}
