"""Message routes: send, status, the message list, the service lookup, typing, mark-read,
tapbacks, and media (upload by URL or file, and the public media URLs)."""

from __future__ import annotations

import email.parser
import email.policy
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from console.phone import to_e164
from provisioning.simulator import rules
from provisioning.simulator.http import HttpError, Request, RouteTable
from provisioning.simulator.message_query import InvalidFilter, MessageQuery
from provisioning.simulator.records import now_iso

if TYPE_CHECKING:
    from provisioning.simulator.app import Simulator

route = RouteTable()


@route("POST", r"/api/send-message")
def send_message(sim: Simulator, request: Request) -> tuple[int, Any]:
    account = sim.auth(request)
    data = request.json()
    to_number = rules.check_send(data)
    line = sim.own_line(account, data.get("from_number"))
    content = data.get("content") or ""
    media_url = data.get("media_url") or ""
    handle = str(uuid.uuid4())
    message = {
        "accountEmail": account.primary_email,
        "content": content,
        "is_outbound": True,
        "status": "QUEUED",
        "error_code": None,
        "error_message": None,
        "message_handle": handle,
        "date_sent": now_iso(),
        "date_updated": now_iso(),
        "from_number": line.number,
        "number": to_number,
        "to_number": to_number,
        "sendblue_number": line.number,
        "was_downgraded": None,
        "service": sim.service_for(to_number),
        "plan": "dedicated",
        "media_url": media_url,
        "send_style": data.get("send_style") or "",
        "message_type": "message",
    }
    with sim.lock:
        sim.messages[handle] = message
    callback = data.get("status_callback")
    if callback:
        with sim.lock:
            sim.callbacks[handle] = callback
    sim.progress(account, message, failed=line.status == "OFFLINE")
    if sim.send_answer_delay > 0:
        # Accepted and progressing, but the caller waits: a slow provider.
        time.sleep(sim.send_answer_delay)
    return 200, dict(message)


@route("GET", r"/api/status")
def message_status(sim: Simulator, request: Request) -> tuple[int, Any]:
    sim.auth(request)
    message = sim.messages.get(rules.check_status_lookup(request.query.get("handle")))
    if message is None:
        raise HttpError(404, "Message not found.")
    return 200, dict(message)


@route("GET", r"/api/v2/messages")
def messages_list(sim: Simulator, request: Request) -> tuple[int, Any]:
    account = sim.auth(request)
    try:
        query = MessageQuery.parse(request.query)
    except InvalidFilter as exc:
        raise HttpError(400, str(exc)) from None
    with sim.lock:
        own = [
            dict(m) for m in sim.messages.values() if m.get("accountEmail") == account.primary_email
        ]
    matching = sorted(
        (m for m in own if query.matches(m)),
        key=lambda m: str(m.get(query.order_key) or ""),
        reverse=query.descending,
    )
    page = matching[query.offset : query.offset + query.limit]
    return 200, {
        "status": "OK",
        "data": page,
        "pagination": {
            "hasMore": query.offset + len(page) < len(matching),
            "limit": query.limit,
            "offset": query.offset,
            "total": len(matching),
        },
    }


@route("GET", r"/api/evaluate-service")
def evaluate_service(sim: Simulator, request: Request) -> tuple[int, Any]:
    sim.auth(request)
    number = to_e164(request.query.get("number"))
    if number is None:
        raise HttpError(400, "You must specify a valid `number`.")
    return 200, {
        "number": number,
        # The lookup answers iMessage or SMS only (provider contract §16).
        "service": "iMessage" if number not in sim.fallback else "SMS",
    }


@route("POST", r"/api/send-typing-indicator")
def typing(sim: Simulator, request: Request) -> tuple[int, Any]:
    data = _from_own_line(sim, request, rules.check_typing)
    return 200, {"number": data["number"], "status": "SENT", "error_message": None}


@route("POST", r"/api/mark-read")
def mark_read(sim: Simulator, request: Request) -> tuple[int, Any]:
    data = _from_own_line(sim, request, rules.check_mark_read)
    return 200, {
        "status": "OK",
        "message": "Mark read request sent",
        "number": data["number"],
    }


@route("POST", r"/api/send-reaction")
def send_reaction(sim: Simulator, request: Request) -> tuple[int, Any]:
    data = _from_own_line(sim, request, rules.check_reaction)
    part = data.get("part_index", 0)
    with sim.lock:
        sim.reactions.append(
            {
                "from_number": data["from_number"],
                "message_handle": data["message_handle"],
                "reaction": data["reaction"],
                "part_index": part,
                "date_sent": now_iso(),
            }
        )
    return 200, {
        "status": "OK",
        "message": "Reaction request sent",
        "message_handle": data["message_handle"],
        "reaction": data["reaction"],
    }


@route("POST", r"/api/upload-media-object")
def upload_media_object(sim: Simulator, request: Request) -> tuple[int, Any]:
    sim.auth(request)
    source = rules.check_upload_media_object(request.json())
    try:
        response = sim.deliver_client.get(source)
        response.raise_for_status()
    except httpx.HTTPError:
        raise HttpError(400, "Could not download media_url") from None
    media_id = sim.store_media(
        response.headers.get("content-type", "application/octet-stream"), response.content
    )
    return 200, {
        "status": "OK",
        "message": "Media object created",
        "mediaObjectId": media_id,
        "media_url": f"{sim.public_url}/media/{media_id}",
    }


@route("POST", r"/api/upload-file")
def upload_file(sim: Simulator, request: Request) -> tuple[int, Any]:
    sim.auth(request)
    content_type, data = _multipart_file(request)
    media_id = sim.store_media(content_type, data)
    return 201, {
        "status": "OK",
        "message": "File uploaded",
        "media_url": f"{sim.public_url}/media/{media_id}",
        "mediaObjectId": media_id,
    }


@route("GET", r"/media/(?P<media_id>[A-Za-z0-9_-]+)")
def media(sim: Simulator, request: Request, media_id: str) -> tuple[int, Any]:
    item = sim.media.get(media_id)
    if item is None:
        raise HttpError(404, "Media not found.")
    return 200, item


def _from_own_line(
    sim: Simulator, request: Request, check: Callable[[dict[str, Any]], object]
) -> dict[str, Any]:
    """The body of a call made from one of the caller's own lines, checked by `check`
    (the caller's credentials first, then the body, then the line)."""
    account = sim.auth(request)
    data = request.json()
    check(data)
    sim.own_line(account, data.get("from_number"))
    return data


def _multipart_file(request: Request) -> tuple[str, bytes]:
    if not request.content_type.startswith("multipart/form-data"):
        raise HttpError(400, "Send multipart/form-data with a `file` field.")
    raw = f"Content-Type: {request.content_type}\r\n\r\n".encode() + request.body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return part.get_content_type(), payload if isinstance(payload, bytes) else b""
    raise HttpError(400, "The `file` field is missing.")
