"""Agency and account routes: child accounts (agency credentials) and each account's
webhook registrations."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from provisioning.simulator import rules
from provisioning.simulator.http import HttpError, Request, RouteTable
from provisioning.simulator.records import Account, Line, Ticket

if TYPE_CHECKING:
    from provisioning.simulator.app import Simulator

route = RouteTable()


@route("POST", r"/accounts/lines/request-child-account", r"/request-child-account")
def child_account(sim: Simulator, request: Request) -> tuple[int, Any]:
    sim.auth(request, agency=True)
    data = request.json()
    rules.check_child_account(data, current_path=request.path.startswith("/accounts/"))
    company = data["company_name"]
    email_addr = data["primary_email"]
    with sim.lock:
        if any(a.primary_email == email_addr for a in sim.accounts.values()):
            raise HttpError(400, rules.DUPLICATE_EMAIL)
        child = Account(
            key_id=f"sim_k_{secrets.token_hex(8)}",
            secret=f"sim_s_{secrets.token_hex(16)}",
            company_name=company,
            primary_email=email_addr,
        )
        sim.accounts[child.key_id] = child
        number: str | None = None
        ticket: Ticket | None = None
        provision = data.get("provision_line", True) is not False
        if provision and sim.assign_immediately:
            number = sim.new_number()
            sim.lines[number] = Line(number=number, account_key=child.key_id)
        elif provision:
            ticket = sim.open_ticket(child, data.get("desired_area_code"))
    line_status = "none" if not provision else ("assigned" if number else "pending")
    return 200, {
        "status": "OK",
        "data": {
            "company_name": company,
            "api_key": child.key_id,
            "api_secret": child.secret,
            "assigned_number": number,
            "line_status": line_status,
            "line_request_id": ticket.id if ticket else None,
        },
    }


@route("GET", r"/api/account/webhooks", r"/api/v2/account/webhooks")
def webhooks_get(sim: Simulator, request: Request) -> tuple[int, Any]:
    account = sim.auth(request)
    return 200, {"status": "OK", "webhooks": _webhooks_wire(account)}


@route("POST", r"/api/account/webhooks", r"/api/v2/account/webhooks")
def webhooks_add(sim: Simulator, request: Request) -> tuple[int, Any]:
    account = sim.auth(request)
    data = request.json()
    hooks = rules.check_webhooks_add(data)
    with sim.lock:
        account.webhooks.setdefault(data.get("type") or "receive", []).extend(hooks)
        if isinstance(data.get("globalSecret"), str):
            account.global_secret = data["globalSecret"]
    return 200, {
        "status": "OK",
        "message": "Webhooks added successfully",
        "webhooks": _webhooks_wire(account),
    }


@route("PUT", r"/api/account/webhooks", r"/api/v2/account/webhooks")
def webhooks_put(sim: Simulator, request: Request) -> tuple[int, Any]:
    account = sim.auth(request)
    data = request.json().get("webhooks")
    if not isinstance(data, dict):
        raise HttpError(400, "webhooks must be an object")
    with sim.lock:
        account.global_secret = str(data.get("globalSecret") or "")
        account.webhooks = {
            t: [rules.webhook_entry(h) for h in hooks]
            for t, hooks in data.items()
            if t in rules.WEBHOOK_TYPES and isinstance(hooks, list)
        }
    return 200, {"status": "OK", "webhooks": _webhooks_wire(account)}


@route("DELETE", r"/api/account/webhooks", r"/api/v2/account/webhooks")
def webhooks_delete(sim: Simulator, request: Request) -> tuple[int, Any]:
    account = sim.auth(request)
    data = request.json()
    urls = set(data.get("webhooks") or [])
    with sim.lock:
        hooks = account.webhooks.get(data.get("type") or "receive", [])
        hooks[:] = [h for h in hooks if h["url"] not in urls]
    return 200, {"status": "OK", "message": "Webhooks deleted successfully"}


def _webhooks_wire(account: Account) -> dict[str, Any]:
    # Secrets are write-only here too, like at the real provider's UI.
    wire: dict[str, Any] = {
        t: [{"url": h["url"]} for h in hooks] for t, hooks in account.webhooks.items()
    }
    wire["globalSecret"] = "********" if account.global_secret else ""
    return wire
