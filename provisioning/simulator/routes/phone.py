"""The simulator's handset: the person's side of the conversation (not part of the
provider API). Play the patient: text a line (1:1 or in a group), read the messages our
lines sent, mark one read, start or stop typing. Each action reaches our intake as the
webhook the provider would post.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import TYPE_CHECKING, Any

from console.phone import to_e164
from provisioning.simulator.http import HttpError, Request, RouteTable
from provisioning.simulator.records import now_iso

if TYPE_CHECKING:
    from provisioning.simulator.app import Simulator

route = RouteTable()


@route("POST", r"/phone/messages")
def phone_send(sim: Simulator, request: Request) -> tuple[int, Any]:
    data = request.json()
    errors: dict[str, list[str]] = {}
    sender = to_e164(data.get("from_number"))
    line_number = to_e164(data.get("to_number"))
    if sender is None:
        errors["from_number"] = ["Enter a valid E.164 number, e.g. +14155550199."]
    if line_number is None:
        errors["to_number"] = ["Enter a valid E.164 number, e.g. +14155550100."]
    content = data.get("content") or ""
    media_url = data.get("media_url") or ""
    if not isinstance(content, str) or not isinstance(media_url, str):
        errors["content"] = ["content and media_url must be strings"]
    elif not content and not media_url:
        errors["content"] = ["content or media_url is required"]
    others = _group_members(data.get("participants"), errors)
    if errors:
        raise HttpError(400, "Invalid phone message.", fields=errors)
    assert sender is not None and line_number is not None
    others = [n for n in others if n not in (sender, line_number)]
    if data.get("participants") is not None and not others:
        raise HttpError(
            400,
            "Invalid phone message.",
            fields={"participants": ["name at least one member besides you and the line"]},
        )
    line = sim.lines.get(line_number)
    if line is None:
        raise HttpError(404, "No provider line has that number.")
    account = sim.accounts[line.account_key]
    body = {
        "accountEmail": account.primary_email,
        "content": content,
        "is_outbound": False,
        "status": "RECEIVED",
        "error_code": None,
        "error_message": None,
        "error_reason": None,
        "error_detail": None,
        "message_handle": str(uuid.uuid4()).upper(),
        "date_sent": now_iso(),
        "date_updated": now_iso(),
        "from_number": sender,
        "number": sender,
        "to_number": line_number,
        "was_downgraded": None,
        "plan": "dedicated",
        "media_url": media_url,
        "message_type": "group" if others else "message",
        "group_id": _group_id([sender, line_number, *others]) if others else "",
        "participants": [sender, *others, line_number],
        "send_style": "",
        "opted_out": False,
        "sendblue_number": line_number,
        "service": sim.service_for(sender),
        "group_display_name": data.get("group_name") if others else None,
    }
    delivered = sim.deliver(account, "receive", body)
    return 202, {
        "status": "OK",
        "message_handle": body["message_handle"],
        "webhooks": delivered,
    }


@route("POST", r"/phone/messages/(?P<handle>[A-Za-z0-9-]+)/read")
def phone_read(sim: Simulator, request: Request, handle: str) -> tuple[int, Any]:
    message = sim.read_message(handle)
    return 200, {
        "status": "OK",
        "message_handle": handle,
        "message_status": message["status"],
    }


@route("POST", r"/phone/typing")
def phone_typing(sim: Simulator, request: Request) -> tuple[int, Any]:
    data = request.json()
    person = to_e164(data.get("from_number"))
    line_number = to_e164(data.get("to_number"))
    is_typing = data.get("is_typing", True)
    errors: dict[str, list[str]] = {}
    if person is None:
        errors["from_number"] = ["Enter a valid E.164 number, e.g. +14155550199."]
    if line_number is None:
        errors["to_number"] = ["Enter a valid E.164 number, e.g. +14155550100."]
    if not isinstance(is_typing, bool):
        errors["is_typing"] = ["true (started) or false (stopped)"]
    if errors:
        raise HttpError(400, "Invalid typing indicator.", fields=errors)
    line = sim.lines.get(line_number or "")
    if line is None:
        raise HttpError(404, "No provider line has that number.")
    account = sim.accounts[line.account_key]
    # The shape Sendblue's own adapter reads (provider contract §13).
    body = {
        "number": person,
        "is_typing": is_typing,
        "from_number": line_number,
        "timestamp": now_iso(),
    }
    delivered = sim.deliver(account, "typing_indicator", body)
    return 202, {"status": "OK", "webhooks": delivered}


@route("GET", r"/phone/messages")
def phone_inbox(sim: Simulator, request: Request) -> tuple[int, Any]:
    number = to_e164(request.query.get("number"))
    if number is None:
        raise HttpError(400, "number must be E.164", fields={"number": ["invalid"]})
    with sim.lock:
        return 200, list(sim.handsets.get(number, []))


def _group_members(raw: object, errors: dict[str, list[str]]) -> list[str]:
    """The other members of a group message (`participants`: E.164 numbers)."""
    if raw is None:
        return []
    members = [to_e164(n) for n in raw] if isinstance(raw, list) else [None]
    if not members or None in members or len(members) > 31:
        errors["participants"] = ["a list of 1-31 E.164 numbers"]
        return []
    return list(dict.fromkeys(n for n in members if n))


def _group_id(members: list[str]) -> str:
    """The same members always make the same group (like one iMessage thread)."""
    digest = hashlib.sha256(",".join(sorted(set(members))).encode()).hexdigest()
    return str(uuid.UUID(digest[:32])).upper()
