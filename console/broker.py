"""The Redis broker transport our workers use: kombu's, with one reconnect bug closed and
one Redis client per channel instead of one per command.

When Redis goes away while a worker holds unacknowledged messages, Celery 5.7 first
`collect()`s the broken connection (which releases the transport and sets its `client` to
None) and then closes it. Closing the channel restores the unacknowledged messages, which
needs a Redis client, and building one reads `transport.client.hostname`: an
`AttributeError` that is not a connection error, so the worker logs "Unrecoverable error"
and exits instead of reconnecting (seen in the chaos drill, kombu 5.7.0).

Here a released transport is reported as what it is, a lost connection: kombu ignores it
while closing, the worker reconnects, and the messages stay in Redis's unacked set until
its visibility timeout gives them back (our outbox sweeps re-publish the work sooner).

kombu also builds a new `redis.Redis` for every publish (and every ack), over the
channel's one connection pool: its table of ~170 response callbacks cost a web process a
fifth of each publish (0.1 ms of 0.55). The client holds no connection of its own, so the
channel keeps one per pool and a replaced pool gets a new one.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            raise RedisConnectionError("The broker connection was already released.")
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)  # type: ignore[misc]
        pool = self.pool
        client = self.__dict__.get("_pooled_client")
        if client is None or client.connection_pool is not pool:
            client = self._pooled_client = super()._create_client()  # type: ignore[misc]
        return client


class Transport(kombu_redis.Transport):
    Channel = Channel
