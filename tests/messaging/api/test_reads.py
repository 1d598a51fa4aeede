"""Conversations, messages and threads: scoping, filters, shapes and query counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from routing.models import AssignmentStatus
from tests.messaging.conftest import PERSON, POOL_NUMBER
from tests.messaging.factories import ConversationFactory, MessageFactory, ReactionFactory

pytestmark = pytest.mark.django_db

CONVERSATIONS = "/api/v1/imessage/conversations"
MESSAGES = "/api/v1/imessage/messages"


def at(*args):
    return datetime(*args, tzinfo=UTC)


# --- Conversations -----------------------------------------------------------------------


def test_conversation_summary_carries_preview_counts_and_assignment_status(
    identity_client, conversation
):
    MessageFactory(conversation=conversation, content="first", created_at=at(2026, 1, 1, 9))
    MessageFactory(
        conversation=conversation, content="read", is_read=True, created_at=at(2026, 1, 1, 10)
    )
    MessageFactory(
        conversation=conversation,
        direction="outbound",
        content="latest",
        media=[{"url": "https://x.test/a.jpg"}],
        created_at=at(2026, 1, 1, 11),
    )

    response = identity_client.get(CONVERSATIONS)

    assert response.status_code == 200
    [row] = response.json()
    assert row["id"] == str(conversation.id)
    assert row["latest_text"] == "latest"
    assert row["latest_direction"] == "outbound"
    assert row["latest_has_media"] is True
    assert row["latest_message_at"].startswith("2026-01-01T11:00:00")
    assert row["unread_count"] == 1
    assert row["total_count"] == 3
    assert row["assignment_status"] == "active"
    assert row["assignment_id"] == str(conversation.assignment_id)
    assert POOL_NUMBER not in response.content.decode()


def test_a_released_conversation_says_released(identity_client, conversation, assignment):
    assignment.status = AssignmentStatus.RELEASED
    assignment.save()

    [row] = identity_client.get(CONVERSATIONS).json()

    assert row["assignment_status"] == "released"


def test_scoped_keys_never_see_blocked_rows_in_previews_or_counts(identity_client, conversation):
    MessageFactory(conversation=conversation, content="visible", created_at=at(2026, 1, 1))
    MessageFactory(
        conversation=conversation, content="blocked", is_blocked=True, created_at=at(2026, 1, 2)
    )

    [row] = identity_client.get(CONVERSATIONS + "?is_blocked=true").json()

    assert row["latest_text"] == "visible"
    assert row["total_count"] == 1


def test_scoped_keys_do_not_see_a_conversation_holding_only_blocked_rows(identity_client, identity):
    hidden = ConversationFactory(identity=identity)
    MessageFactory(conversation=hidden, is_blocked=True)

    assert identity_client.get(CONVERSATIONS).json() == []


def test_a_connected_person_later_blocked_is_hidden_from_the_identity_key(
    identity_client, conversation
):
    MessageFactory(conversation=conversation, content="blocked", is_blocked=True)

    assert identity_client.get(CONVERSATIONS).json() == []
    assert identity_client.get(f"{CONVERSATIONS}/{conversation.id}").status_code == 404


def test_admin_keys_still_see_the_blocked_only_conversation_with_its_blocked_rows(
    admin_client, conversation
):
    blocked = MessageFactory(conversation=conversation, is_blocked=True)

    [row] = admin_client.get(CONVERSATIONS).json()
    [message] = admin_client.get(f"{MESSAGES}?conversation_id={conversation.id}").json()

    assert row["id"] == str(conversation.id)
    assert (message["id"], message["is_blocked"]) == (str(blocked.id), True)


def test_the_conversation_reappears_once_a_message_gets_through(identity_client, conversation):
    MessageFactory(conversation=conversation, is_blocked=True)
    MessageFactory(conversation=conversation, content="allowed now")

    [row] = identity_client.get(CONVERSATIONS).json()

    assert (row["latest_text"], row["total_count"]) == ("allowed now", 1)


def test_a_fresh_connection_with_no_traffic_yet_is_listed(identity_client, conversation):
    assert [r["id"] for r in identity_client.get(CONVERSATIONS).json()] == [str(conversation.id)]


def test_admin_keys_filter_conversations_by_blocked_messages(admin_client, identity, conversation):
    MessageFactory(conversation=conversation)
    hidden = ConversationFactory(identity=identity)
    MessageFactory(conversation=hidden, content="blocked", is_blocked=True)

    rows = admin_client.get(CONVERSATIONS + "?is_blocked=true").json()

    assert [r["id"] for r in rows] == [str(hidden.id)]
    assert rows[0]["latest_text"] == "blocked"


def _mixed_traffic(conversation):
    """Visible: 2 unread inbound, 1 read inbound, 1 outbound; blocked: 2 unread, 1 read."""
    MessageFactory.create_batch(2, conversation=conversation, created_at=at(2026, 1, 1))
    MessageFactory(conversation=conversation, is_read=True, created_at=at(2026, 1, 2))
    MessageFactory(conversation=conversation, direction="outbound", created_at=at(2026, 1, 3))
    MessageFactory.create_batch(
        2, conversation=conversation, is_blocked=True, created_at=at(2026, 1, 4)
    )
    MessageFactory(
        conversation=conversation, is_blocked=True, is_read=True, created_at=at(2026, 1, 5)
    )


# With a date range the list counts the messages in it; without one it reads the
# conversation's counters: both must give the same numbers.
WHOLE_RANGE = "start_datetime=2025-12-01T00:00:00Z&end_datetime=2026-02-01T00:00:00Z"


@pytest.mark.parametrize("date_range", ["", WHOLE_RANGE])
@pytest.mark.parametrize(
    ("client", "is_blocked", "total", "unread"),
    [
        ("identity_client", None, 4, 2),
        ("identity_client", "true", 4, 2),
        ("admin_client", None, 7, 4),
        ("admin_client", "true", 3, 2),
        ("admin_client", "false", 4, 2),
    ],
)
def test_conversation_counts_cover_the_messages_the_key_and_filter_select(
    request, conversation, client, is_blocked, total, unread, date_range
):
    _mixed_traffic(conversation)
    query = "&".join(p for p in (f"is_blocked={is_blocked}" if is_blocked else "", date_range) if p)

    [row] = request.getfixturevalue(client).get(f"{CONVERSATIONS}?{query}").json()

    assert (row["total_count"], row["unread_count"]) == (total, unread)


def test_admin_keys_filtering_on_unblocked_messages_skip_a_blocked_only_conversation(
    admin_client, conversation, identity
):
    MessageFactory(conversation=conversation)
    blocked_only = ConversationFactory(identity=identity)
    MessageFactory(conversation=blocked_only, is_blocked=True)

    rows = admin_client.get(CONVERSATIONS + "?is_blocked=false").json()

    assert [r["id"] for r in rows] == [str(conversation.id)]


def test_conversations_are_newest_activity_first_and_paged(identity_client, identity):
    old = ConversationFactory(identity=identity, last_message_at=at(2026, 1, 1))
    new = ConversationFactory(identity=identity, last_message_at=at(2026, 1, 2))
    MessageFactory(conversation=old)
    MessageFactory(conversation=new)

    first = identity_client.get(CONVERSATIONS + "?limit=1&offset=0").json()
    second = identity_client.get(CONVERSATIONS + "?limit=1&offset=1").json()

    assert [first[0]["id"], second[0]["id"]] == [str(new.id), str(old.id)]


def test_scoped_keys_see_only_their_identity(identity_client, conversation, other_identity):
    MessageFactory(conversation=ConversationFactory(identity=other_identity))

    rows = identity_client.get(CONVERSATIONS + f"?agent_identity_id={other_identity.id}").json()

    assert [r["id"] for r in rows] == [str(conversation.id)]


def test_admin_keys_narrow_by_identity(admin_client, conversation, other_identity):
    other = ConversationFactory(identity=other_identity)
    MessageFactory(conversation=other)

    rows = admin_client.get(CONVERSATIONS + f"?agent_identity_id={other_identity.id}").json()

    assert [r["id"] for r in rows] == [str(other.id)]


def test_outsiders_see_no_conversations(outsider_client, conversation):
    assert outsider_client.get(CONVERSATIONS).json() == []


@pytest.mark.parametrize("rows", [1, 50])
def test_conversation_list_costs_a_constant_number_of_queries(
    identity_client, identity, django_assert_num_queries, rows
):
    for _ in range(rows):
        conversation = ConversationFactory(identity=identity)
        MessageFactory.create_batch(2, conversation=conversation)
    identity_client.get(CONVERSATIONS)  # cache the key, settle last_used_at

    with django_assert_num_queries(2):  # the list, one access tally upsert (the key: cached)
        response = identity_client.get(CONVERSATIONS + "?limit=50")

    assert len(response.json()) == rows


def test_get_conversation(identity_client, conversation):
    body = identity_client.get(f"{CONVERSATIONS}/{conversation.id}").json()

    assert body["id"] == str(conversation.id)
    assert body["remote_number"] == PERSON
    assert body["assignment_status"] == "active"
    assert body["is_group"] is False


def test_get_conversation_asserts_agent_identity_id(admin_client, conversation, other_identity):
    response = admin_client.get(
        f"{CONVERSATIONS}/{conversation.id}?agent_identity_id={other_identity.id}"
    )

    assert response.status_code == 404


@pytest.mark.parametrize("who", ["other_identity", "outsider"])
def test_conversations_of_others_are_404(
    identity_client, outsider_client, conversation, other_identity, who
):
    if who == "outsider":
        client, target = outsider_client, conversation
    else:
        client, target = identity_client, ConversationFactory(identity=other_identity)

    response = client.get(f"{CONVERSATIONS}/{target.id}")

    assert response.status_code == 404


# --- Messages --------------------------------------------------------------------------------


def test_messages_are_newest_first_with_live_reactions(identity_client, conversation):
    old = MessageFactory(conversation=conversation, created_at=at(2026, 1, 1))
    new = MessageFactory(conversation=conversation, created_at=at(2026, 1, 2))
    ReactionFactory(message=old, reaction="love")
    ReactionFactory(message=old, reaction="like", is_live=False, part_index=1)

    rows = identity_client.get(MESSAGES).json()

    assert [r["id"] for r in rows] == [str(new.id), str(old.id)]
    assert [r["reaction"] for r in rows[1]["reactions"]] == ["love"]
    assert rows[0]["service"] == "imessage"
    assert rows[0]["is_blocked"] is False


def test_scoped_keys_never_see_blocked_messages_whatever_the_filter(identity_client, conversation):
    blocked = MessageFactory(conversation=conversation, is_blocked=True)

    assert identity_client.get(MESSAGES + "?is_blocked=true").json() == []
    assert identity_client.get(MESSAGES).json() == []
    assert identity_client.get(f"{MESSAGES}/{blocked.id}").status_code == 404
    assert identity_client.get(f"{MESSAGES}/{blocked.id}/thread").status_code == 404


def test_admin_keys_see_and_filter_blocked_messages(admin_client, conversation):
    MessageFactory(conversation=conversation)
    blocked = MessageFactory(conversation=conversation, is_blocked=True)

    rows = admin_client.get(MESSAGES + "?is_blocked=true").json()

    assert [r["id"] for r in rows] == [str(blocked.id)]
    assert rows[0]["is_blocked"] is True
    assert len(admin_client.get(MESSAGES).json()) == 2
    assert len(admin_client.get(MESSAGES + "?is_blocked=false").json()) == 1


def test_messages_filter_by_conversation_and_read_state(identity_client, conversation, identity):
    read = MessageFactory(conversation=conversation, is_read=True)
    MessageFactory(conversation=conversation, is_read=False)
    MessageFactory(conversation=ConversationFactory(identity=identity))

    rows = identity_client.get(MESSAGES + f"?conversation_id={conversation.id}&is_read=true").json()

    assert [r["id"] for r in rows] == [str(read.id)]


def test_thread_id_without_conversation_id_is_400(identity_client, conversation):
    response = identity_client.get(MESSAGES + f"?thread_id={conversation.id}")

    assert response.status_code == 400


def test_thread_id_narrows_to_the_conversation(identity_client, conversation):
    message = MessageFactory(conversation=conversation)

    rows = identity_client.get(
        MESSAGES + f"?conversation_id={conversation.id}&thread_id={message.id}"
    ).json()

    assert [r["id"] for r in rows] == [str(message.id)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("start_datetime=2026-03-02", ["late", "mid"]),
        ("end_datetime=2026-03-02", ["mid", "early"]),
        ("start_datetime=2026-03-02T00:00:00&tz=America/New_York", ["late"]),
        ("start_datetime=2026-03-02T02:00:00%2B00:00", ["late", "mid"]),
        ("start_datetime=2026-03-02T04:00:00%2B00:00", ["late"]),
        ("end_datetime=2026-03-01&tz=America/New_York", ["mid", "early"]),
        ("start_datetime=2026-03-02&end_datetime=2026-03-02", ["mid"]),
    ],
)
def test_date_range_filters_follow_the_tz_rules(identity_client, conversation, query, expected):
    MessageFactory(conversation=conversation, content="early", created_at=at(2026, 3, 1, 12))
    # 2026-03-02 03:00 UTC is still March 1st in New York.
    MessageFactory(conversation=conversation, content="mid", created_at=at(2026, 3, 2, 3))
    MessageFactory(conversation=conversation, content="late", created_at=at(2026, 3, 3, 12))

    rows = identity_client.get(f"{MESSAGES}?{query}").json()

    assert [r["content"] for r in rows] == expected


@pytest.mark.parametrize(
    "query",
    ["tz=Mars/Olympus", "start_datetime=yesterday", "limit=0", "limit=201", "is_read=maybe"],
)
def test_bad_list_parameters_are_400(identity_client, query):
    assert identity_client.get(f"{MESSAGES}?{query}").status_code == 400


@pytest.mark.parametrize("rows", [1, 50])
def test_message_list_costs_a_constant_number_of_queries(
    identity_client, conversation, django_assert_num_queries, rows
):
    for message in MessageFactory.create_batch(rows, conversation=conversation):
        ReactionFactory(message=message)
    identity_client.get(MESSAGES)  # cache the key, settle last_used_at

    # the page, its live reactions, one access tally upsert (was 4 with the key's select)
    with django_assert_num_queries(3):
        response = identity_client.get(MESSAGES + "?limit=50")

    assert len(response.json()) == rows


def test_get_message(identity_client, conversation):
    message = MessageFactory(conversation=conversation, content="hi")

    body = identity_client.get(f"{MESSAGES}/{message.id}").json()

    assert body["id"] == str(message.id)
    assert body["content"] == "hi"
    assert body["conversation_id"] == str(conversation.id)


@pytest.mark.parametrize("who", ["other_identity", "outsider"])
def test_messages_of_others_are_404(
    identity_client, outsider_client, conversation, other_identity, who
):
    if who == "outsider":
        client, target = outsider_client, MessageFactory(conversation=conversation)
    else:
        client = identity_client
        target = MessageFactory(conversation=ConversationFactory(identity=other_identity))

    assert client.get(f"{MESSAGES}/{target.id}").status_code == 404
    assert client.get(f"{MESSAGES}/{target.id}/thread").status_code == 404


# --- Threads -----------------------------------------------------------------------------------


def test_a_thread_is_the_conversation_oldest_first_with_cursor_paging(
    identity_client, conversation
):
    start = timezone.now() - timedelta(hours=1)
    made = [
        MessageFactory(conversation=conversation, created_at=start + timedelta(minutes=i))
        for i in range(5)
    ]

    first = identity_client.get(f"{MESSAGES}/{made[3].id}/thread?limit=2").json()
    second = identity_client.get(
        f"{MESSAGES}/{made[3].id}/thread?limit=2&cursor={first['next_cursor']}"
    ).json()
    third = identity_client.get(
        f"{MESSAGES}/{made[3].id}/thread?limit=2&cursor={second['next_cursor']}"
    ).json()

    ids = [m["id"] for page in (first, second, third) for m in page["messages"]]
    assert ids == [str(m.id) for m in made]
    assert third["next_cursor"] is None
    assert first["conversation_id"] == str(conversation.id)
    assert first["thread_id"] == str(conversation.id)


def test_the_conversation_thread_endpoint_answers_the_same_thread(identity_client, conversation):
    message = MessageFactory(conversation=conversation)

    by_message = identity_client.get(f"{MESSAGES}/{message.id}/thread").json()
    by_conversation = identity_client.get(
        f"{CONVERSATIONS}/{conversation.id}/threads/{by_message['thread_id']}"
    ).json()

    assert by_conversation["messages"] == by_message["messages"]


def test_a_thread_id_outside_the_conversation_is_404(identity_client, conversation, identity):
    foreign = MessageFactory(conversation=ConversationFactory(identity=identity))

    response = identity_client.get(f"{CONVERSATIONS}/{conversation.id}/threads/{foreign.id}")

    assert response.status_code == 404


def test_a_bad_cursor_is_400(identity_client, conversation):
    message = MessageFactory(conversation=conversation)

    response = identity_client.get(f"{MESSAGES}/{message.id}/thread?cursor=%%%")

    assert response.status_code == 400


def test_threads_hide_blocked_rows_from_scoped_keys(identity_client, conversation):
    visible = MessageFactory(conversation=conversation)
    MessageFactory(conversation=conversation, is_blocked=True)

    body = identity_client.get(f"{MESSAGES}/{visible.id}/thread").json()

    assert [m["id"] for m in body["messages"]] == [str(visible.id)]


@pytest.mark.parametrize("rows", [1, 50])
def test_thread_pages_cost_a_constant_number_of_queries(
    identity_client, conversation, django_assert_num_queries, rows
):
    made = MessageFactory.create_batch(rows, conversation=conversation)
    identity_client.get(MESSAGES)

    # the message, the page, its live reactions, one access tally upsert (the key: cached)
    with django_assert_num_queries(4):
        identity_client.get(f"{MESSAGES}/{made[0].id}/thread?limit=50")
