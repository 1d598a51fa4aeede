"""The Redis transport our workers use survives the reconnect path that killed kombu 5.7's."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import pytest
from kombu import Connection, Exchange, Queue
from kombu.message import Message as KombuMessage

from tests.private_redis import PrivateRedis, private_redis  # noqa: F401

QUEUE = Queue("broker-test", Exchange("broker-test"), "broker-test")


def holding_an_unacked_message(url: str) -> tuple[Connection, list[KombuMessage]]:
    """A consumer connection on our transport that received one message and has not acked."""
    with Connection(url, transport="console.broker:Transport") as producer:
        producer.Producer().publish(
            {"n": 1}, exchange=QUEUE.exchange, routing_key="broker-test", declare=[QUEUE]
        )
    connection = Connection(url, transport="console.broker:Transport")
    received: list[KombuMessage] = []
    consumer = connection.Consumer(
        QUEUE, callbacks=[lambda body, message: received.append(message)]
    )
    consumer.consume()
    connection.drain_events(timeout=5)
    return connection, received


def test_closing_after_the_transport_was_released_is_a_connection_error_not_a_crash(
    private_redis: PrivateRedis,  # noqa: F811
) -> None:
    connection, received = holding_an_unacked_message(private_redis.url)
    assert len(received) == 1
    private_redis.stop()
    # What Celery's consumer leaves behind after collect(): the channel still open with its
    # unacked message, the transport already released.
    connection.transport.client = None

    # Celery ignores connection errors here and reconnects; anything else ends the worker.
    with contextlib.suppress(*connection.connection_errors):
        connection.close()


def test_the_unacked_message_stays_in_redis_for_redelivery(
    private_redis: PrivateRedis,  # noqa: F811
) -> None:
    import redis

    connection, _ = holding_an_unacked_message(private_redis.url)
    connection.transport.client = None
    connection.close()

    unacked = redis.Redis.from_url(private_redis.url).hlen("unacked")
    assert unacked == 1


@pytest.mark.parametrize(
    ("url", "transport"),
    [
        ("redis://127.0.0.1:6379/0", "console.broker:Transport"),
        ("rediss://cache.internal:6380/0", "console.broker:Transport"),
        ("filesystem://", "None"),
        ("amqp://guest@127.0.0.1//", "None"),
    ],
)
def test_redis_brokers_use_our_transport_and_others_keep_kombus(url: str, transport: str) -> None:
    code = "from django.conf import settings; print(settings.CELERY_BROKER_TRANSPORT)"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={
            **os.environ,
            "CELERY_BROKER_URL": url,
            "DJANGO_SETTINGS_MODULE": "console.settings.base",
            "DEBUG": "true",
        },
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == transport


def test_a_test_worker_on_redis_runs_the_production_transport() -> None:
    """tests/realworker.py starts workers with the test settings and TEST_CELERY_BROKER_URL;
    on kombu's own transport the broker-restart test lost its worker now and then."""
    code = "from django.conf import settings; print(settings.CELERY_BROKER_TRANSPORT)"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={
            **os.environ,
            "TEST_CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
            "DJANGO_SETTINGS_MODULE": "console.settings.test",
        },
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "console.broker:Transport"


def test_commands_on_one_channel_share_one_redis_client(
    private_redis: PrivateRedis,  # noqa: F811
) -> None:
    with Connection(private_redis.url, transport="console.broker:Transport") as connection:
        channel = connection.default_channel

        assert channel._create_client() is channel._create_client()


def test_a_channel_whose_pool_was_replaced_gets_a_client_of_the_new_pool(
    private_redis: PrivateRedis,  # noqa: F811
) -> None:
    with Connection(private_redis.url, transport="console.broker:Transport") as connection:
        channel = connection.default_channel
        before = channel._create_client()
        channel._disconnect_pools()

        after = channel._create_client()

        assert after is not before
        assert after.connection_pool is channel.pool


def test_messages_published_through_the_shared_client_all_arrive(
    private_redis: PrivateRedis,  # noqa: F811
) -> None:
    with Connection(private_redis.url, transport="console.broker:Transport") as connection:
        producer = connection.Producer()
        for n in range(3):
            producer.publish(
                {"n": n}, exchange=QUEUE.exchange, routing_key="broker-test", declare=[QUEUE]
            )
        queue = connection.SimpleQueue(QUEUE)
        received = [queue.get(timeout=5) for _ in range(3)]

    assert [message.payload["n"] for message in received] == [0, 1, 2]
