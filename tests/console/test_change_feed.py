"""The credential change feed: changes committed by another process reach this process's
caches, and a cached row outlives its second only while the feed vouches for it.

"Elsewhere" is a connection of its own that commits, as another worker would; the feeds
run on the clock the test moves (`KeyClock`), with a short heartbeat.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from django.db import connection
from django.utils import timezone

from console.api.authentication import api_key_for
from console.api.key_cache import KEYS
from console.db.change_feed import (
    CREDENTIAL_CHANGES,
    CREDENTIAL_TRIGGERS,
    CREDENTIALS_CHANNEL,
    ChangeFeed,
)
from console.db.change_feed import listener_connection as elsewhere
from console.models import ApiKey
from console.recent_reads import RecentReads
from tests.conftest import KeyClock
from tests.provisioning.factories import SetupFactory

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="LISTEN/NOTIFY"),
    pytest.mark.django_db(transaction=True),
]

WHOAMI = "/api/whoami"


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def commit_elsewhere(sql: str, *params: object) -> None:
    with elsewhere() as conn:
        conn.execute(sql, params)


def feed_of(clock: KeyClock, **options: object) -> ChangeFeed:
    settings: dict = {"triggers": CREDENTIAL_TRIGGERS, "heartbeat": 0.02, **options}
    return ChangeFeed(CREDENTIALS_CHANNEL, enabled=lambda: True, clock=clock, **settings)


@pytest.fixture
def feed(key_clock: KeyClock) -> Iterator[ChangeFeed]:
    feed = feed_of(key_clock)
    feed.start()
    assert feed.wait_listening()
    yield feed
    feed.stop()


@pytest.fixture
def cache(feed: ChangeFeed, key_clock: KeyClock, admin_key) -> RecentReads[ApiKey]:
    cache = RecentReads[ApiKey](feed=feed, clock=key_clock)
    cache.put("digest", admin_key.record, read_at=key_clock.now, generation=cache.generation)
    return cache


def heard_after_now(feed: ChangeFeed, clock: KeyClock) -> bool:
    """Move the clock on and wait for a round trip that went out after the move: every
    change committed before it has been heard by then."""
    clock.now += 0.5
    moved = clock.now
    return wait_for(lambda: feed.vouches(moved, within=0.01))


def test_a_key_revoked_elsewhere_empties_the_cache(cache, admin_key):
    commit_elsewhere(
        "UPDATE console_apikey SET status = 'revoked' WHERE id = %s", admin_key.record.pk
    )

    assert wait_for(lambda: len(cache) == 0)


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE console_agentidentity SET imessage_enabled = false WHERE organization_id = %s",
        "UPDATE console_organization SET name = 'Renamed' WHERE id = %s",
        "UPDATE provisioning_setup SET status = 'failed' WHERE organization_id = %s",
        "DELETE FROM console_apikey WHERE organization_id = %s",
    ],
    ids=["identity", "organisation", "setup", "key deleted"],
)
def test_every_change_to_a_row_that_authenticates_empties_the_cache(
    cache, admin_key, identity, change
):
    SetupFactory(organization=admin_key.record.organization)

    commit_elsewhere(change, admin_key.record.organization_id)

    assert wait_for(lambda: len(cache) == 0)


def test_a_keys_last_use_alone_leaves_the_cache_alone(cache, feed, key_clock, admin_key):
    commit_elsewhere(
        "UPDATE console_apikey SET last_used_at = %s WHERE id = %s",
        timezone.now(),
        admin_key.record.pk,
    )

    assert heard_after_now(feed, key_clock)
    assert len(cache) == 1


def test_a_row_the_feed_vouches_for_is_served_past_its_second(cache, feed, key_clock):
    key_clock.now += 30

    assert heard_after_now(feed, key_clock)
    assert cache.get("digest") is not None


def test_a_vouched_row_is_still_read_again_once_a_minute(cache, feed, key_clock):
    key_clock.now += 60

    assert heard_after_now(feed, key_clock)
    assert cache.get("digest") is None


def test_a_feed_whose_last_answer_is_over_a_second_old_vouches_for_nothing(key_clock):
    feed = feed_of(key_clock, heartbeat=3600)  # answers once, then waits an hour
    feed.start()
    try:
        assert feed.wait_listening()
        key_clock.now += 1.0

        assert not feed.vouches(0.0, within=1.0)
    finally:
        feed.stop()


def test_a_feed_without_its_triggers_vouches_for_nothing(key_clock):
    feed = feed_of(key_clock, triggers=[*CREDENTIAL_TRIGGERS, "console_apikey_changed_never"])
    feed.start()
    try:
        assert not feed.wait_listening(timeout=0.5)
    finally:
        feed.stop()


def test_the_triggers_fire_for_sessions_that_skip_ordinary_triggers(cache, admin_key):
    with elsewhere() as conn, conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute(
            "UPDATE console_apikey SET status = 'revoked' WHERE id = %s", [admin_key.record.pk]
        )

    assert wait_for(lambda: len(cache) == 0)


def test_a_feed_that_stopped_hearing_vouches_for_nothing(cache, feed, key_clock):
    read_at = key_clock.now
    feed.stop()
    key_clock.now += 0.5

    assert not feed.vouches(read_at, within=1.0)


def test_rows_read_before_a_lost_connection_are_not_vouched_for_after_it(cache, feed, key_clock):
    read_at = key_clock.now
    key_clock.now += 0.5
    commit_elsewhere(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = 'bluewire change feed' AND datname = current_database()"
        " AND pid <> pg_backend_pid()"
    )

    assert wait_for(
        lambda: feed.vouches(key_clock.now, within=1.0) and not feed.vouches(read_at, within=1.0)
    )
    key_clock.now += 2
    assert cache.get("digest") is None


def test_a_key_the_process_feed_vouches_for_is_served_until_another_process_revokes_it(
    admin_client, settings, key_clock, monkeypatch, django_assert_num_queries
):
    settings.CREDENTIAL_CHANGE_FEED = True
    monkeypatch.setattr(CREDENTIAL_CHANGES, "clock", key_clock)
    try:
        assert admin_client.get(WHOAMI).status_code == 200
        assert CREDENTIAL_CHANGES.wait_listening()
        assert heard_after_now(CREDENTIAL_CHANGES, key_clock)
        with django_assert_num_queries(0):
            assert api_key_for(admin_client.issued.raw_key) is not None
        commit_elsewhere(
            "UPDATE console_apikey SET status = 'revoked' WHERE id = %s",
            admin_client.issued.record.pk,
        )

        assert wait_for(lambda: len(KEYS) == 0)
        assert admin_client.get(WHOAMI).status_code == 401
    finally:
        CREDENTIAL_CHANGES.stop()
