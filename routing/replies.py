"""What the router says to people, and the agent's contact card.

Reply texts are module constants so tests compare them byte for byte. The generic reply is
the same for an unknown handle, a disabled identity and a blocked person, so nobody can
probe which handles exist or learn that they are blocked.
"""

from __future__ import annotations

from console.models import AgentIdentity
from provisioning.models import PhoneLine
from routing import hooks

GENERIC_REPLY = "We couldn't connect you with that name. Check the spelling and send: connect @name"
HELP_REPLY = (
    "To reach an agent, send: connect @name (for example: connect @nurse-bot). "
    "To end a conversation, send disconnect in that conversation."
)
CONNECTED_REPLY = (
    "You're connected with {display_name}. Reply here to talk. "
    "Send disconnect here to end the conversation."
)
POOL_EXHAUSTED_REPLY = (
    "You're already connected to as many agents as we can carry at once. "
    "Send disconnect in one of those conversations, then try again."
)
POOL_BUSY_REPLY = "We can't start a new conversation right now. Please try again later."
DISCONNECTED_REPLY = (
    "You're disconnected. To reach an agent again, send connect @name to our main number."
)

VCARD_CONTENT_TYPE = "text/vcard"


def connected_text(identity: AgentIdentity) -> str:
    return CONNECTED_REPLY.format(display_name=identity.display_name or identity.handle)


# Line breaks of any kind become the escaped newline; every other control character
# (C0, DEL, C1) is dropped: RFC 6350 has no escape for them, and a bare CR would end the
# property for some parsers and let a display name add properties of its own.
_LINE_BREAKS = ("\r\n", "\r", "\n", "\u0085", "\u2028", "\u2029")
_CONTROL = {c: None for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)]}
# RFC 6350 §3.2: lines longer than 75 octets SHOULD be folded (CRLF then one space).
VCARD_LINE_OCTETS = 75


def _vcard_escape(value: str) -> str:
    """A text value per RFC 6350 §3.4: backslash, comma and semicolon escaped, line
    breaks as `\\n`, other control characters removed."""
    value = value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
    for line_break in _LINE_BREAKS:
        value = value.replace(line_break, "\\n")
    return value.translate(_CONTROL)


def _vcard_fold(line: str) -> list[str]:
    """Split a content line into physical lines of at most 75 octets (continuations start
    with a space), never inside a UTF-8 sequence."""
    physical: list[str] = []
    current, size = "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        limit = VCARD_LINE_OCTETS if not physical else VCARD_LINE_OCTETS - 1
        if size + width > limit:
            physical.append(current)
            current, size = "", 0
        current += char
        size += width
    physical.append(current)
    return [physical[0], *(" " + rest for rest in physical[1:])]


def vcard_text(*, display_name: str, number: str) -> str:
    name = _vcard_escape(display_name)
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        f"FN:{name}",
        f"N:;{name};;;",
        f"TEL;TYPE=CELL:{_vcard_escape(number)}",
        "END:VCARD",
    ]
    return "\r\n".join(part for line in lines for part in _vcard_fold(line)) + "\r\n"


def contact_card_url(*, identity: AgentIdentity, line: PhoneLine) -> str:
    """Host the identity's vCard for this pool line and return its absolute URL.

    Hosted by messaging's media store behind a signed URL that lives for
    MEDIA_PROVIDER_URL_TTL_SECONDS, so the provider can fetch it when the reply goes out. The card
    is rendered on every connect so a renamed agent's card stays current; identical
    cards are stored once. The URL ends in `.vcf`, as the provider requires for media.
    """
    assert line.number is not None
    body = vcard_text(display_name=identity.display_name or identity.handle, number=line.number)
    return hooks.media_publish(
        organization_id=identity.organization_id,
        filename="contact.vcf",
        content_type=VCARD_CONTENT_TYPE,
        body=body.encode("utf-8"),
    )
