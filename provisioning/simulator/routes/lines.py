"""Line routes: order a line (a ticket), follow its request, and the lines' state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provisioning.simulator import rules
from provisioning.simulator.http import HttpError, Request, RouteTable
from provisioning.simulator.records import Line, now_iso

if TYPE_CHECKING:
    from provisioning.simulator.app import Simulator

route = RouteTable()


@route("POST", r"/accounts/lines/add-line", r"/account/lines/add-line")
def add_line(sim: Simulator, request: Request) -> tuple[int, Any]:
    account = sim.auth(request)
    data = request.json()
    rules.check_add_line(data)
    with sim.lock:
        ticket = sim.open_ticket(account, data.get("desired_area_code"))
        if sim.assign_immediately:
            number = sim.new_number()
            ticket.status, ticket.phone_number = "FULFILLED", number
            sim.lines[number] = Line(number=number, account_key=account.key_id)
    return 200, {"status": "OK", "data": ticket.wire()}


@route(
    "GET",
    r"/accounts/lines/line-request/(?P<ticket_id>\d+)",
    r"/account/lines/line-request/(?P<ticket_id>\d+)",
)
def line_request(sim: Simulator, request: Request, ticket_id: str) -> tuple[int, Any]:
    account = sim.auth(request)
    ticket = sim.tickets.get(int(ticket_id))
    if ticket is None or ticket.account_key != account.key_id:
        raise HttpError(404, rules.LINE_REQUEST_NOT_FOUND)
    return 200, {"status": "OK", "data": ticket.wire()}


@route("GET", r"/api/v2/lines/state")
def lines_state(sim: Simulator, request: Request) -> tuple[int, Any]:
    account = sim.auth(request)
    entries = [
        {
            "worker_id": f"w-{line.number[-4:]}",
            "sendblue_number": line.number,
            "assignment": "assigned",
            "status": line.status,
            "degraded_since": None,
            "effective_until": None,
            "status_changed_at": now_iso(),
        }
        for line in sim.lines.values()
        if line.account_key == account.key_id
    ]
    return 200, {"status": "OK", "snapshot_at": now_iso(), "data": entries}
