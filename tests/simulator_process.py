"""The provider simulator as a real HTTP server in a subprocess, for tests whose workers run
in other processes (`manage.py run_simulator` on a free port):

    from tests.simulator_process import SimulatorProcess, simulator_process  # noqa: F401

    def test_something(simulator_process: SimulatorProcess) -> None:  # noqa: F811
        simulator_process.control("POST", "/control/slow-sends", {"seconds": 30})
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.private_redis import free_port
from tests.realworker import PROJECT_ROOT

READY_TIMEOUT_SECONDS = 60


@dataclass
class SimulatorProcess:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def control(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        response = httpx.request(
            method, f"{self.url}{path}", json=body, params=params or None, timeout=10
        )
        response.raise_for_status()
        return response.json()

    def handset(self, number: str) -> list[dict[str, Any]]:
        inbox: list[dict[str, Any]] = self.control("GET", "/phone/messages", number=number)
        return inbox

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def simulator_process(tmp_path: Path) -> Iterator[SimulatorProcess]:
    port = free_port()
    log_path = tmp_path / "simulator.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "run_simulator",
            "--port",
            str(port),
            "--assign-immediately",
            "--status-delay",
            "0.3",
            "--quiet",
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "console.settings.test"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    simulator = SimulatorProcess(process=process, url=f"http://127.0.0.1:{port}", log_path=log_path)
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"simulator exited early:\n{simulator.log_text()}")
        try:
            simulator.control("GET", "/control/state")
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        yield simulator
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
