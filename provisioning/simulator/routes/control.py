"""Operator controls (not part of the provider API): assign or block a line, make sends
slow, take iMessage away from a number, and an outage drill; plus the state for tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from console.phone import to_e164
from provisioning.simulator.http import HttpError, Request, RouteTable

if TYPE_CHECKING:
    from provisioning.simulator.app import Simulator

route = RouteTable()


@route("POST", r"/control/lines/(?P<request_id>\d+)/assign")
def control_assign(sim: Simulator, request: Request, request_id: str) -> tuple[int, Any]:
    number = request.json().get("number")
    if number is not None and to_e164(number) is None:
        raise HttpError(400, "number must be E.164", fields={"number": ["invalid"]})
    ticket = sim.assign_ticket(int(request_id), to_e164(number) if number else None)
    return 200, {"status": "OK", "data": ticket.wire()}


@route("POST", r"/control/lines/(?P<number>\+\d+)/block")
def control_block(sim: Simulator, request: Request, number: str) -> tuple[int, Any]:
    line = sim.block_line(number, request.json().get("reason"))
    return 200, {"status": "OK", "number": line.number, "line_status": line.status}


@route("POST", r"/control/slow-sends")
def control_slow_sends(sim: Simulator, request: Request) -> tuple[int, Any]:
    seconds = request.json().get("seconds")
    if not isinstance(seconds, int | float) or not 0 <= seconds <= 600:
        raise HttpError(400, "seconds must be a number from 0 to 600")
    sim.send_answer_delay = float(seconds)
    return 200, {"status": "OK", "seconds": sim.send_answer_delay}


@route("POST", r"/control/sms-only")
def control_sms_only(sim: Simulator, request: Request) -> tuple[int, Any]:
    return 200, _fall_back(sim, request, "SMS")


@route("POST", r"/control/rcs-only")
def control_rcs_only(sim: Simulator, request: Request) -> tuple[int, Any]:
    return 200, _fall_back(sim, request, "RCS")


@route("POST", r"/control/outage")
def control_outage(sim: Simulator, request: Request) -> tuple[int, Any]:
    seconds = request.json().get("seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        raise HttpError(400, "seconds must be a number >= 0", fields={"seconds": ["invalid"]})
    with sim.lock:
        sim.outage_until = sim.clock() + float(seconds)
    return 200, {"status": "OK", "outage_seconds": float(seconds)}


@route("GET", r"/control/state")
def control_state(sim: Simulator, request: Request) -> tuple[int, Any]:
    return 200, {
        "lines": [vars(line) for line in sim.lines.values()],
        "tickets": [t.wire() for t in sim.tickets.values()],
        "reactions": list(sim.reactions),
        "pending_jobs": sim.pending_jobs(),
        "outage_seconds_left": max(0.0, sim.outage_until - sim.clock()),
    }


def _fall_back(sim: Simulator, request: Request, service: str) -> dict[str, Any]:
    """Traffic with the number falls back to `service` (it has no iMessage)."""
    number = to_e164(request.json().get("number"))
    if number is None:
        raise HttpError(400, "number must be E.164", fields={"number": ["invalid"]})
    with sim.lock:
        sim.fallback[number] = service
    return {"status": "OK", "number": number, "service": service}
