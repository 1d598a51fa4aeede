"""A real Celery worker on Redis for integration tests, sharing the test's database.

Use it from a `@pytest.mark.django_db(transaction=True)` test (data must be committed for the
worker to see it):

    from tests.realworker import RealWorker, real_celery_worker  # noqa: F401

    @pytest.mark.slow
    @pytest.mark.celery_worker
    @pytest.mark.django_db(transaction=True)
    def test_something(real_celery_worker: RealWorker) -> None:  # noqa: F811
        ...

While the fixture is active, this process publishes to Redis (not eagerly) on a queue of its
own, and the worker subprocess consumes only that queue, so parallel test runs sharing one
Redis never steal each other's tasks. Redis comes from TEST_REDIS_URL (default
redis://127.0.0.1:6379/15); when it is unreachable the test is skipped, unless REQUIRE_REDIS is
"true" (CI), where it fails.

Run as a module (`python -m tests.realworker --queue Q --name N`) it is the worker itself:
the test settings, with eager execution switched off and the default queue set to Q; with
`--beat --schedule FILE` it is `celery beat` publishing to Q.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.test import override_settings

DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"
READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def redis_url_for_tests() -> str:
    return os.environ.get("TEST_REDIS_URL") or DEFAULT_TEST_REDIS_URL


def require_redis() -> str:
    """The Redis URL to use, or skip (fail when REQUIRE_REDIS=true) when Redis is absent."""
    import redis

    url = redis_url_for_tests()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except (redis.exceptions.RedisError, OSError) as exc:
        message = f"Redis at {url} is unreachable ({exc})"
        if os.environ.get("REQUIRE_REDIS", "").lower() == "true":
            pytest.fail(f"{message}, and REQUIRE_REDIS=true")
        pytest.skip(f"{message}; set TEST_REDIS_URL or start redis-server")
    return url


def database_url_for_worker() -> str:
    """A DATABASE_URL pointing at the database this test is using (pytest-django's test DB)."""
    from django.db import connection

    s = connection.settings_dict
    engine = s["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        name = str(s["NAME"])
        if name == ":memory:" or name.startswith("file:"):
            pytest.skip("an in-memory SQLite database cannot be shared with a worker process")
        return f"sqlite:///{Path(name).resolve()}"
    if engine == "django.db.backends.postgresql":
        user = quote(s.get("USER") or "", safe="")
        password = quote(s.get("PASSWORD") or "", safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = s.get("HOST") or "127.0.0.1"
        port = f":{s['PORT']}" if s.get("PORT") else ""
        return f"postgres://{auth}{host}{port}/{quote(str(s['NAME']), safe='')}"
    pytest.skip(f"no worker database URL for engine {engine}")
    raise AssertionError("unreachable")


@dataclass
class RealWorker:
    process: subprocess.Popen[bytes]
    queue: str
    broker_url: str
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def wake_key_prefix(queue: str) -> str:
    return f"{queue}:outbox-wake:"


class _PublishToRedis:
    """Point this process's Celery app at Redis (non-eager, private queue) and its outbox
    wake-ups at the same Redis under the queue's own prefix, then restore."""

    KEYS = (
        "broker_url",
        "broker_transport",
        "task_always_eager",
        "task_default_queue",
        "broker_transport_options",
    )

    def __init__(self, broker_url: str, queue: str) -> None:
        from console.celery import app

        self.app = app
        self.saved: dict[str, Any] = {key: app.conf[key] for key in self.KEYS}
        self.broker_url = broker_url
        self.queue = queue
        self.wake = override_settings(
            OUTBOX_WAKE_REDIS_URL=broker_url, OUTBOX_WAKE_KEY_PREFIX=wake_key_prefix(queue)
        )

    def _reset_connections(self) -> None:
        # Drop, don't close: kombu keeps pools in a global registry keyed by broker URL, and
        # a closed pool there would break every later publish to the same broker.
        self.app._pool = None
        # The amqp helper caches queues, router and producer pool built from the old config.
        self.app.__dict__.pop("amqp", None)

    def __enter__(self) -> None:
        self._reset_connections()
        from console.settings.base import broker_transport_for

        self.app.conf.update(
            broker_url=self.broker_url,
            broker_transport=broker_transport_for(self.broker_url),
            task_always_eager=False,
            task_default_queue=self.queue,
            broker_transport_options={},
        )
        self.wake.enable()

    def __exit__(self, *exc: object) -> None:
        self.wake.disable()
        self._reset_connections()
        self.app.conf.update(**self.saved)


def _spawn(
    *,
    arguments: list[str],
    broker_url: str,
    queue: str,
    log_path: Path,
    ready_marker: str,
    extra_env: dict[str, str] | None = None,
) -> RealWorker:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings.test",
        "DATABASE_URL": database_url_for_worker(),
        "TEST_CELERY_BROKER_URL": broker_url,
        # Outbox wake-ups as production has them with a Redis broker, the test's own tokens.
        "TEST_OUTBOX_WAKE_REDIS_URL": broker_url,
        "TEST_OUTBOX_WAKE_KEY_PREFIX": wake_key_prefix(queue),
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.realworker", "--queue", queue, *arguments],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    worker = RealWorker(process=process, queue=queue, broker_url=broker_url, log_path=log_path)
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Celery process exited early:\n{worker.log_text()}")
        if ready_marker in worker.log_text():
            return worker
        time.sleep(0.2)
    _stop_worker(worker)
    raise RuntimeError(
        f"Celery process not ready in {READY_TIMEOUT_SECONDS}s:\n{worker.log_text()}"
    )


def _start_worker(
    *,
    broker_url: str,
    queue: str,
    log_path: Path,
    concurrency: int,
    extra_env: dict[str, str] | None = None,
) -> RealWorker:
    return _spawn(
        arguments=["--name", f"{queue}@%h", "--concurrency", str(concurrency)],
        broker_url=broker_url,
        queue=queue,
        log_path=log_path,
        ready_marker=" ready.",
        extra_env=extra_env,
    )


def _start_beat(
    *,
    broker_url: str,
    queue: str,
    log_path: Path,
    schedule_path: Path,
    extra_env: dict[str, str] | None = None,
) -> RealWorker:
    """`celery beat` publishing the periodic jobs of the settings to `queue`."""
    return _spawn(
        arguments=["--beat", "--schedule", str(schedule_path)],
        broker_url=broker_url,
        queue=queue,
        log_path=log_path,
        ready_marker="beat: Starting",
        extra_env=extra_env,
    )


def _stop_worker(worker: RealWorker) -> None:
    if worker.process.poll() is None:
        # SIGTERM is Celery's warm shutdown: running tasks finish, then the worker exits.
        worker.process.send_signal(signal.SIGTERM)
        try:
            worker.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(worker.process.pid, signal.SIGKILL)
            worker.process.wait(timeout=10)


def _drop_queue(broker_url: str, queue: str) -> None:
    import redis

    client = redis.Redis.from_url(broker_url)
    client.delete(
        queue,
        *[f"{queue}\x06\x16{p}" for p in range(10)],
        *client.keys(f"{wake_key_prefix(queue)}*"),
    )


@pytest.fixture
def real_celery_worker(
    transactional_db: None, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[RealWorker]:
    """A running `celery worker` subprocess on Redis that uses this test's database."""
    broker_url = require_redis()
    queue = f"bluewire-test-{uuid.uuid4().hex[:12]}"
    concurrency = int(getattr(request, "param", 8))
    with _PublishToRedis(broker_url, queue):
        worker = _start_worker(
            broker_url=broker_url,
            queue=queue,
            log_path=tmp_path / "celery-worker.log",
            concurrency=concurrency,
        )
        try:
            yield worker
        finally:
            _stop_worker(worker)
            _drop_queue(broker_url, queue)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Celery worker for integration tests")
    parser.add_argument("--queue", required=True)
    parser.add_argument("--name", default="worker@%h")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--beat", action="store_true", help="run celery beat instead")
    parser.add_argument("--schedule", default=None, help="beat's schedule file")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings.test")
    import django

    django.setup()
    from console.celery import app

    # The test settings run tasks eagerly; a worker publishes follow-up tasks for real.
    app.conf.update(task_always_eager=False, task_default_queue=args.queue)
    from provisioning.providers.fake import fake_provider

    # The test process set up the provider's accounts; this process sees them in the database.
    fake_provider.shared_database = True
    if args.beat:
        app.start(["beat", "--schedule", args.schedule, "--loglevel", "INFO"])
        return
    app.worker_main(
        [
            "worker",
            "--queues",
            args.queue,
            "--hostname",
            args.name,
            "--pool",
            "threads",
            "--concurrency",
            str(args.concurrency),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
        ]
    )


if __name__ == "__main__":
    main()
