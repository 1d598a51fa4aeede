"""Consent: STOP, START and HELP texted by a person, opt-outs staff record, and the check
every send makes.

A message whose whole text (trimmed, case-insensitive) is a keyword is answered from the
line it came in on through routing's reply outbox. An opt-out applies to the identity the
line carries for that person (the router line: to the router itself). Every change is a
`ConsentEvent` (the append-only ledger) written with the `OptOut` row that holds the
current state, in one transaction.

Message text never goes to logs: log ids only.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q

from console.db.inserts import insert_unique
from console.db.prepared import PreparedQuery
from console.errors import Forbidden
from console.models import AgentIdentity
from console.services import Actor, audit_record
from messaging.models import ConsentEvent, ConsentKind, ConsentSource, Message, OptOut
from messaging.services import common
from provisioning.models import PhoneLine
from routing.models import ReplyKind

logger = logging.getLogger(__name__)

OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT OUT"}
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "SUBSCRIBE"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})

OPTED_OUT_REPLY = "You will not get more messages from {display_name}. Reply START to resume."
OPTED_IN_REPLY = "You will get messages from {display_name} again. Reply STOP to stop them."
DEFAULT_HELP_TEXT = (
    "{display_name}: reply STOP to stop these messages, START to get them again. "
    "For anything urgent, call your clinic."
)
# How the confirmations name the router line, which carries no identity.
ROUTER_NAME = "this number"
RECIPIENT_OPTED_OUT = (
    "This person opted out of messages from this identity (they texted STOP or asked "
    "staff). Nothing was sent; they can opt back in by texting START."
)
CONSENT_EVENT_TYPES: dict[str, str] = {
    ConsentKind.OPT_OUT: "imessage.opted_out",
    ConsentKind.OPT_IN: "imessage.opted_in",
}
KEYWORD_ACTOR = Actor(type="system", id="", label="person (consent keyword)")


@dataclass(frozen=True)
class Keyword:
    kind: str  # "opt_out" | "opt_in" | "help"
    word: str


def keyword_of(text: str | None) -> Keyword | None:
    """The consent keyword `text` is in full (trimmed, case and inner spacing ignored)."""
    word = " ".join((text or "").split()).upper()
    if word in OPT_OUT_KEYWORDS:
        return Keyword(ConsentKind.OPT_OUT, word)
    if word in OPT_IN_KEYWORDS:
        return Keyword(ConsentKind.OPT_IN, word)
    if word in HELP_KEYWORDS:
        return Keyword("help", word)
    return None


def _scope_q(identity: AgentIdentity | None, number: str) -> Q:
    return (
        Q(identity=identity, remote_number=number)
        if identity
        else Q(identity__isnull=True, remote_number=number)
    )


# Connects, reactions, deliveries and the sends whose conversation was read without its
# checks ask: compiled once per process.
_IDENTITY_OPT_OUT = PreparedQuery(
    OptOut,
    lambda *, identity_id, number: OptOut.objects.filter(
        identity_id=identity_id, remote_number=number
    ).values("pk")[:1],
    identity_id=uuid.UUID,
    number=str,
)
# Every message to the router line asks.
_ROUTER_OPT_OUT = PreparedQuery(
    OptOut,
    lambda *, number: OptOut.objects.filter(identity__isnull=True, remote_number=number).values(
        "pk"
    )[:1],
    number=str,
)


def is_opted_out(*, identity: AgentIdentity | None, number: str) -> bool:
    """Whether `number` opted out of `identity` (None: of the router)."""
    if identity is not None:
        return bool(_IDENTITY_OPT_OUT.rows(identity_id=identity.pk, number=number))
    return bool(_ROUTER_OPT_OUT.rows(number=number))


def send_check(*, identity: AgentIdentity, number: str, opted_out: bool | None = None) -> None:
    """Raise 403 `recipient_opted_out` when the person opted out of the identity
    (`opted_out`: as the caller already read it)."""
    if opted_out is None:
        opted_out = is_opted_out(identity=identity, number=number)
    if opted_out:
        raise Forbidden(RECIPIENT_OPTED_OUT, code="recipient_opted_out")


def _display_name(identity: AgentIdentity | None) -> str:
    if identity is None:
        return ROUTER_NAME
    return identity.display_name or identity.handle


def help_text(identity: AgentIdentity) -> str:
    return identity.consent_help_text or DEFAULT_HELP_TEXT.format(
        display_name=_display_name(identity)
    )


@transaction.atomic
def consent_change(
    *,
    kind: str,
    identity: AgentIdentity | None,
    number: str,
    source: str,
    actor: Actor,
    keyword: str = "",
    operator: Any = None,
    message: Message | None = None,
    line: PhoneLine | None = None,
    reason: str = "",
) -> ConsentEvent:
    """Append the event and bring the current state (`OptOut`) in line with it; audited
    in the identity's organisation (router changes belong to none)."""
    organization_id = identity.organization_id if identity else None
    event = ConsentEvent.objects.create(
        organization_id=organization_id,
        identity=identity,
        remote_number=number,
        kind=kind,
        source=source,
        keyword=keyword,
        operator=operator,
        operator_label=actor.label if source == ConsentSource.OPERATOR else "",
        source_message=message,
        line=line,
        reason=reason,
    )
    current = OptOut.objects.filter(_scope_q(identity, number))
    if kind == ConsentKind.OPT_OUT:
        if not current.exists():
            # A concurrent opt-out of the same person may win the unique constraint: fine.
            insert_unique(
                OptOut,
                organization_id=organization_id,
                identity=identity,
                remote_number=number,
                event=event,
                created_at=event.created_at,
            )
    else:
        current.delete()
    if identity is not None:
        audit_record(
            organization=identity.organization,
            actor=actor,
            action=f"consent.{kind}",
            obj=event,
            after={
                "identity": identity.handle,
                "remote_number": number,
                "source": source,
                "keyword": keyword,
                "reason": reason,
            },
        )
    logger.info("consent %s %s recorded (identity %s)", kind, event.id, identity and identity.id)
    return event


