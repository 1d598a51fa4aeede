"""`RecentReads`, the per-process cache of the rows that authenticate requests (API keys,
provider webhook setups): its own guarantees, apart from either use."""

from __future__ import annotations

import threading

import pytest

from console.models import ApiKey
from console.recent_reads import RecentReads

pytestmark = pytest.mark.django_db


def test_a_read_that_started_before_a_change_is_not_stored(admin_key):
    cache = RecentReads[ApiKey](clock=lambda: 0.0)
    generation = cache.generation
    cache.clear()  # a key, identity or organisation was saved meanwhile

    cache.put("digest", admin_key.record, read_at=0.0, generation=generation)

    assert cache.get("digest") is None


def test_the_oldest_row_makes_room_when_the_cache_is_full(admin_key):
    cache = RecentReads[ApiKey](max_entries=2, clock=lambda: 0.0)
    for digest in ("a", "b", "c"):
        cache.put(digest, admin_key.record, read_at=0.0, generation=cache.generation)

    assert [cache.get(d) is not None for d in ("a", "b", "c")] == [False, True, True]


def test_the_cache_holds_under_concurrent_use(admin_key):
    cache = RecentReads[ApiKey]()
    errors: list[Exception] = []

    def hammer(n: int) -> None:
        try:
            for i in range(500):
                digest = f"{n}-{i % 7}"
                cache.put(
                    digest, admin_key.record, read_at=cache.clock(), generation=cache.generation
                )
                cache.get(digest)
                if i % 50 == 0:
                    cache.clear()
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(cache) <= 8 * 7


def test_a_row_is_served_for_less_than_the_time_limit(admin_key):
    now = [0.0]
    cache = RecentReads[ApiKey](ttl=1.0, clock=lambda: now[0])
    cache.put("digest", admin_key.record, read_at=0.0, generation=cache.generation)

    now[0] = 0.99
    assert cache.get("digest") is not None
    now[0] = 1.0
    assert cache.get("digest") is None


def test_callers_get_copies_that_do_not_reach_the_stored_row(admin_key):
    cache = RecentReads[ApiKey](clock=lambda: 0.0)
    cache.put("digest", admin_key.record, read_at=0.0, generation=cache.generation)

    served = cache.get("digest")
    assert served is not None
    served.label = "changed by a request"
    served.organization.name = "changed too"

    again = cache.get("digest")
    assert again is not None
    assert again.label == admin_key.record.label
    assert again.organization.name == admin_key.record.organization.name


def test_forget_empties_the_cache_now_and_again_at_commit(
    admin_key, django_capture_on_commit_callbacks
):
    cache = RecentReads[ApiKey](clock=lambda: 0.0)
    cache.put("digest", admin_key.record, read_at=0.0, generation=cache.generation)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        cache.forget()
        assert cache.get("digest") is None
        cache.put("digest", admin_key.record, read_at=0.0, generation=cache.generation)
    for callback in callbacks:
        callback()

    assert cache.get("digest") is None
