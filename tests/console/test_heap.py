"""The long-lived processes freeze what they loaded at start (`console.heap`)."""

from __future__ import annotations

import gc
import importlib
from collections.abc import Iterator

import pytest
from celery.signals import worker_process_init, worker_ready

from console import heap


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_freezing_moves_the_loaded_heap_out_of_the_collectors_reach() -> None:
    heap.freeze_startup_heap()

    assert gc.get_freeze_count() > 10_000


def test_freezing_loads_the_urlconf_first(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[int] = []

    class Resolver:
        @property
        def url_patterns(self) -> list[object]:
            loaded.append(gc.get_freeze_count())
            return []

    monkeypatch.setattr("django.urls.get_resolver", lambda: Resolver())

    heap.freeze_startup_heap()

    assert loaded == [0]
    assert gc.get_freeze_count() > 0


def test_a_web_worker_freezes_its_heap_once_the_application_is_loaded() -> None:
    import console.wsgi

    importlib.reload(console.wsgi)

    assert gc.get_freeze_count() > 10_000


@pytest.mark.parametrize("signal", [worker_ready, worker_process_init])
def test_a_celery_worker_freezes_its_heap_when_it_starts(signal: object) -> None:
    import console.celery

    signal.send(sender=None)  # type: ignore[attr-defined]

    assert gc.get_freeze_count() > 10_000
    assert any(
        receiver() is console.celery._freeze_startup_heap
        for _, receiver in signal.receivers  # type: ignore[attr-defined]
    )
