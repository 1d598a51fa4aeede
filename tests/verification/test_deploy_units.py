"""The systemd units in deploy/ run the commands README's Production section names, restart
on failure, and the worker command is one and the same in Production and Scaling."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest

from tests.verification.production import ROOT

VENV_BIN = "/opt/bluewire/.venv/bin/"
UNITS = {
    "bluewire-web.service": (
        "gunicorn -c python:console.gunicorn_config console.wsgi:application"
        " --bind 127.0.0.1:8000 --workers 4 --timeout 30"
    ),
    "bluewire-worker.service": (
        "celery -A console worker --pool threads --concurrency 8 --loglevel INFO"
    ),
    "bluewire-beat.service": "celery -A console beat --loglevel INFO",
}


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((ROOT / "deploy" / name).read_text())
    return parser


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end]


@pytest.mark.parametrize("name", sorted(UNITS))
def test_each_unit_runs_the_readme_command_from_the_virtualenv(name: str) -> None:
    exec_start = shlex.split(unit(name)["Service"]["ExecStart"])
    assert exec_start[0].startswith(VENV_BIN)
    command = " ".join([exec_start[0].removeprefix(VENV_BIN), *exec_start[1:]])
    assert command == UNITS[name]
    assert command in readme_section("Production")


@pytest.mark.parametrize("name", sorted(UNITS))
def test_each_unit_restarts_whatever_ended_it(name: str) -> None:
    service = unit(name)["Service"]
    assert service["Restart"] == "always"
    assert int(service["RestartSec"]) > 0
    assert unit(name)["Install"]["WantedBy"] == "multi-user.target"


def test_the_worker_stops_after_its_running_jobs_can_finish() -> None:
    from console.settings import base

    service = unit("bluewire-worker.service")["Service"]
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"]) > base.CELERY_TASK_TIME_LIMIT


def test_production_and_scaling_name_the_same_worker_command() -> None:
    worker = UNITS["bluewire-worker.service"]
    assert worker in readme_section("Production")
    assert worker in readme_section("Scaling").replace("\n  ", " ")


def test_the_example_environment_file_names_only_documented_settings() -> None:
    configuration = readme_section("Configuration")
    names = [
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in Path(ROOT / "deploy" / "bluewire.env.example").read_text().splitlines()
        if "=" in line and not line.startswith("# python")
    ]
    for name in names:
        documented = name in configuration or name.removesuffix("_FILE") in configuration
        assert documented, f"{name} is not in README's Configuration table"