def _reply(*, line: PhoneLine, to: str, kind: str, text: str) -> None:
    from routing.services.router_replies import router_reply_queue

    router_reply_queue(line=line, to=to, kind=kind, text=text)


def _confirm(*, line: PhoneLine, to: str, kind: str, name: str) -> None:
    """The one confirmation of an opt-out or opt-in, from the line it came in on."""
    opted_out = kind == ConsentKind.OPT_OUT
    _reply(
        line=line,
        to=to,
        kind=ReplyKind.OPTED_OUT if opted_out else ReplyKind.OPTED_IN,
        text=(OPTED_OUT_REPLY if opted_out else OPTED_IN_REPLY).format(display_name=name),
    )


def keyword_answer(
    *, message: Message, identity: AgentIdentity, line: PhoneLine, keyword: Keyword
) -> None:
    """A person texted a keyword to `identity` on `line`: record it, answer it on the same
    line, and tell the agent (`imessage.opted_out` / `imessage.opted_in`; HELP tells it
    nothing). Runs instead of `imessage.received`."""
    number = message.remote_number
    name = _display_name(identity)
    if keyword.kind == "help":
        _reply(line=line, to=number, kind=ReplyKind.CONSENT_HELP, text=help_text(identity))
        return
    consent_change(
        kind=keyword.kind,
        identity=identity,
        number=number,
        source=ConsentSource.KEYWORD,
        actor=KEYWORD_ACTOR,
        keyword=keyword.word,
        message=message,
        line=line,
    )
    _confirm(line=line, to=number, kind=keyword.kind, name=name)
    if message.is_blocked:
        return  # recorded and confirmed, but blocked senders never produce an event
    common.emit(
        CONSENT_EVENT_TYPES[keyword.kind],
        identity=identity,
        message=message,
        details={
            "conversation_id": str(message.conversation_id),
            "remote_number": number,
            "keyword": keyword.word,
        },
    )


def router_message_screen(*, line: PhoneLine, sender: str, text: str | None) -> bool:
    """On the router line, before routing: answer STOP and START to the router itself and
    drop anything else from a person opted out of it (HELP still gets the router's help).
    Returns True when the message was consumed here."""
    keyword = keyword_of(text)
    if keyword is not None and keyword.kind != "help":
        consent_change(
            kind=keyword.kind,
            identity=None,
            number=sender,
            source=ConsentSource.KEYWORD,
            actor=KEYWORD_ACTOR,
            keyword=keyword.word,
            line=line,
        )
        _confirm(line=line, to=sender, kind=keyword.kind, name=ROUTER_NAME)
        return True
    if keyword is None and is_opted_out(identity=None, number=sender):
        logger.info("router message from an opted-out person dropped (line %s)", line.id)
        return True
    return False


def operator_opt_out(
    *, identity: AgentIdentity, number: str, reason: str, user: Any, actor: Actor
) -> ConsentEvent:
    """Staff record an opt-out the person gave another way (a phone call)."""
    return consent_change(
        kind=ConsentKind.OPT_OUT,
        identity=identity,
        number=number,
        source=ConsentSource.OPERATOR,
        actor=actor,
        operator=user,
        reason=reason,
    )


def identity_opted_out(identity: AgentIdentity, number: str) -> bool:
    """The `routing.hooks` opt-out check: the router connects nobody to an identity they
    opted out of."""
    return is_opted_out(identity=identity, number=number)
