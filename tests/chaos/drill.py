"""`make chaos`: the production stack under patient traffic while faults are injected.

    python -m tests.chaos.drill [--traffic-seconds 120] [--out bench/chaos.json]

It sets the stack up as README's Production section says (check --deploy, migrate,
collectstatic, create_platform_setup, create_org, create_identity, create_api_key, the
three commands of `deploy/`), on a private PostgreSQL and Redis, with the provider simulator
and a receiver that verifies every webhook signature. Patients connect through the router,
then text in (the simulator's handset endpoint) while the agent replies through the API with
Idempotency-Keys, retrying each as a client would. Meanwhile: worker SIGKILL (restarted like
systemd would), Redis down for 5 s, PostgreSQL restart, provider outage, receiver 500s.
After the sweeps have settled everything it checks the invariants of issue 12 and writes a
summary; it exits non-zero when one fails.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.chaos.invariants import (
    TOKEN,
    TOKEN_PREFIX,
    Observed,
    Reply,
    evaluate,
    scan_logs,
)
from tests.chaos.stack import (
    ROOT,
    PrivatePostgres,
    PrivateRedis,
    Proc,
    free_port,
    port_open,
    production_env,
    unit_command,
    wait_for,
)

HANDLE = "chaos-agent"
SUMMARY_PATH = ROOT / "bench" / "chaos.json"
FAILED_LOGS = ROOT / "bench" / "scratch" / "chaos-logs"
# A client gives up on one reply after this long (it retried with the same key until then).
REPLY_CLIENT_DEADLINE = 60.0
RETRIED_STATUSES = {409, 429, 500, 502, 503, 504}


@dataclass
class DrillConfig:
    patients: int = 8
    pool_lines: int = 2
    traffic_seconds: float = 100.0
    ops_per_second: float = 4.0
    client_threads: int = 4
    converge_timeout: float = 240.0
    seed: int = 12


@dataclass
class Ledger:
    inbound: list[tuple[str, str]] = field(default_factory=list)  # (token, patient)
    inbound_refused: int = 0
    replies: list[Reply] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def log(message: str) -> None:
    print(f"[chaos {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def token() -> str:
    return TOKEN_PREFIX + secrets.token_hex(8)


class Drill:
    def __init__(self, config: DrillConfig) -> None:
        self.config = config
        self.random = random.Random(config.seed)
        self.base = Path(tempfile.mkdtemp(prefix="bluewire-chaos-"))
        self.logs = self.base / "logs"
        self.logs.mkdir()
        self.ledger = Ledger()
        self.faults: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self.timings: dict[str, float] = {}
        self.pg = PrivatePostgres(self.base)
        self.web_port, self.sim_port, self.receiver_port = free_port(), free_port(), free_port()
        self.web = f"http://127.0.0.1:{self.web_port}"
        self.sim = f"http://127.0.0.1:{self.sim_port}"
        self.receiver = f"http://127.0.0.1:{self.receiver_port}"
        self.receiver_ledger = self.base / "receiver-ledger.jsonl"
        self.http = httpx.Client(timeout=10.0)
        self.procs: dict[str, Proc] = {}
        self.env: dict[str, str] = {}
        self.redis: PrivateRedis
        self.database_url = ""
        self.agent_key = ""
        self.router_number = ""
        self.lines_by_patient: dict[str, str] = {}

    # --- the stack ---------------------------------------------------------------

    def stack_env(self, broker_url: str) -> dict[str, str]:
        return production_env(
            database_url=self.database_url,
            broker_url=broker_url,
            web=self.web,
            simulator=self.sim,
            static_root=self.base / "static",
        )

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        with (self.logs / "manage.log").open("a") as out:
            out.write(f"$ manage.py {args[0]}\n{result.stderr}")
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def proc(self, name: str, argv: list[str]) -> Proc:
        process = Proc(name, argv, self.env, self.logs / f"{name}.log")
        self.procs[name] = process
        process.start()
        return process

    def start_stack(self) -> None:
        log(f"private PostgreSQL on {self.pg.port}")
        self.pg.init()
        self.pg.start()
        self.database_url = self.pg.create_database("bluewire")
        self.redis = PrivateRedis(self.base, {"PATH": "/usr/bin:/bin"})
        log(f"private Redis on {self.redis.port}")
        self.redis.start()
        self.env = self.stack_env(self.redis.url)
        deploy_check = subprocess.run(
            [sys.executable, "manage.py", "check", "--deploy"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.timings["deploy_check_warnings"] = float(
            len(set(re.findall(r"security\.W\d+", deploy_check.stderr + deploy_check.stdout)))
        )
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("collectstatic", "--noinput", "-v", "0")
        python = sys.executable
        self.proc(
            "simulator",
            [python, "manage.py", "run_simulator", "--port", str(self.sim_port),
             "--assign-immediately", "--status-delay", "0.3", "--quiet"],
        )  # fmt: skip
        self.proc(
            "receiver",
            [python, "-m", "tests.chaos.receiver", "--port", str(self.receiver_port),
             "--ledger", str(self.receiver_ledger)],
        )  # fmt: skip
        self.proc("web", unit_command("bluewire-web.service", bind=f"127.0.0.1:{self.web_port}"))
        self.proc("worker", unit_command("bluewire-worker.service"))
        self.proc(
            "beat",
            [*unit_command("bluewire-beat.service"), "--schedule", str(self.base / "beat")],
        )
        for port in (self.sim_port, self.receiver_port, self.web_port):
            wait_for(f"port {port} open", lambda port=port: port_open(port), 60)  # type: ignore[misc]
        wait_for("worker ready", lambda: " ready." in self.log_text("worker"), 60)
        self.timings["stack_started_s"] = round(time.monotonic() - self.started, 1)

    def log_text(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_stack(self) -> None:
        for name in ("web", "worker", "beat", "simulator", "receiver"):
            if name in self.procs:
                self.procs[name].stop()
        if hasattr(self, "redis"):
            self.redis.stop()
        self.pg.teardown()

    # --- tenancy, as README's Production steps 6 and 7 -----------------------------

    def set_up_tenancy(self) -> None:
        self.manage("create_platform_setup", "--pool", str(self.config.pool_lines))
        org = self.manage("create_org", "Chaos Clinic").strip()
        self.manage("create_identity", "--org", org, HANDLE, "--imessage")
        self.agent_key = self.manage(
            "create_api_key", "--org", org, "--identity", HANDLE, "--name", "chaos agent"
        ).strip()
        headers = {"X-API-Key": self.agent_key}
        catalog = self.http.get(f"{self.web}/api/v1/webhooks/catalog", headers=headers)
        catalog.raise_for_status()
        identity = self.http.get(f"{self.web}/api/v1/identities/{HANDLE}", headers=headers)
        identity.raise_for_status()
        created = self.http.post(
            f"{self.web}/api/v1/webhooks/subscriptions",
            headers=headers,
            json={
                "url": f"{self.receiver}/hook",
                "event_types": [e["event_type"] for e in catalog.json()["event_types"]],
                "agent_identity_id": identity.json()["id"],
            },
        )
        created.raise_for_status()
        self.http.post(
            f"{self.receiver}/control/key", json={"signing_key": created.json()["signing_key"]}
        ).raise_for_status()
        triage = self.http.get(f"{self.web}/api/v1/imessage/triage-number", headers=headers)
        triage.raise_for_status()
        self.router_number = triage.json()["number"]

    def connect_patients(self) -> None:
        patients = [f"+1415777{i:04d}" for i in range(self.config.patients)]
        for patient in patients:
            self.http.post(
                f"{self.sim}/phone/messages",
                json={
                    "from_number": patient,
                    "to_number": self.router_number,
                    "content": f"connect @{HANDLE}",
                },
            ).raise_for_status()

        def connected() -> bool:
            self.lines_by_patient = dict(
                self.query(
                    "SELECT a.remote_number, l.number FROM routing_assignment a "
                    "JOIN provisioning_phoneline l ON l.id = a.pool_line_id "
                    "WHERE a.status = 'active'"
                )
            )
            return len(self.lines_by_patient) == len(patients)

        wait_for("every patient connected", connected, 90, every=0.5)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, connect_timeout=5) as conn:
            return list(conn.execute(sql, params).fetchall())  # type: ignore[arg-type]

    # --- traffic -----------------------------------------------------------------

    def text_in(self, patient: str) -> None:
        text = token()
        try:
            response = self.http.post(
                f"{self.sim}/phone/messages",
                json={
                    "from_number": patient,
                    "to_number": self.lines_by_patient[patient],
                    "content": f"Patient says {text}",
                },
            )
        except httpx.HTTPError:
            response = None
        with self.ledger.lock:
            if response is not None and response.status_code == 202:
                self.ledger.inbound.append((text, patient))
            else:
                self.ledger.inbound_refused += 1

    def reply(self, patient: str) -> None:
        item = Reply(token=token(), patient=patient, key=str(uuid.uuid4()))
        with self.ledger.lock:
            self.ledger.replies.append(item)
        deadline = time.monotonic() + REPLY_CLIENT_DEADLINE
        while time.monotonic() < deadline:
            item.attempts += 1
            try:
                response = self.http.post(
                    f"{self.web}/api/v1/imessage/messages",
                    headers={"X-API-Key": self.agent_key, "Idempotency-Key": item.key},
                    json={"to": patient, "text": f"Agent replies {item.token}"},
                )
            except httpx.HTTPError:
                time.sleep(0.5)
                continue
            item.status = response.status_code
            if response.status_code in (200, 201):
                item.message_id = response.json()["message"]["id"]
                return
            if response.status_code not in RETRIED_STATUSES:
                return
            time.sleep(0.5)

    def traffic(self, stop: threading.Event) -> None:
        patients = sorted(self.lines_by_patient)
        interval = self.config.client_threads / self.config.ops_per_second

        def client(seed: int) -> None:
            rng = random.Random(seed)
            while not stop.is_set():
                patient = rng.choice(patients)
                if rng.random() < 0.5:
                    self.text_in(patient)
                else:
                    self.reply(patient)
                stop.wait(interval * rng.uniform(0.5, 1.5))

        threads = [
            threading.Thread(target=client, args=(self.config.seed + i,), daemon=True)
            for i in range(self.config.client_threads)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=REPLY_CLIENT_DEADLINE + 30)

    # --- faults ------------------------------------------------------------------

    def fault(self, name: str, action: Callable[[], None]) -> None:
        began = time.monotonic()
        log(f"fault: {name}")
        action()
        self.faults.append(
            {
                "fault": name,
                "at_s": round(began - self.traffic_began, 1),
                "took_s": round(time.monotonic() - began, 1),
            }
        )

    def kill_worker(self) -> None:
        worker = self.procs["worker"]
        worker.kill()
        time.sleep(3)  # the unit's RestartSec, shortened: systemd would restart it
        worker.start()
        wait_for(
            "restarted worker ready", lambda: self.log_text("worker").count(" ready.") >= 2, 60
        )

    def restart_redis(self) -> None:
        self.redis.stop()
        time.sleep(5)  # the fault window: Redis down for 5 s
        self.redis.start()

    def restart_postgres(self) -> None:
        self.pg.stop()
        time.sleep(3)  # the fault window: PostgreSQL down for 3 s
        self.pg.start()

    def provider_outage(self) -> None:
        self.http.post(f"{self.sim}/control/outage", json={"seconds": 10}).raise_for_status()

    def receiver_outage(self) -> None:
        self.http.post(f"{self.receiver}/control/fail", json={"seconds": 10}).raise_for_status()

    def inject(self, stop: threading.Event) -> None:
        span = self.config.traffic_seconds
        plan = [
            (0.05, "worker SIGKILL", self.kill_worker),
            (0.2, "Redis restart (down 5 s)", self.restart_redis),
            (0.35, "PostgreSQL restart (down 3 s)", self.restart_postgres),
            (0.5, "provider outage (10 s)", self.provider_outage),
            (0.65, "receiver answers 500 (10 s)", self.receiver_outage),
        ]
        for share, name, action in plan:
            if stop.wait(max(0.0, self.traffic_began + share * span - time.monotonic())):
                return
            self.fault(name, action)

    # --- convergence and invariants ----------------------------------------------

    def messages(self) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT id::text, direction, content, send_state, status, error_reason, error_code "
            "FROM messaging_message WHERE content LIKE %s",
            f"%{TOKEN_PREFIX}%",
        )
        keys = ("id", "direction", "content", "send_state", "status", "error_reason", "code")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def receiver_events(self) -> list[dict[str, Any]]:
        if not self.receiver_ledger.exists():
            return []
        return [json.loads(line) for line in self.receiver_ledger.read_text().splitlines()]

    def unsettled(self) -> dict[str, int]:
        """What still has to happen; empty when the stack has settled."""
        messages = self.messages()
        received = {
            e["message_id"]
            for e in self.receiver_events()
            if e["event_type"] == "imessage.received"
        }
        stored = {TOKEN.search(m["content"]).group(0) for m in messages}  # type: ignore[union-attr]
        open_counts = {
            "inbound_not_stored": sum(1 for t, _ in self.ledger.inbound if t not in stored),
            "inbound_not_delivered": sum(
                1 for m in messages if m["direction"] == "inbound" and m["id"] not in received
            ),
            "outbound_queued_or_sending": sum(
                1 for m in messages if m["send_state"] in ("queued", "sending")
            ),
            "outbound_awaiting_status": sum(
                1
                for m in messages
                if m["direction"] == "outbound" and m["status"] in ("queued", "accepted", "sent")
            ),
            "webhook_deliveries_pending": self.query(
                "SELECT count(*) FROM webhooks_webhookdelivery WHERE status = 'pending'"
            )[0][0],
            "router_replies_open": self.query(
                "SELECT count(*) FROM routing_routerreply WHERE state IN ('queued', 'sending')"
            )[0][0],
            "simulator_jobs": self.http.get(f"{self.sim}/control/state").json()["pending_jobs"],
        }
        return {k: v for k, v in open_counts.items() if v}

    def converge(self) -> dict[str, int]:
        deadline = time.monotonic() + self.config.converge_timeout
        left: dict[str, int] = {}
        while time.monotonic() < deadline:
            try:
                left = self.unsettled()
            except (psycopg.Error, httpx.HTTPError) as exc:
                left = {f"unreachable: {type(exc).__name__}": 1}
            if not left:
                return {}
            time.sleep(2)
        return left

    def handsets(self) -> Counter[str]:
        seen: Counter[str] = Counter()
        for patient in self.lines_by_patient:
            inbox = self.http.get(f"{self.sim}/phone/messages", params={"number": patient}).json()
            for item in inbox:
                found = TOKEN.search(item.get("content") or "")
                if found:
                    seen[found.group(0)] += 1
        return seen

    def check(self, left: dict[str, int]) -> dict[str, dict[str, Any]]:
        return evaluate(
            Observed(
                inbound=list(self.ledger.inbound),
                replies=list(self.ledger.replies),
                messages=self.messages(),
                events=self.receiver_events(),
                handset=self.handsets(),
                log_hits=scan_logs(self.logs),
                receiver_stats=self.http.get(f"{self.receiver}/control/stats").json(),
                unexpected_exits={n: p.unexpected_exits() for n, p in self.procs.items()},
                unsettled=left,
            )
        )

    # --- the whole drill ---------------------------------------------------------

    def run(self) -> dict[str, Any]:
        try:
            self.start_stack()
            self.set_up_tenancy()
            self.connect_patients()
            log(f"{len(self.lines_by_patient)} patients connected; traffic and faults begin")
            stop = threading.Event()
            self.traffic_began = time.monotonic()
            injector = threading.Thread(target=self.inject, args=(stop,), daemon=True)
            injector.start()
            traffic = threading.Thread(target=self.traffic, args=(stop,), daemon=True)
            traffic.start()
            stop.wait(self.config.traffic_seconds)
            stop.set()
            injector.join(timeout=120)
            traffic.join(timeout=REPLY_CLIENT_DEADLINE + 60)
            log("traffic stopped; waiting for the sweeps to settle everything")
            settle_began = time.monotonic()
            left = self.converge()
            self.timings["settled_after_traffic_s"] = round(time.monotonic() - settle_began, 1)
            invariants = self.check(left)
        finally:
            self.stop_stack_safely()
        # Logs are complete only once every process stopped: scan them again.
        leaks = {
            p.stem: len(TOKEN.findall(p.read_text(errors="replace")))
            for p in self.logs.glob("*.log")
        }
        invariants["no_patient_text_in_any_log"]["passed"] = not any(leaks.values())
        invariants["no_patient_text_in_any_log"]["hits_per_log"] = {
            k: v for k, v in leaks.items() if v
        }
        passed = all(item["passed"] for item in invariants.values())
        summary = {
            "passed": passed,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "duration_s": round(time.monotonic() - self.started, 1),
            "config": asdict(self.config),
            "timings": self.timings,
            "traffic": {
                "inbound_accepted_by_provider": len(self.ledger.inbound),
                "inbound_refused_by_provider": self.ledger.inbound_refused,
                "replies_attempted": len(self.ledger.replies),
                "reply_requests_sent": sum(r.attempts for r in self.ledger.replies),
            },
            "faults": self.faults,
            "invariants": invariants,
        }
        if not passed:
            shutil.rmtree(FAILED_LOGS, ignore_errors=True)
            shutil.copytree(self.logs, FAILED_LOGS)
            summary["logs"] = "bench/scratch/chaos-logs"
        shutil.rmtree(self.base, ignore_errors=True)
        return summary

    def stop_stack_safely(self) -> None:
        try:
            self.stop_stack()
        except Exception as exc:
            log(f"teardown: {exc}")
            for proc in self.procs.values():
                if proc.alive():
                    proc.stop()


def run_drill(config: DrillConfig) -> dict[str, Any]:
    return Drill(config).run()


def main() -> None:
    parser = argparse.ArgumentParser(description="Bluewire chaos drill")
    parser.add_argument("--traffic-seconds", type=float, default=DrillConfig.traffic_seconds)
    parser.add_argument("--patients", type=int, default=DrillConfig.patients)
    parser.add_argument("--out", type=Path, default=SUMMARY_PATH)
    args = parser.parse_args()
    summary = run_drill(DrillConfig(traffic_seconds=args.traffic_seconds, patients=args.patients))
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    for name, result in summary["invariants"].items():
        log(f"{'PASS' if result['passed'] else 'FAIL'} {name}")
    log(f"{'passed' if summary['passed'] else 'FAILED'} in {summary['duration_s']} s; {args.out}")
    sys.exit(0 if summary["passed"] else 1)


if __name__ == "__main__":
    main()
