"""The long-lived processes freeze what they loaded at start (`console.heap`)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery.signals import worker_process_init, worker_ready

from console import heap

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_freezing_moves_the_loaded_heap_out_of_the_collectors_reach() -> None:
    heap.freeze_startup_heap()

    assert gc.get_freeze_count() > 10_000


def test_a_web_process_loads_the_urlconf_before_it_freezes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loaded: list[int] = []

    class Resolver:
        @property
        def url_patterns(self) -> list[object]:
            loaded.append(gc.get_freeze_count())
            return []

    monkeypatch.setattr("django.urls.get_resolver", lambda: Resolver())

    heap.freeze_web_heap()

    assert loaded == [0]
    assert gc.get_freeze_count() > 0


def test_a_web_worker_freezes_its_heap_once_the_application_is_loaded() -> None:
    # A process of its own: loading the WSGI module sets Django up again.
    probe = "import gc, console.wsgi; print(gc.get_freeze_count())"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "console.settings.test"}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[-1]) > 10_000


@pytest.mark.parametrize("signal", [worker_ready, worker_process_init])
def test_a_celery_worker_freezes_its_heap_when_it_starts(signal: object) -> None:
    import console.celery

    signal.send(sender=None)  # type: ignore[attr-defined]

    assert gc.get_freeze_count() > 10_000
    assert any(
        receiver() is console.celery._freeze_startup_heap
        for _, receiver in signal.receivers  # type: ignore[attr-defined]
    )
