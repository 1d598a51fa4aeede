"""`make run` keeps var/ (patient text) owner-only."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from provisioning.management.commands import run_demo


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def restore_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    os.umask(previous)
    yield
    os.umask(previous)


@pytest.fixture
def loose_var(tmp_path: Path) -> Path:
    """A var/ as an earlier install left it: world-readable."""
    var = tmp_path / "var"
    (var / "broker" / "out").mkdir(parents=True)
    for name in ("bluewire.sqlite3", "simulator-state.json", "broker/out/msg.json"):
        (var / name).write_text("patient text")
    for path in [var, *var.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return var


def test_securing_var_makes_every_folder_0700_and_every_file_0600(loose_var: Path) -> None:
    run_demo.secure_var_dir(loose_var)

    for path in [loose_var, *loose_var.rglob("*")]:
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path


class Stop(Exception):
    pass


def test_run_demo_secures_var_and_creates_everything_owner_only(
    loose_var: Path, settings: Any, monkeypatch: pytest.MonkeyPatch, restore_umask: None
) -> None:
    settings.BASE_DIR = loose_var.parent
    settings.VAR_DIR = loose_var
    os.umask(0o022)
    seen: dict[str, int] = {}

    def fake_run(command: list[str], **kwargs: Any) -> None:
        # Stands in for `migrate`: the database file it creates takes the process umask.
        database = loose_var / "fresh.sqlite3"
        database.touch()
        seen["database"] = mode(database)
        seen["var"] = mode(loose_var)
        seen["old_database"] = mode(loose_var / "bluewire.sqlite3")
        seen["broker"] = mode(loose_var / "broker" / "processed")
        raise Stop

    monkeypatch.setattr(run_demo.subprocess, "run", fake_run)

    with pytest.raises(Stop):
        call_command("run_demo", port=free_port(), simulator_port=free_port())

    assert seen == {"database": 0o600, "var": 0o700, "old_database": 0o600, "broker": 0o700}
    assert mode(loose_var.parent / ".env") == 0o600
