"""`make bench`: seed a million messages, start the production stack, measure every figure
next to its baseline, and write `bench/results.json` and `bench/RESULTS.md`.

Stack: the machine's PostgreSQL (127.0.0.1:5432, user postgres) with a database of its own
(`bluewire_bench`, copied from the seeded template `bluewire_bench_seed`, which is reused
while the seed code, the migrations and the sizes are unchanged), Redis (db 14), gunicorn
(gthread workers, DEBUG off) and Celery prefork workers. The load generator
(tests/bench/loadgen.py) and the webhook receiver (tests/bench/receiver.py) are separate
processes on loopback.

Absolute numbers on a shared two-core machine are noisy, so each figure runs next to its
baseline, alternating, and the targets are ratios. A figure whose endpoint is missing or
failing is reported as "not measured: <reason>" instead of stopping the run.

    python -m tests.bench.run [--quick] [--reseed] [--only ingest,read,...]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "bench" / "scratch"
RESULTS_JSON = ROOT / "bench" / "results.json"
RESULTS_MD = ROOT / "bench" / "RESULTS.md"
NOTES_MD = ROOT / "bench" / "NOTES.md"
PY = sys.executable

PG = "postgres://postgres@127.0.0.1:5432"
DB = "bluewire_bench"
TEMPLATE_DB = "bluewire_bench_seed"
REDIS_URL = "redis://127.0.0.1:6379/14"
WEB_PORT = 18080
# What beat would do in production (ACCESS_TALLY_DRAIN_SECONDS' default).
TALLY_DRAIN_SECONDS = 60
RECEIVER_PORT = 18081
BASE = f"http://127.0.0.1:{WEB_PORT}"
RECEIVER_URL = f"http://127.0.0.1:{RECEIVER_PORT}/hook"

# The seeded template holds secrets encrypted with this key, so it must not change between
# runs; it protects nothing but benchmark rows.
BENCH_FERNET_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"bluewire-bench").digest()).decode()


@dataclass
class Config:
    messages: int = 1_000_000
    conversations: int = 100_000
    identities: int = 50
    web_workers: int = 4
    web_threads: int = 2
    celery_workers: int = 2
    # Deliveries wait on the receiver and on commits, not on CPU: threads per worker process.
    celery_threads: int = 8
    concurrency: int = 16
    duration: float = 10.0
    warmup: float = 3.0
    rounds: int = 3
    memory_requests: int = 20_000
    memory_seconds: float = 300
    connect_people: int = 500
    only: set[str] = field(default_factory=set)
    reseed: bool = False


def log(msg: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {msg}", flush=True)


# --- environment ------------------------------------------------------------------


def stack_env(db: str = DB) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "console.settings.base",
            "DEBUG": "false",
            "SECRET_KEY": "bench-secret-key-not-for-production-" + "x" * 20,
            "FIELD_ENCRYPTION_KEYS": BENCH_FERNET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_HSTS_SECONDS": "0",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "DATABASE_URL": f"{PG}/{db}",
            "CONN_MAX_AGE": "60",
            "CELERY_BROKER_URL": REDIS_URL,
            # Agent reads tallied as in production: queued in Redis, drained by one process.
            "ACCESS_TALLY_REDIS_URL": REDIS_URL,
            "CACHE_URL": "locmemcache://",
            "BENCH_ENDPOINTS_ENABLED": "true",
            "PUBLIC_BASE_URL": BASE,
            "PROVIDER_BASE_URL": "http://127.0.0.1:18082",
            # The figures measure throughput, not product limits: lift the caps.
            "SEND_CAP_PER_24H": "100000000",
            "CONVERSATION_BURST_LIMIT": "100000000",
            "POOL_LINE_NEW_CONTACTS_PER_HOUR": "100000000",
            "POOL_LINE_NEW_CONTACTS_PER_DAY": "100000000",
            "WEBHOOKS_ALLOW_LOOPBACK": "true",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def pg(db: str = "postgres", autocommit: bool = True) -> psycopg.Connection[Any]:
    return psycopg.connect(f"{PG}/{db}", autocommit=autocommit)


def sh(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 900) -> str:
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd[:4])} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        )
    return result.stdout


def ensure_services() -> None:
    if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"]).returncode != 0:
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
            check=True,
        )
        time.sleep(3)
    ping = subprocess.run(["redis-cli", "-h", "127.0.0.1", "ping"], capture_output=True)
    if ping.returncode != 0:
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=True,
        )
        time.sleep(1)


def pgbench_path() -> str | None:
    found = shutil.which("pgbench")
    if found:
        return found
    for path in sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench")):
        return str(path)
    return None


def redis_flush() -> None:
    subprocess.run(["redis-cli", "-n", "14", "flushdb"], capture_output=True)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    with suppress(Exception), pg() as conn:
        info["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    with suppress(Exception):
        out = subprocess.run(["redis-cli", "info", "server"], capture_output=True, text=True).stdout
        info["redis"] = next(
            line.split(":", 1)[1].strip()
            for line in out.splitlines()
            if line.startswith("redis_version")
        )
    from importlib.metadata import version

    for pkg in ("django", "djangorestframework", "gunicorn", "celery", "psycopg"):
        with suppress(Exception):
            info[pkg] = version(pkg)
    return info


# --- database: seeded template, cached ---------------------------------------------


def fingerprint(cfg: Config) -> str:
    h = hashlib.sha256()
    files = sorted(ROOT.glob("*/migrations/*.py")) + sorted(ROOT.glob("*/*/migrations/*.py"))
    files.append(ROOT / "messaging" / "management" / "commands" / "seed_load.py")
    files += sorted((ROOT / "messaging" / "bench_data").glob("*.py"))
    files.append(ROOT / "console" / "ui" / "bench.py")
    for f in files:
        h.update(str(f.relative_to(ROOT)).encode())
        h.update(f.read_bytes())
    h.update(f"{cfg.messages}/{cfg.conversations}/{cfg.identities}".encode())
    return h.hexdigest()[:16]


CREATE_BENCH_TABLES = """
import django
django.setup()
from django.db import connection
from console.ui.bench import BENCH_TABLES_SQL
with connection.cursor() as cursor:
    for statement in BENCH_TABLES_SQL:
        cursor.execute(statement)
