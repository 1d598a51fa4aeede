"""Tapbacks: ours on any message in the thread (the person's or our own), and the person's.

At most one live tapback per sender, message and part: a new one replaces the sender's
previous one. Sends accept the classic six only. Taking one of ours back is recorded here
without a provider call: the provider documents no removal (its contract, §15), so the
person's phone may keep showing it.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from console.errors import ApplicationError, Conflict, Forbidden, Unprocessable
from messaging.models import Direction, Message, Reaction, ReactionType
from messaging.services import common
from messaging.services.common import IMESSAGE_NOT_ENABLED, RECIPIENT_NOT_E164
from messaging.services.status import foreign_handle_refuse
from provisioning.models import Setup
from provisioning.providers.base import InboundReaction, ProviderError

logger = logging.getLogger(__name__)

# What the provider's send-reaction accepts (its contract, §15). `eyes` and `custom`
# arrive from people but cannot be sent.
SENDABLE_REACTIONS = (
    ReactionType.LOVE,
    ReactionType.LIKE,
    ReactionType.DISLIKE,
    ReactionType.LAUGH,
    ReactionType.EMPHASIZE,
    ReactionType.QUESTION,
)
INVALID_REACTION = (
    "Tapbacks can be sent as love, like, dislike, laugh, emphasize or question; "
    "eyes and custom are receive-only."
)
REACTION_NOT_OWN = "Only the sender can take back a tapback; this one is the other party's."
MESSAGE_NOT_SENT = "This message has not reached the provider yet; react once its status is sent."


def reaction_send(*, message: Message, reaction: str, part_index: int) -> Reaction:
    """Send a tapback on a message of the thread, the person's or our own; a second one
    on the same part replaces the first (one live tapback per sender and part).

    Raises 400 `invalid_reaction` for anything but the classic six (before any provider
    call), 409 `message_not_sent` for our own message the provider has no handle for yet,
    and the send checks (imessage_not_enabled, recipient_not_e164, recipient_blocked,
    conversation_inactive). The provider is called first: a failure (502) leaves the
    previous tapback live.
    """
    from routing.services.contact_rules import outbound_permission_check

    if reaction not in SENDABLE_REACTIONS:
        raise ApplicationError(
            INVALID_REACTION,
            code="invalid_reaction",
            extra={"allowed": [str(r) for r in SENDABLE_REACTIONS]},
        )
    identity = message.identity
    common.group_refuse(message.conversation)
    if not identity.imessage_enabled:
        raise ApplicationError(IMESSAGE_NOT_ENABLED, code="imessage_not_enabled")
    if not message.provider_handle:
        raise Conflict(MESSAGE_NOT_SENT, code="message_not_sent")
    if not common.is_phone(message.remote_number):
        raise Unprocessable(RECIPIENT_NOT_E164, code="recipient_not_e164")
    outbound_permission_check(identity=identity, number=message.remote_number)
    line = common.active_line_or_409(message.conversation)
    try:
        common.provider_adapter().send_reaction(
            credentials=common.line_credentials(line),
            from_number=line.number or "",
            provider_handle=message.provider_handle,
            reaction=reaction,
            part_index=part_index,
        )
    except ProviderError as exc:
        raise common.provider_call_failed(exc) from exc
    return _replace_live_reaction(
        message=message,
        direction=Direction.OUTBOUND,
        part_index=part_index,
        reaction=reaction,
        custom_emoji=None,
        remote_number=message.remote_number,
    )


def reaction_remove(*, reaction: Reaction) -> None:
    """Take back our own tapback: reads stop showing it at once. Already gone: success.
    The other party's: 403 `reaction_not_own`.

    No provider call: the provider documents none for removal, so the person's phone may
    keep showing the tapback.
    """
    if reaction.direction != Direction.OUTBOUND:
        raise Forbidden(REACTION_NOT_OWN, code="reaction_not_own")
    removed = Reaction.objects.filter(pk=reaction.pk, is_live=True).update(
        is_live=False, removed_at=timezone.now(), updated_at=timezone.now()
    )
    if removed:
        logger.info("reaction %s taken back (recorded only)", reaction.pk)


def _replace_live_reaction(
    *,
    message: Message,
    direction: str,
    part_index: int,
    reaction: str,
    custom_emoji: str | None,
    remote_number: str,
) -> Reaction:
    """Retire the sender's live tapback on this part and store the new one.

    The partial unique constraint makes concurrent swaps settle on one live row."""
    for _ in range(3):
        try:
            with transaction.atomic():
                Reaction.objects.filter(
                    message=message, direction=direction, part_index=part_index, is_live=True
                ).update(is_live=False, removed_at=timezone.now(), updated_at=timezone.now())
                return Reaction.objects.create(
                    organization_id=message.organization_id,
                    identity_id=message.identity_id,
                    conversation_id=message.conversation_id,
                    message=message,
                    direction=direction,
                    reaction=reaction,
                    custom_emoji=custom_emoji if reaction == ReactionType.CUSTOM else None,
                    part_index=part_index,
                    remote_number=remote_number,
                )
        except IntegrityError:
            continue
    raise Conflict("The tapback changed concurrently; try again.", code="reaction_conflict")


@transaction.atomic
def inbound_reaction_receive(*, setup: Setup, event: InboundReaction) -> Reaction | None:
    """A tapback from the person (any emoji as `custom`) on a message of `setup`: swap or
    remove their live one. Raises `ForeignReference` when the target is another setup's."""
    target = (
        Message.objects.select_related("identity")
        .filter(provider_handle=event.target_provider_handle, line__setup=setup)
        .first()
    )
    if target is None:
        foreign_handle_refuse(setup=setup, provider_handle=event.target_provider_handle)
    if target is None or target.remote_number != event.from_number:
        logger.info("inbound reaction for an unknown or foreign message ignored")
        return None
    if event.removed:
        Reaction.objects.filter(
            message=target,
            direction=Direction.INBOUND,
            part_index=event.part_index,
            is_live=True,
        ).update(is_live=False, removed_at=timezone.now(), updated_at=timezone.now())
        return None
    reaction_kind = event.reaction if event.reaction in ReactionType.values else ReactionType.CUSTOM
    reaction = _replace_live_reaction(
        message=target,
        direction=Direction.INBOUND,
        part_index=event.part_index,
        reaction=reaction_kind,
        custom_emoji=event.custom_emoji,
        remote_number=event.from_number,
    )
    if not target.is_blocked and target.identity.imessage_enabled:
        common.emit("imessage.reaction_received", identity=target.identity, reaction=reaction)
    return reaction
