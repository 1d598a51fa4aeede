"""The provider simulator served over real HTTP on a free port, for tests.

`serve_simulator` runs one in a thread (its webhook jobs in another); the `live_simulator`
fixture also points Django at it (PROVIDER_NAME=simulator) and points the simulator's
webhooks at pytest-django's live server, so a test drives the whole stack: the SDK or an
HTTP client talks to the live server, the real Sendblue adapter talks to the simulator,
and the simulator posts its webhooks back to the live server's provider intake.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from wsgiref.simple_server import make_server

import httpx
import pytest

from provisioning.management.commands.run_simulator import QuietHandler, ThreadingWSGIServer
from provisioning.providers.base import AccountCredentials
from provisioning.simulator.app import Simulator

AGENCY = AccountCredentials(key_id="live-sim-agency", secret="live-sim-agency-secret")
T = TypeVar("T")


@dataclass
class ServedSimulator:
    simulator: Simulator
    url: str
    http: httpx.Client

    def control(self, method: str, path: str, body: Any = None, **params: str) -> httpx.Response:
        """Call a simulator route (a control, the handset, or the provider API)."""
        return self.http.request(method, path, json=body, params=params or None)


@contextmanager
def serve_simulator(**options: Any) -> Iterator[ServedSimulator]:
    """A simulator on 127.0.0.1 and a free port, with its webhook jobs running."""
    simulator = Simulator(
        agency_key_id=AGENCY.key_id,
        agency_secret=AGENCY.secret,
        deliver_client=httpx.Client(timeout=10.0),
        **options,
    )
    server = make_server(
        "127.0.0.1", 0, simulator, server_class=ThreadingWSGIServer, handler_class=QuietHandler
    )
    server.verbose = False  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{server.server_port}"
    simulator.public_url = url
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    stop_jobs = simulator.start_background(interval=0.02)
    http = httpx.Client(base_url=url, timeout=10.0)
    try:
        yield ServedSimulator(simulator=simulator, url=url, http=http)
    finally:
        stop_jobs.set()
        http.close()
        server.shutdown()
        server.server_close()
        simulator.deliver_client.close()


def wait_for(check: Callable[[], T | None], *, timeout: float = 30.0, what: str = "it") -> T:
    """Poll `check` until it returns something truthy (generous deadline, no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def live_simulator(live_server: Any, settings: Any) -> Iterator[ServedSimulator]:
    """A simulator on a free port wired to the live server both ways."""
    with serve_simulator(assign_immediately=True, status_delay=0.05) as served:
        settings.PROVIDER_NAME = "simulator"
        settings.PROVIDER_BASE_URL = served.url
        settings.PROVIDER_AGENCY_KEY_ID = AGENCY.key_id
        settings.PROVIDER_AGENCY_SECRET = AGENCY.secret
        settings.PROVIDER_MAX_RETRIES = 0
        settings.PUBLIC_BASE_URL = live_server.url
        yield served