"""


def _drop(conn: psycopg.Connection[Any], name: str) -> None:
    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
    )
    conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def prepare_database(cfg: Config) -> dict[str, Any]:
    fp = fingerprint(cfg)
    keys_file = WORK / f"keys-{fp}.json"
    with pg() as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [TEMPLATE_DB],
        ).fetchone()
        cached = row is not None and row[0] == fp and keys_file.exists() and not cfg.reseed
        if not cached:
            log(f"seeding {cfg.messages} messages into {TEMPLATE_DB} (fingerprint {fp})")
            _drop(conn, TEMPLATE_DB)
            conn.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
            env = stack_env(TEMPLATE_DB)
            t0 = time.monotonic()
            sh([PY, "manage.py", "migrate", "--skip-checks", "-v0"], env=env)
            out = sh(
                [
                    PY,
                    "manage.py",
                    "seed_load",
                    "--skip-checks",
                    "--messages",
                    str(cfg.messages),
                    "--conversations",
                    str(cfg.conversations),
                    "--identities",
                    str(cfg.identities),
                    "--keys-file",
                    str(keys_file),
                ],
                env=env,
                timeout=1800,
            )
            log(out.strip().splitlines()[-1])
            # The baseline tables live only in the bench database (console/ui/bench.py).
            sh([PY, "-c", CREATE_BENCH_TABLES], env=env)
            with pg(TEMPLATE_DB) as tconn:
                tconn.execute("VACUUM ANALYZE")
            conn.execute(f"COMMENT ON DATABASE \"{TEMPLATE_DB}\" IS '{fp}'")
            seed_seconds = time.monotonic() - t0
        else:
            log(f"reusing seeded template {TEMPLATE_DB} (fingerprint {fp})")
            seed_seconds = None
        t0 = time.monotonic()
        _drop(conn, DB)
        conn.execute(f'CREATE DATABASE "{DB}" TEMPLATE "{TEMPLATE_DB}"')
        log(f"copied template in {time.monotonic() - t0:.1f}s")
    keys = json.loads(keys_file.read_text())
    keys["_seed_seconds"] = seed_seconds
    keys["_fingerprint"] = fp
    return keys


# --- processes ----------------------------------------------------------------------


class Proc:
    def __init__(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.logfile = open(WORK / f"{name}.log", "ab")  # noqa: SIM115
        self.p = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=self.logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.p.pid

    def stop(self, timeout: float = 20) -> None:
        if self.p.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self.logfile.close()


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


def start_web(cfg: Config) -> Proc:
    cmd = [
        str(Path(PY).parent / "gunicorn"),
        "--config",
        "python:console.gunicorn_config",
        "console.wsgi:application",
        "--bind",
        f"127.0.0.1:{WEB_PORT}",
        "--workers",
        str(cfg.web_workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(cfg.web_threads),
        "--backlog",
        "2048",
        "--keep-alive",
        "30",
        "--log-level",
        "warning",
    ]
    proc = Proc("gunicorn", cmd, stack_env())
    wait_http(f"{BASE}/healthz")
    return proc


def start_celery(cfg: Config) -> list[Proc]:
    """`celery_workers` worker processes (B4 uses as many), each a pool of threads."""
    return [
        Proc(
            f"celery{i}",
            [
                str(Path(PY).parent / "celery"),
                "-A",
                "console",
                "worker",
                "-n",
                f"bench{i}@%h",
                "--pool",
                "threads",
                "--concurrency",
                str(cfg.celery_threads),
                "--loglevel",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            stack_env(),
        )
        for i in range(cfg.celery_workers)
    ]


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- measuring ----------------------------------------------------------------------


def loadgen(cfg: Config, scenario: str, params: dict[str, Any], **over: Any) -> dict[str, Any]:
    spec = {
        "base_url": BASE,
        "scenario": scenario,
        "concurrency": over.get("concurrency", cfg.concurrency),
        "duration": over.get("duration", cfg.duration),
        "warmup": over.get("warmup", cfg.warmup),
        "max_requests": over.get("max_requests"),
        "params": params,
    }
    with tempfile.TemporaryDirectory() as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_path.write_text(json.dumps(spec))
        sh([PY, "-m", "tests.bench.loadgen", str(spec_path), str(out_path)], timeout=900)
        result = json.loads(out_path.read_text())
    log(
        f"  {scenario}: {result['throughput_rps']} req/s, p50 {result['p50_ms']} ms, "
        f"p99 {result['p99_ms']} ms, statuses {result['statuses']}; "
        f"CPU ms per request {result.get('cpu_ms_per_request') or 'n/a'}"
    )
    return result


def usable(result: dict[str, Any]) -> str | None:
    """None when a run measured the endpoint; else why it did not."""
    total = result["requests"]
    if total == 0:
        return "no request completed"
    if result["ok"] < 0.95 * total:
        return (
            f"{total - result['ok']} of {total} requests failed: {'; '.join(result['errors'][:2])}"
        )
    return None


def pgbench_b3(cfg: Config) -> dict[str, Any]:
    binary = pgbench_path()
    if binary is None:
        return {"error": "pgbench not found (install postgresql-client)"}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "b3.sql"
        script.write_text(
            'INSERT INTO bench_b1_row (payload) VALUES (\'{"worker": 1, "text": "b3"}\');\n'
        )
        cmd = [
            binary,
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-n",
            "-c",
            str(cfg.concurrency),
            "-j",
            "2",
            "-T",
            str(int(cfg.duration)),
            "-f",
            str(script),
            "-l",
            "--log-prefix",
            str(Path(tmp) / "log"),
            DB,
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp).stdout
        tps = None
        for line in out.splitlines():
            if (line.startswith("tps") and "without initial" in line) or (
                line.startswith("tps") and tps is None
            ):
                tps = float(line.split("=")[1].split()[0])
        lat: list[float] = []
        for f in Path(tmp).glob("log*"):
            for line in f.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3:
                    lat.append(int(parts[2]) / 1000)
        lat.sort()

    def pct(q: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(q * (len(lat) - 1)))], 3) if lat else None

    log(f"  pgbench: {tps} tps, p99 {pct(0.99)} ms")
    return {"throughput_rps": tps, "p50_ms": pct(0.5), "p95_ms": pct(0.95), "p99_ms": pct(0.99)}


def receiver_stats() -> dict[str, Any]:
    return httpx.get(f"http://127.0.0.1:{RECEIVER_PORT}/stats", timeout=5).json()


def receiver_reset() -> None:
    httpx.post(f"http://127.0.0.1:{RECEIVER_PORT}/reset", timeout=5)


def wait_delivered(expected: int, *, idle: float = 10, limit: float = 150) -> dict[str, Any]:
    """Wait until the receiver got `expected` POSTs, or nothing more arrived for `idle`
    seconds after the first one (worker start-up is not counted: the rate runs from the
    first delivery to the last)."""
    deadline = time.monotonic() + limit
    last_count, last_change = 0, time.monotonic()
    while time.monotonic() < deadline:
        stats = receiver_stats()
        if stats["count"] >= expected:
            return stats
        if stats["count"] != last_count:
            last_count, last_change = stats["count"], time.monotonic()
        elif last_count and time.monotonic() - last_change > idle:
            return stats
        time.sleep(0.5)
    return receiver_stats()


def rate(stats: dict[str, Any]) -> float | None:
    if not stats["count"] or stats["first"] is None or stats["last"] == stats["first"]:
        return None
    # n arrivals span n-1 intervals.
    return round((stats["count"] - 1) / (stats["last"] - stats["first"]), 1)


# --- figures ------------------------------------------------------------------------


@dataclass
class Figure:
    name: str
    measured: str
    target: str
    ours: str = ""
    baseline: str = ""
    ratio: float | None = None
    passed: bool | None = None
    note: str = ""
    runs: dict[str, Any] = field(default_factory=dict)
    # The machine's 1, 5 and 15 minute load averages when the figure was measured.
    load_average: list[float] = field(default_factory=list)
    # In-process CPU ms and statements per request (`request_costs`), ours and baseline's.
    costs: dict[str, Any] = field(default_factory=dict)


def alternate(
    cfg: Config, pairs: list[tuple[str, Callable[[], dict[str, Any]]]]
) -> dict[str, list[dict[str, Any]]]:
    """Run each measurement `rounds` times, interleaved, so drifting load hits all alike."""
    out: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in pairs}
    for _ in range(cfg.rounds):
        for name, fn in pairs:
            out[name].append(fn())
    return out


def med(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 2) if values else None


def spread(runs: list[dict[str, Any]], key: str) -> str:
    """The range of `key` over the rounds, e.g. "61.9-67.4" (empty for a single round)."""
    values = [r[key] for r in runs if r.get(key) is not None]
    return f"{min(values):g}-{max(values):g}" if len(values) > 1 else ""


def with_spread(value: str, runs: list[dict[str, Any]], key: str) -> str:
    rng = spread(runs, key)
    return f"{value} (rounds {rng})" if rng else value


def targets_from(keys: dict[str, Any]) -> dict[str, Any]:
    ingest, reads, sends, convo_keys = [], [], [], []
    for ident in keys["identities"]:
        convo_keys.append(ident["key"])
        for c in ident["conversations"]:
            if c["blocked"]:
                continue
            ingest.append(
                {
                    "setup_id": c["setup_id"],
                    "line_number": c["line_number"],
                    "remote_number": c["remote_number"],
                }
            )
            if c["pool"]:
                sends.append({"key": ident["key"], "remote_number": c["remote_number"]})
            if c["messages"] >= 50:
                reads.append({"key": ident["key"], "conversation_id": c["conversation_id"]})
    return {
        "ingest": {"targets": ingest, "webhook_secret": keys["webhook_secret"]},
        "read_conversations": {"keys": convo_keys},
        "read_messages": {"targets": reads},
        "send": {"targets": sends},
    }


def create_subscriptions(keys: dict[str, Any]) -> str | None:
    """One `imessage.received` subscription per identity, to the local receiver."""
    failures = []
    with httpx.Client(base_url=BASE, timeout=10) as client:
        for ident in keys["identities"]:
            r = client.post(
                "/api/v1/webhooks/subscriptions",
                headers={"X-API-Key": ident["key"]},
                json={
                    "url": RECEIVER_URL,
                    "event_types": ["imessage.received"],
                    "agent_identity_id": ident["id"],
                },
            )
            if r.status_code not in (200, 201):
                failures.append(f"{r.status_code} {r.text[:200]}")
    if failures:
        return f"subscriptions could not be created ({len(failures)}): {failures[0]}"
    return None


def fmt(v: float | None, unit: str) -> str:
    return "n/a" if v is None else f"{v:g} {unit}"


def ratio_figure(
    fig: Figure,
    runs: dict[str, list[dict[str, Any]]],
    ours_key: str,
    base_key: str,
    minimum: float,
    *,
    extra_base: tuple[str, list[dict[str, Any]]] | None = None,
) -> Figure:
    fig.runs = runs
    bad = next((usable(r) for r in runs[ours_key] if usable(r)), None)
    if bad:
        fig.ours = f"not measured: {bad}"
        fig.note = bad
        return fig
    ours = med(runs[ours_key], "throughput_rps")
    base = med(runs[base_key], "throughput_rps")
    fig.ours = with_spread(fmt(ours, "req/s"), runs[ours_key], "throughput_rps")
    fig.baseline = with_spread(
        f"{base_key.upper()} {fmt(base, 'req/s')}", runs[base_key], "throughput_rps"
    )
    if ours and base:
        fig.ratio = round(ours / base, 3)
        fig.passed = fig.ratio >= minimum
    if extra_base:
        name, b_runs = extra_base
        b = med(b_runs, "throughput_rps")
        if ours and b:
            fig.baseline += f"; {name} {fmt(b, 'tps')} (ratio {ours / b:.3f})"
    return fig


def figure_ingest(cfg: Config, t: dict[str, Any], b3: list[dict[str, Any]]) -> Figure:
    fig = Figure(
        "ingest",
        "provider `receive` webhooks, connected conversations, accepted/s",
        ">= 0.40 x B1; ratio to B3 reported",
    )
    runs = alternate(
        cfg,
        [
            ("b1", lambda: loadgen(cfg, "b1", {})),
            ("ingest", lambda: loadgen(cfg, "ingest", t["ingest"])),
        ],
    )
    fig = ratio_figure(fig, runs, "ingest", "b1", 0.40, extra_base=("B3 pgbench", b3))
    # A 200 only says the event was recorded: check that the messages were really stored.
    with pg(DB) as conn:
        rows = dict(
            conn.execute(
                "SELECT status, count(*) FROM provisioning_providerevent "
                "WHERE received_at > now() - interval '1 hour' GROUP BY status"
            ).fetchall()
        )
        stored = conn.execute(
            "SELECT count(*) FROM messaging_message "
            "WHERE direction = 'inbound' AND created_at > now() - interval '1 hour'"
        ).fetchone()[0]  # type: ignore[index]
    total = sum(rows.values())
    fig.note = f"provider events by status {rows}; inbound messages stored {stored}"
    if total and (rows.get("failed", 0) + rows.get("ignored", 0)) > 0.05 * total:
        fig.ours = f"not measured: events were not processed ({rows}); {fig.ours}"
        fig.passed = None
    return fig


def figure_send(cfg: Config, t: dict[str, Any]) -> Figure:
    fig = Figure(
        "send", "`POST /imessage/messages` with every check and the cap, accepted/s", ">= 0.30 x B1"
    )
    if not t["send"]["targets"]:
        fig.ours = "not measured: no connected conversation in the dataset"
        return fig
    runs = alternate(
        cfg,
        [
            ("b1", lambda: loadgen(cfg, "b1", {})),
            ("send", lambda: loadgen(cfg, "send", t["send"])),
        ],
    )
    return ratio_figure(fig, runs, "send", "b1", 0.30)


def figure_read(cfg: Config, t: dict[str, Any], queries: dict[str, Any]) -> Figure:
    fig = Figure(
        "read",
        "`GET conversations` and `GET messages?conversation_id=` (limit 50), p99",
        "p99 <= 3 x B2 p99; queries per request constant",
    )
    runs = alternate(
        cfg,
        [
            ("b2", lambda: loadgen(cfg, "b2", {})),
            (
                "read_conversations",
                lambda: loadgen(cfg, "read_conversations", t["read_conversations"]),
            ),
            ("read_messages", lambda: loadgen(cfg, "read_messages", t["read_messages"])),
        ],
    )
    fig.runs = runs
    problems = [
        f"{name}: {usable(r)}"
        for name in ("read_conversations", "read_messages")
        for r in runs[name]
        if usable(r)
    ]
    if problems:
        fig.ours = f"not measured: {problems[0]}"
        return fig
    b2 = med(runs["b2"], "p99_ms")
    conv = med(runs["read_conversations"], "p99_ms")
    msgs = med(runs["read_messages"], "p99_ms")
    conv_text = with_spread(
        f"conversations p99 {fmt(conv, 'ms')}", runs["read_conversations"], "p99_ms"
    )
    msgs_text = with_spread(f"messages p99 {fmt(msgs, 'ms')}", runs["read_messages"], "p99_ms")
    fig.ours = f"{conv_text}; {msgs_text}"
    fig.baseline = with_spread(f"B2 p99 {fmt(b2, 'ms')}", runs["b2"], "p99_ms")
    if b2 and conv and msgs:
        fig.ratio = round(max(conv, msgs) / b2, 2)
        constant = queries.get("constant")
        fig.passed = fig.ratio <= 3.0 and constant is True
        fig.note = (
            f"queries per request: {queries.get('summary', 'not measured')}; "
            f"ratio is the worse of the two lists"
        )
    return fig


def figure_fanout(
    cfg: Config, keys: dict[str, Any], pending_note: str | None
) -> tuple[Figure, list[str]]:
    fig = Figure(
        "fan-out",
        "webhook deliveries completed/s by the Celery workers to a local receiver",
        ">= 0.50 x B4",
    )
    if pending_note:
        fig.ours = f"not measured: {pending_note}"
        return fig, []
    with pg(DB) as conn:
        pending = conn.execute(
            "SELECT count(*) FROM webhooks_webhookdelivery WHERE status = 'pending'"
        ).fetchone()[0]  # type: ignore[index]
        bodies = [
            r[0]
            for r in conn.execute(
                "SELECT request_payload FROM webhooks_webhookdelivery "
                "ORDER BY created_at LIMIT 5000"
            ).fetchall()
        ]
    if pending < 100:
        fig.ours = f"not measured: only {pending} deliveries were pending after ingest"
        return fig, bodies
    receiver_reset()
    log(f"fan-out: {pending} pending deliveries; starting {cfg.celery_workers} Celery workers")
    workers = start_celery(cfg)
    try:
        # CPU per delivery counts from the first delivery on (worker start-up excluded).
        while receiver_stats()["count"] == 0 and all(w.p.poll() is None for w in workers):
            time.sleep(0.05)
        first_count = receiver_stats()["count"]
        cpu_started = sum(process_cpu_seconds(w.pid) for w in workers)
        stats = wait_delivered(pending)
        cpu = sum(process_cpu_seconds(w.pid) for w in workers) - cpu_started
    finally:
        for worker in workers:
            worker.stop()
    with pg(DB) as conn:
        done = conn.execute(
            "SELECT count(*) FROM webhooks_webhookdelivery WHERE status = 'succeeded'"
        ).fetchone()[0]  # type: ignore[index]
    ours = rate(stats)
    b4_runs = [b4(cfg, bodies) for _ in range(cfg.rounds)]
    b4_rate = med(b4_runs, "throughput_rps")
    delivered_meanwhile = stats["count"] - first_count
    fig.runs = {"fanout": stats, "succeeded_rows": done, "pending_before": pending, "b4": b4_runs}
    fig.costs = {
        "ours": {
            "delivery": {
                "cpu_ms": round(cpu * 1000 / delivered_meanwhile, 3)
                if delivered_meanwhile
                else None,
                "note": "worker processes' CPU per delivery, first delivery to last",
            }
        },
        "baseline": {"b4": {"cpu_ms": med(b4_runs, "cpu_ms_per_post")}},
    }
    fig.ours = f"{fmt(ours, 'deliveries/s')} ({stats['count']} of {pending} delivered)"
    fig.baseline = with_spread(
        f"B4 {fmt(b4_rate, 'posts/s')} ({cfg.celery_workers} processes)", b4_runs, "throughput_rps"
    )
    if ours and b4_rate:
        fig.ratio = round(ours / b4_rate, 3)
        fig.passed = fig.ratio >= 0.5 and stats["count"] >= pending
    return fig, bodies


def b4(cfg: Config, bodies: list[str]) -> dict[str, Any]:
    receiver_reset()
    # The B4 processes are this process's only children waited for meanwhile.
    cpu_before = children_cpu_seconds()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bodies.json"
        path.write_text(json.dumps(bodies))
        procs = [
            subprocess.Popen(
                [
                    PY,
                    "-m",
                    "tests.bench.b4",
                    str(path),
                    str(i),
                    str(cfg.celery_workers),
                    RECEIVER_URL,
                ],
                cwd=ROOT,
            )
            for i in range(cfg.celery_workers)
        ]
        for p in procs:
            p.wait(300)
    stats = receiver_stats()
    cpu = children_cpu_seconds() - cpu_before
    result = {
        "throughput_rps": rate(stats),
        "count": stats["count"],
        "cpu_ms_per_post": round(cpu * 1000 / stats["count"], 3) if stats["count"] else None,
    }
    log(f"  b4: {result['throughput_rps']} posts/s over {stats['count']} posts")
    return result


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU of a running process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CONNECT_P99_MS = 2000


def figure_connect(cfg: Config, keys: dict[str, Any]) -> Figure:
    fig = Figure(
        "connect",
        "`connect @handle` to connection confirmed, 50 concurrent people",
        "p99 <= 2 s; exactly one connection each",
    )
    params = {
        "handles": [i["handle"] for i in keys["identities"]],
        "router_line": keys["router_line"],
        "webhook_secret": keys["webhook_secret"],
        "first_number": 8_000_000,
    }
    result = loadgen(
        cfg,
        "connect",
        params,
        concurrency=50,
        warmup=0,
        max_requests=cfg.connect_people,
        duration=300,
    )
    fig.runs = {"connect": result}
    bad = usable(result)
    if bad:
        fig.ours = f"not measured: {bad}"
        return fig
    people = result["extra"]["people"]
    by_handle = {i["handle"]: i["id"] for i in keys["identities"]}
    with pg(DB) as conn:
        rows = conn.execute(
            "SELECT remote_number, identity_id::text, count(*) FROM routing_assignment "
            "WHERE status = 'active' AND remote_number = ANY(%s) GROUP BY 1, 2",
            [[p for p, _ in people]],
        ).fetchall()
    got = {(r[0], r[1]): r[2] for r in rows}
    exact = sum(1 for p, h in people if got.get((p, by_handle.get(h))) == 1)
    extra = sum(1 for v in got.values() if v > 1)
    fig.ours = (
        f"p99 {result['p99_ms']} ms at {result['throughput_rps']} connects/s; "
        f"{exact} of {len(people)} people connected exactly once"
    )
    fig.baseline = "n/a"
    fig.passed = (
        exact == len(people)
        and extra == 0
        and len(people) == cfg.connect_people
        and result["p99_ms"] <= CONNECT_P99_MS
    )
    fig.note = (
        f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms; duplicate connections: {extra}"
    )
    return fig


def figure_memory(cfg: Config, web: Proc, t: dict[str, Any]) -> Figure:
    fig = Figure(
        "memory",
        "RSS per gunicorn worker after 20,000 mixed requests vs after warm-up",
        "growth < 10 %; report MB",
    )
    workers = children(web.pid)
    mix = {
        k: v
        for k, v in {"read_conversations": 3, "read_messages": 3, "ingest": 2, "send": 2}.items()
    }
    params: dict[str, Any] = {"mix": mix, **{k: t[k] for k in mix}}
    warm = loadgen(cfg, "mixed", params, warmup=0, max_requests=2000, duration=120)
    before = {pid: rss_mb(pid) for pid in workers}
    # Time-boxed so `make bench` stays under 20 minutes on a slow or busy machine.
    run = loadgen(
        cfg,
        "mixed",
        params,
        warmup=0,
        max_requests=cfg.memory_requests,
        duration=cfg.memory_seconds,
    )
    after = {pid: rss_mb(pid) for pid in workers if Path(f"/proc/{pid}").exists()}
    fig.runs = {"warm": warm, "run": run, "before_mb": before, "after_mb": after}
    if set(after) != set(before):
        fig.ours = "not measured: a worker restarted during the run"
        return fig
    growth = max((after[p] - before[p]) / before[p] for p in before)
    fig.ours = (
        f"{statistics.mean(before.values()):.0f} MB -> {statistics.mean(after.values()):.0f} MB "
        f"per worker (worst growth {growth * 100:.1f} %) after {run['requests']} requests"
    )
    fig.baseline = "after warm-up"
    fig.ratio = round(1 + growth, 3)
    fig.passed = growth < 0.10
    bad = usable(run)
    fig.note = f"mixed run: {run['ok']} ok of {run['requests']} requests" + (
        f"; {bad}" if bad else ""
    )
    if run["requests"] < cfg.memory_requests:
        fig.note += f" (time-boxed at {cfg.memory_seconds:g} s before {cfg.memory_requests})"
    return fig


def query_counts(cfg: Config) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "q.json"
        try:
            sh(
                [PY, "-m", "tests.bench.queries", str(WORK / "keys-current.json"), str(out)],
                env=stack_env(),
                timeout=600,
            )
        except RuntimeError as exc:
            return {"summary": f"not measured: {str(exc)[-300:]}", "constant": None}
        return json.loads(out.read_text())


# --- report -------------------------------------------------------------------------


def capacity(cfg: Config, info: dict[str, Any], figures: list[Figure]) -> list[str]:
    """Messages per day per core, from the measured rates (the whole machine's cores are
    charged, PostgreSQL and the load generator included, so these are floors)."""
    cores = info.get("cores") or 1
    by_name = {f.name: f for f in figures}
    rows = []

    def per_day(rate_: float | None, per: int) -> str:
        return "n/a" if not rate_ else f"{rate_ / per * 86400:,.0f}"

    def rps(fig: Figure | None, key: str) -> float | None:
        if fig is None or fig.ours.startswith("not measured"):
            return None
        runs = fig.runs.get(key)
        if isinstance(runs, list):
            return med(runs, "throughput_rps")
        if isinstance(runs, dict):
            return rate(runs) if "count" in runs else None
        return None

    ingest = rps(by_name.get("ingest"), "ingest")
    send = rps(by_name.get("send"), "send")
    fanout = rps(by_name.get("fan-out"), "fanout")
    rows.append(f"| inbound messages (ingest) | {per_day(ingest, cores)} per web core |")
    rows.append(f"| outbound messages (send API) | {per_day(send, cores)} per web core |")
    rows.append(
        f"| webhook deliveries | {per_day(fanout, cfg.celery_workers)} per worker process "
        f"({cfg.celery_workers} on {cores} cores) |"
    )
    return [
        "",
        "## Capacity estimate",
        "",
        f"From the rates above, charged to all {cores} cores of this machine (web, "
        "PostgreSQL, Redis and the load generator share them, so these are floors):",
        "",
        "| traffic | messages per day |",
        "| --- | --- |",
        *rows,
    ]


def write_report(
    cfg: Config, info: dict[str, Any], figures: list[Figure], extra: dict[str, Any]
) -> None:
    RESULTS_JSON.parent.mkdir(exist_ok=True)
    data = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "config": {k: (sorted(v) if isinstance(v, set) else v) for k, v in cfg.__dict__.items()},
        "figures": [f.__dict__ for f in figures],
        **extra,
    }
    if cfg.only and RESULTS_JSON.exists():
        # A partial run (--only) replaces its figures and keeps the others' last results.
        previous = json.loads(RESULTS_JSON.read_text())
        fresh = {f.name for f in figures}
        known = Figure.__dataclass_fields__
        kept = [
            Figure(**{k: v for k, v in f.items() if k in known})
            for f in previous.get("figures", [])
            if f["name"] not in fresh
        ]
        order = [f["name"] for f in previous.get("figures", [])]
        figures = sorted(
            [*kept, *figures],
            key=lambda f: order.index(f.name) if f.name in order else len(order),
        )
        data["figures"] = [f.__dict__ for f in figures]
        for k, v in previous.items():
            data.setdefault(k, v)
    RESULTS_JSON.write_text(json.dumps(data, indent=1, default=str) + "\n")
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `make bench` at {data['generated_at']}. Ratios are measured side by side "
        "in one run on one machine; absolute numbers are noisy on a shared machine.",
        "",
        "| figure | ours | baseline | ratio | target | result |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in figures:
        verdict = "pass" if f.passed else ("falls short" if f.passed is False else "n/a")
        if f.ours.startswith("not measured"):
            verdict = "not measured"
        ratio = "" if f.ratio is None else f"{f.ratio:g}"
        lines.append(f"| {f.name} | {f.ours} | {f.baseline} | {ratio} | {f.target} | {verdict} |")
    lines += ["", "Notes per figure:", ""]
    lines += [f"- **{f.name}** ({f.measured}): {f.note or '-'}" for f in figures]
    lines += cost_lines(figures)
    lines += ["", "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    lines += [
        "",
        "## Setup",
        "",
        f"- dataset: {cfg.messages} messages, {cfg.conversations} conversations, "
        f"{cfg.identities} identities (`seed_load`); seeding took "
        f"{extra.get('seed_seconds') or 'cached'} s",
        f"- web: gunicorn {cfg.web_workers} workers x {cfg.web_threads} threads (gthread), "
        f"DEBUG off, CONN_MAX_AGE 60; Celery: {cfg.celery_workers} worker processes x "
        f"{cfg.celery_threads} threads on Redis",
        f"- load: {cfg.concurrency} concurrent keep-alive connections, {cfg.warmup} s warm-up "
        f"discarded, {cfg.duration} s measured, {cfg.rounds} interleaved rounds (median)",
        f"- total run time: {extra.get('total_seconds')} s",
    ]
    lines += capacity(cfg, info, figures)
    plans = extra.get("queries", {}).get("plans")
    if plans:
        lines += ["", "## Hot query plans (EXPLAIN ANALYZE at full volume)", ""]
        for p in plans:
            lines += [f"- `{p['endpoint']}`: {p['summary']}"]
    if NOTES_MD.exists():
        lines += ["", NOTES_MD.read_text().strip()]
    RESULTS_MD.write_text("\n".join(lines) + "\n")


def _cost_text(costs: dict[str, Any]) -> str:
    parts = []
    for name, c in costs.items():
        cpu = c.get("cpu_ms")
        text = f"{name} {'n/a' if cpu is None else f'{cpu:g}'} ms"
        if c.get("db_cpu_ms") is not None:
            text += f" (+ {c['db_cpu_ms']:g} ms in its PostgreSQL backend)"
        if c.get("statements") is not None:
            text += f", {c['statements']:g} statements"
        parts.append(text)
    return "; ".join(parts) or "-"


def cost_lines(figures: list[Figure]) -> list[str]:
    """What each request (or delivery) costs, ours and the baseline's, and the machine's
    load while the figure ran: the ratios' explanation on a noisy machine."""
    lines = [
        "",
        "## Cost per request and machine load",
        "",
        "CPU ms and statements per request in-process through the test client "
        "(`python -m tests.bench.profile SCENARIO 40 --cost`); fan-out: the Celery worker "
        "processes' CPU per delivery against B4's per post. Load average (1, 5, 15 min) when "
        "the figure finished.",
        "",
        "| figure | ours | baseline | load average |",
        "| --- | --- | --- | --- |",
    ]
    for f in figures:
        load = ", ".join(f"{x:g}" for x in f.load_average) or "-"
        ours = _cost_text(f.costs.get("ours", {}))
        base = _cost_text(f.costs.get("baseline", {}))
        lines.append(f"| {f.name} | {ours} | {base} | {load} |")
    lines += [
        "",
        "The whole machine's CPU per request while each load ran, by part of the stack "
        "(median over the rounds, ms; `tests/bench/loadgen.py`, `cpu_split`): what a ratio "
        "is made of when every part shares the same two cores.",
        "",
        "| run | web | db | db-background | loadgen | redis | other |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in figures:
        for scenario, measured in f.runs.items():
            runs = measured if isinstance(measured, list) else [measured]
            splits = [r.get("cpu_ms_per_request") for r in runs if isinstance(r, dict)]
            splits = [split for split in splits if split]
            if not splits:
                continue
            cells = []
            for group in ("web", "db", "db-background", "loadgen", "redis", "other"):
                values = [split[group] for split in splits if group in split]
                cells.append(f"{statistics.median(values):g}" if values else "-")
            lines.append(f"| {f.name}: {scenario} | {' | '.join(cells)} |")
    return lines


# --- main ---------------------------------------------------------------------------


def guarded(name: str, measure: Callable[[], Figure]) -> Figure:
    """A figure whose endpoint is missing or broken is reported, never fatal to the run."""
    try:
        fig = measure()
    except Exception as exc:
        log(f"  {name} failed: {exc!r}")
        fig = Figure(name, name, "", ours=f"not measured: {type(exc).__name__}: {exc}"[:300])
    fig.load_average = [round(x, 2) for x in os.getloadavg()]
    return fig


# Which in-process scenarios stand for each figure's requests, and its baseline's.
COST_SCENARIOS = {
    "ingest": (["ingest"], "b1"),
    "send": (["send"], "b1"),
    "read": (["read_conversations", "read_messages"], "b2"),
    "connect": (["connect"], None),
}


def request_costs(figures: list[Figure], requests: int = 40) -> None:
    """CPU ms and statements per request of each figure's requests and of its baseline's,
    in-process through Django's test client (`tests.bench.profile --cost`): the ratio's
    explanation on a machine too noisy for absolute rates."""
    measured: dict[str, Any] = {}

    def cost(scenario: str) -> Any:
        if scenario not in measured:
            out = sh(
                [PY, "-m", "tests.bench.profile", scenario, str(requests), "--cost"],
                env=stack_env(),
                timeout=300,
            )
            line = next((ln for ln in reversed(out.splitlines()) if ln.startswith("{")), "{}")
            measured[scenario] = json.loads(line)
        return measured[scenario]

    for fig in figures:
        if fig.name not in COST_SCENARIOS or fig.ours.startswith("not measured"):
            continue
        ours, base = COST_SCENARIOS[fig.name]
        try:
            fig.costs = {
                "ours": {name: cost(name) for name in ours},
                "baseline": {base: cost(base)} if base else {},
            }
        except Exception as exc:
            log(f"  costs of {fig.name} not measured: {exc!r}")


def rerender() -> None:
    data = json.loads(RESULTS_JSON.read_text())
    conf = {k: v for k, v in data["config"].items() if k in Config.__dataclass_fields__}
    cfg = Config(**{**conf, "only": set()})
    known = Figure.__dataclass_fields__
    figures = [Figure(**{k: v for k, v in f.items() if k in known}) for f in data["figures"]]
    extra = {
        k: v for k, v in data.items() if k not in {"generated_at", "machine", "config", "figures"}
    }
    write_report(cfg, data["machine"], figures, extra)


def parse_args() -> Config:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small dataset and short runs")
    ap.add_argument("--reseed", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument(
        "--report", action="store_true", help="re-render RESULTS.md from results.json (+ NOTES.md)"
    )
    args = ap.parse_args()
    if args.report:
        rerender()
        raise SystemExit(0)
    cfg = Config(reseed=args.reseed, only={s for s in args.only.split(",") if s})
    if args.quick:
        cfg.messages, cfg.conversations = 100_000, 10_000
        cfg.duration, cfg.warmup, cfg.rounds = 5, 1, 1
        cfg.memory_requests, cfg.connect_people = 3000, 100
    return cfg


@contextmanager
def running(procs: list[Proc]) -> Iterator[None]:
    try:
        yield
    finally:
        for p in reversed(procs):
            p.stop()


def main() -> None:
    started = time.monotonic()
    cfg = parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    ensure_services()
    info = machine()
    keys = prepare_database(cfg)
    (WORK / "keys-current.json").write_text(json.dumps(keys))
    t = targets_from(keys)

    def want(name: str) -> bool:
        return not cfg.only or name in cfg.only

    redis_flush()
    procs: list[Proc] = []
    figures: list[Figure] = []
    extra: dict[str, Any] = {"seed_seconds": keys["_seed_seconds"]}
    with running(procs):
        procs.append(
            Proc("receiver", [PY, "-m", "tests.bench.receiver", str(RECEIVER_PORT)], stack_env())
        )
        web = start_web(cfg)
        procs.append(web)
        procs.append(
            Proc(
                "tally-drain",
                [PY, "manage.py", "access_tally_drain", "--every", str(TALLY_DRAIN_SECONDS)],
                stack_env(),
            )
        )
        sub_problem = create_subscriptions(keys) if want("fan-out") or want("ingest") else None
        if sub_problem:
            log(sub_problem)
        b3_runs = [pgbench_b3(cfg) for _ in range(cfg.rounds)] if want("ingest") else []
        extra["b3"] = b3_runs
        if want("ingest"):
            log("figure: ingest (B1, B3)")
            figures.append(guarded("ingest", lambda: figure_ingest(cfg, t, b3_runs)))
        if want("fan-out"):
            log("figure: fan-out (B4)")
            figures.append(guarded("fan-out", lambda: figure_fanout(cfg, keys, sub_problem)[0]))
        redis_flush()
        queries: dict[str, Any] = {}
        if want("read"):
            log("query counts and plans (test client, EXPLAIN ANALYZE)")
            queries = query_counts(cfg)
            extra["queries"] = queries
            log(f"  {queries.get('summary')}")
            log("figure: read (B2)")
            figures.append(guarded("read", lambda: figure_read(cfg, t, queries)))
        if want("send"):
            log("figure: send (B1)")
            figures.append(guarded("send", lambda: figure_send(cfg, t)))
        if want("connect"):
            log("figure: connect")
            figures.append(guarded("connect", lambda: figure_connect(cfg, keys)))
        if want("memory"):
            log("figure: memory")
            figures.append(guarded("memory", lambda: figure_memory(cfg, web, t)))
        redis_flush()
        log("cost per request (in-process)")
        request_costs(figures)
    extra["total_seconds"] = round(time.monotonic() - started)
    write_report(cfg, info, figures, extra)
    log(f"done in {extra['total_seconds']} s: {RESULTS_MD.relative_to(ROOT)}")
    for f in figures:
        log(f"  {f.name}: {f.ours} | {f.baseline} | ratio {f.ratio} | passed {f.passed}")


if __name__ == "__main__":
    main()
