"""One agent read as the tallies count it, for the access tally tests."""

from __future__ import annotations

import datetime as dt
import uuid

from console.access import Viewed
from console.access_tally import TallyCount, TallyKey, tally_counts
from console.models import Organization
from console.services import IssuedApiKey

AT = dt.datetime(2026, 3, 1, 9, 5, tzinfo=dt.UTC)


def agent_read(
    org: Organization, key: IssuedApiKey, *conversations: uuid.UUID, at: dt.datetime = AT
) -> dict[TallyKey, TallyCount]:
    """The counts of one read by `key` showing one message of each of `conversations`
    (a conversation named twice is still read once)."""
    viewed = [
        Viewed(
            organization_id=org.id,
            kind="message",
            object_id=uuid.uuid4(),
            number="+14155550100",
            conversation_id=conversation_id,
        )
        for conversation_id in conversations
    ]
    return tally_counts(key=key.record, viewed=viewed, now=at)
