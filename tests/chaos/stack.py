"""The chaos drill's production stack on local free ports, in one temporary directory.

PostgreSQL and Redis are private instances (never the machine's shared ones, which other
test runs use): the drill restarts them. gunicorn, the Celery worker and beat run the exact
commands of `deploy/*.service` (README's Production step 5) with this checkout's virtualenv.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
UNIT_VENV_BIN = "/opt/bluewire/.venv/bin/"
UNIT_BIND = "127.0.0.1:8000"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, condition: Callable[[], bool], timeout: float, every: float = 0.2) -> None:
    """Poll `condition` until it holds; raises TimeoutError naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except Exception:  # a service still coming up answers with errors: keep polling
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout:.0f}s")
        time.sleep(every)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def unit_command(unit: str, *, bind: str | None = None) -> list[str]:
    """The ExecStart of a `deploy/` unit, run from this checkout's virtualenv."""
    for line in (ROOT / "deploy" / unit).read_text().splitlines():
        if line.startswith("ExecStart="):
            argv = shlex.split(line.removeprefix("ExecStart="))
            argv[0] = str(VENV_BIN / argv[0].removeprefix(UNIT_VENV_BIN))
            if bind is not None:
                argv = [bind if arg == UNIT_BIND else arg for arg in argv]
            return argv
    raise ValueError(f"deploy/{unit} has no ExecStart")


@dataclass
class Proc:
    """One child process in its own session, its output in a log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    expected_exits: int = 0
    pids: list[int] = field(default_factory=list)

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.starts += 1
        self.pids.append(self.process.pid)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group (a crash: nothing gets to clean up)."""
        assert self.process is not None
        self.expected_exits += 1
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 30) -> None:
        if not self.alive():
            return
        assert self.process is not None
        self.expected_exits += 1
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def unexpected_exits(self) -> int:
        """Exits nobody asked for: starts minus the running one minus deliberate ones."""
        return self.starts - (1 if self.alive() else 0) - self.expected_exits


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (initdb) on a free port, owned by a non-root user."""

    def __init__(self, base: Path) -> None:
        self.dir = base / "pg"
        self.dir.mkdir()
        self.data = self.dir / "data"
        self.port = free_port()
        self.log_path = base / "logs" / "postgresql.log"
        self.runas: list[str] = []
        if os.geteuid() == 0:
            # initdb refuses root; the postgres user owns the cluster directory.
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            os.chmod(base, 0o755)
            self.runas = ["runuser", "-u", "postgres", "--"]
        self.url = f"postgres://postgres@127.0.0.1:{self.port}"

    def _run(self, *argv: str) -> None:
        subprocess.run(
            [*self.runas, *argv], check=True, capture_output=True, timeout=120, cwd=self.dir
        )

    def init(self) -> None:
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
            "-c max_connections=200 -c fsync=off -c full_page_writes=off"
        )
        server_log = self.dir / "server.log"
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(server_log), "-o", options,
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        try:
            with psycopg.connect(f"{self.url}/postgres", connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def create_database(self, name: str) -> str:
        with psycopg.connect(f"{self.url}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"{self.url}/{name}"

    def teardown(self) -> None:
        if self.running():
            self.stop()
        server_log = self.dir / "server.log"
        if server_log.exists():
            shutil.copyfile(server_log, self.log_path)


class PrivateRedis:
    """A redis-server without persistence on a free port: a restart loses every queue."""

    def __init__(self, base: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        argv = [
            shutil.which("redis-server") or "redis-server",
            "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(base),
        ]  # fmt: skip
        self.proc = Proc("redis", argv, env, base / "logs" / "redis.log")

    def ping(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=1).ping())
        except (redis.exceptions.RedisError, OSError):
            return False

    def start(self) -> None:
        self.proc.start()
        wait_for("redis answering PING", self.ping, 30)

    def stop(self) -> None:
        self.proc.stop()


def production_env(
    *, database_url: str, broker_url: str, web: str, simulator: str, static_root: Path
) -> dict[str, str]:
    """README's plain-HTTP production settings for the drill's stack (loopback only), with
    sweeps and leases short enough to settle in minutes instead of hours."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "console.settings.base",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CSRF_TRUSTED_ORIGINS": web,
        "PUBLIC_BASE_URL": web,
        "STATIC_ROOT": str(static_root),
        # README's plain-HTTP deployment (loopback only).
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "SECURE_HSTS_SECONDS": "0",
        "WEBHOOKS_ALLOW_LOOPBACK": "true",
        "PROVIDER_NAME": "simulator",
        "PROVIDER_BASE_URL": simulator,
        "PROVIDER_TIMEOUT_SECONDS": "3",
        "PROVIDER_MAX_RETRIES": "1",
        # Short sweeps and leases, so the drill settles in minutes instead of hours.
        "SWEEP_INTERVAL_SECONDS": "2",
        "SEND_SWEEP_GRACE_SECONDS": "5",
        "SEND_STUCK_TIMEOUT_SECONDS": "40",
        "TASK_SOFT_TIME_LIMIT_SECONDS": "20",
        "TASK_TIME_LIMIT_SECONDS": "30",
        "WEBHOOK_TIMEOUT_SECONDS": "5",
        "WEBHOOK_RETRY_BASE_SECONDS": "1",
        "WEBHOOK_RETRY_MAX_DELAY_SECONDS": "5",
        "WEBHOOK_SWEEP_GRACE_SECONDS": "3",
        # The delivery lease grows with the batch (2 x timeout per round of concurrency):
        # 20 keeps it at 60 s, well inside the drill's settle window.
        "WEBHOOK_BATCH_SIZE": "20",
        "SEND_CAP_PER_24H": "100000",
        "CONVERSATION_BURST_LIMIT": "100000",
        "POOL_LINE_NEW_CONTACTS_PER_HOUR": "1000",
        "POOL_LINE_NEW_CONTACTS_PER_DAY": "1000",
        "LOG_LEVEL": "INFO",
    }
