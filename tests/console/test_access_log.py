"""Access logs never show query-string values that could be a key, a search or a number."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from console.access_log import (
    FILTERED,
    ScrubbingGunicornLogger,
    scrub_query,
    scrub_request_line,
)

KEY = "bw_live_0123456789abcdefghijklmnopqrstuv"
NUMBER = "+14155550100"
HOSTILE_QUERY = f"api_key={KEY}&q=%2B14155550100&to={NUMBER}&search=Jane&limit=5&offset=10"


def test_api_key_search_and_number_values_are_filtered_and_paging_is_kept():
    scrubbed = scrub_query(HOSTILE_QUERY)

    assert scrubbed == (
        f"api_key={FILTERED}&q={FILTERED}&to={FILTERED}&search={FILTERED}&limit=5&offset=10"
    )


def test_a_parameter_name_that_is_not_a_name_is_filtered_whole():
    assert scrub_query(f"{NUMBER}=1&limit=2") == f"{FILTERED}&limit=2"


def test_the_request_line_keeps_method_path_and_protocol():
    line = scrub_request_line(f"GET /api/v1/imessage/messages?{HOSTILE_QUERY} HTTP/1.1")

    assert line.startswith("GET /api/v1/imessage/messages?api_key=[filtered]&")
    assert line.endswith(" HTTP/1.1")
    assert KEY not in line and "14155550100" not in line


def test_the_runserver_access_log_is_scrubbed():
    logger = logging.getLogger("django.server")
    seen: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler = Capture()
    logger.addHandler(handler)
    try:
        logger.info('"%s" %s %s', f"GET /console/?{HOSTILE_QUERY} HTTP/1.1", "200", "512")
    finally:
        logger.removeHandler(handler)

    [line] = seen
    assert KEY not in line and "14155550100" not in line and "Jane" not in line
    assert "limit=5" in line


def test_gunicorn_atoms_are_scrubbed_including_credential_headers():
    from datetime import timedelta

    from gunicorn.config import Config

    class Response:
        status = "200 OK"
        sent = 10
        headers = [("Location", f"/x?q={NUMBER}")]

    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/api/v1/imessage/conversations?{HOSTILE_QUERY}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "PATH_INFO": "/api/v1/imessage/conversations",
        "QUERY_STRING": HOSTILE_QUERY,
        "HTTP_REFERER": f"https://bluewire.example/console/?q={NUMBER}",
    }
    headers = [("X-API-KEY", KEY), ("REFERER", environ["HTTP_REFERER"])]

    atoms = ScrubbingGunicornLogger(Config()).atoms(
        Response(), headers, environ, timedelta(milliseconds=3)
    )

    text = repr(atoms)
    assert KEY not in text and "14155550100" not in text and "Jane" not in text
    assert atoms["{x-api-key}i"] == "-"
    assert "limit=5" in atoms["r"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_gunicorn_with_the_project_config_writes_a_scrubbed_access_log(tmp_path: Path):
    """The Production command of README, for real."""
    port = _free_port()
    log_file = tmp_path / "access.log"
    env = {**os.environ, "DEBUG": "true", "SECURE_SSL_REDIRECT": "false"}
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "-c",
            "python:console.gunicorn_config",
            "console.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--access-logfile",
            str(log_file),
        ],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz?{HOSTILE_QUERY}", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "gunicorn did not come up"
                time.sleep(0.2)
        while "healthz" not in (log_file.read_text() if log_file.exists() else ""):
            assert time.monotonic() < deadline, "no access log line"
            time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=30)

    text = log_file.read_text()
    assert "api_key=[filtered]" in text and "limit=5" in text
    assert KEY not in text and "14155550100" not in text and "Jane" not in text
