"""Closed-loop HTTP load generator, run as its own process on loopback.

    python -m tests.bench.loadgen SPEC.json OUT.json

SPEC: {"base_url", "scenario", "concurrency", "duration", "warmup", "params": {...},
"max_requests": optional cap}. `concurrency` workers each keep one request in flight
(keep-alive connection, re-opened when the server closes it) for `warmup + duration`
seconds; only requests that *start* after the warm-up count. OUT: throughput (2xx per
second over the measured window), p50/p95/p99 latency in ms, status counts and a few error
bodies, plus `extra` from the scenario (e.g. the people who connected).

The client speaks HTTP/1.1 over asyncio streams instead of using an HTTP library: on a
two-core machine the generator shares the CPU with the server, and a full client costs
several times more per request, which would be charged to the server under test.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

Request = tuple[str, str, dict[str, str], bytes | None]


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    ok: int = 0
    started: int = 0


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        for attempt in (0, 1):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
                fresh = True
            else:
                fresh = False
            head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
            head += [f"{k}: {v}" for k, v in headers.items()]
            if body is not None:
                head.append(f"Content-Length: {len(body)}")
            raw = ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")
            try:
                assert self.writer is not None and self.reader is not None
                self.writer.write(raw)
                await self.writer.drain()
                status_line = await self.reader.readline()
                if not status_line:
                    raise ConnectionResetError("closed before the status line")
                status = int(status_line.split()[1])
                length: int | None = None
                close = False
                while True:
                    line = await self.reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    name = name.strip().lower()
                    if name == "content-length":
                        length = int(value.strip())
                    elif name == "connection" and value.strip().lower() == "close":
                        close = True
                if length is not None:
                    data = await self.reader.readexactly(length)
                else:
                    data = await self.reader.read()
                    close = True
                if close:
                    await self.close()
                return status, data
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                await self.close()
                # A kept-alive connection the server had already closed: retry once fresh.
                if fresh or attempt == 1:
                    raise
        raise RuntimeError("unreachable")


# --- scenarios ------------------------------------------------------------------


def _json_body(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _receive_body(*, person: str, line: str, content: str) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {
        "accountEmail": "bench@bench.test",
        "content": content,
        "is_outbound": False,
        "status": "RECEIVED",
        "error_code": None,
        "error_message": None,
        "error_reason": None,
        "error_detail": None,
        "message_handle": str(uuid.uuid4()).upper(),
        "date_sent": now,
        "date_updated": now,
        "from_number": person,
        "number": person,
        "to_number": line,
        "was_downgraded": None,
        "plan": "dedicated",
        "media_url": "",
        "message_type": "message",
        "group_id": "",
        "participants": [person, line],
        "send_style": "",
        "opted_out": False,
        "sendblue_number": line,
        "service": "iMessage",
        "group_display_name": None,
    }


AREA_CODES = (212, 213, 312, 415, 617, 646, 718, 805, 917, 206)


def bench_number(n: int) -> str:
    """Same formula as seed_load's: valid, distinct US numbers (the router validates them)."""
    rest = n // 10
    exchange = 200 + (rest // 10000) % 700
    if exchange % 100 == 11 or exchange == 555:
        exchange += 1
    return f"+1{AREA_CODES[n % 10]}{exchange:03d}{rest % 10000:04d}"


JSON = {"Content-Type": "application/json", "Accept": "application/json"}


class Scenario:
    """Makes the next request for worker `w`; `extra` ends up in the output."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.rng = random.Random(params.get("seed", 1))
        self.extra: dict[str, Any] = {}

    def next(self, w: int, n: int) -> Request:
        raise NotImplementedError

    def record(self, w: int, req: Request, status: int, body: bytes) -> None:
        """Hook for scenarios that check answers."""


class B1(Scenario):
    def next(self, w: int, n: int) -> Request:
        body = _json_body({"worker": w, "n": n, "text": "The results look normal."})
        return "POST", "/bench/b1", JSON, body


class B2(Scenario):
    def next(self, w: int, n: int) -> Request:
        return "GET", "/bench/b2", {"Accept": "application/json"}, None


class Ingest(Scenario):
    """Provider `receive` webhooks from connected people (pool and dedicated lines)."""

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.targets = params["targets"]  # [{setup_id, line_number, remote_number}]
        self.secret = params["webhook_secret"]

    def next(self, w: int, n: int) -> Request:
        t = self.rng.choice(self.targets)
        body = _receive_body(
            person=t["remote_number"], line=t["line_number"], content="Can I come in at 3?"
        )
        headers = {**JSON, "sb-signing-secret": self.secret}
        return (
            "POST",
            f"/api/v1/provider-webhooks/{t['setup_id']}/receive",
            headers,
            _json_body(body),
        )


class ReadConversations(Scenario):
    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.keys = params["keys"]  # identity-scoped keys

    def next(self, w: int, n: int) -> Request:
        key = self.rng.choice(self.keys)
        offset = self.rng.choice([0, 0, 0, 50, 100])
        path = f"/api/v1/imessage/conversations?limit=50&offset={offset}"
        return "GET", path, {"X-API-Key": key, "Accept": "application/json"}, None


class ReadMessages(Scenario):
    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.targets = params["targets"]  # [{key, conversation_id}]

    def next(self, w: int, n: int) -> Request:
        t = self.rng.choice(self.targets)
        path = f"/api/v1/imessage/messages?conversation_id={t['conversation_id']}&limit=50&offset=0"
        return "GET", path, {"X-API-Key": t["key"], "Accept": "application/json"}, None


class Send(Scenario):
    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.targets = params["targets"]  # [{key, remote_number}]

    def next(self, w: int, n: int) -> Request:
        t = self.rng.choice(self.targets)
        headers = {
            **JSON,
            "X-API-Key": t["key"],
            "Idempotency-Key": str(uuid.uuid4()),
            "Prefer": "idempotency-replay",
        }
        body = _json_body({"to": t["remote_number"], "text": "See you on Thursday at 3."})
        return "POST", "/api/v1/imessage/messages", headers, body


class Connect(Scenario):
    """Fresh people text `connect @handle` to the router line, one person per request."""

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.handles = params["handles"]
        self.router = params["router_line"]
        self.secret = params["webhook_secret"]
        self.first = int(params.get("first_number", 8_000_000))
        self.counter = itertools.count()
        self.sent: dict[str, str] = {}
        self.extra["people"] = []

    def next(self, w: int, n: int) -> Request:
        i = next(self.counter)
        person = bench_number(self.first + i)
        handle = self.handles[i % len(self.handles)]
        body = _receive_body(
            person=person, line=self.router["number"], content=f"connect @{handle}"
        )
        headers = {**JSON, "sb-signing-secret": self.secret}
        self.sent[person] = handle
        path = f"/api/v1/provider-webhooks/{self.router['setup_id']}/receive"
        return "POST", path, headers, _json_body(body)

    def record(self, w: int, req: Request, status: int, body: bytes) -> None:
        if 200 <= status < 300 and req[3] is not None:
            sent = json.loads(req[3])
            person = sent["from_number"]
            self.extra["people"].append([person, self.sent.get(person)])


class Mixed(Scenario):
    """The memory figure's mix: reads, ingest and sends in proportion."""

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.parts: list[tuple[Scenario, float]] = []
        for name, weight in params["mix"].items():
            self.parts.append((SCENARIOS[name](params[name]), weight))

    def next(self, w: int, n: int) -> Request:
        r = self.rng.random() * sum(wt for _, wt in self.parts)
        for scenario, weight in self.parts:
            r -= weight
            if r <= 0:
                return scenario.next(w, n)
        return self.parts[-1][0].next(w, n)


SCENARIOS: dict[str, Callable[[dict[str, Any]], Scenario]] = {
    "b1": B1,
    "b2": B2,
    "ingest": Ingest,
    "read_conversations": ReadConversations,
    "read_messages": ReadMessages,
    "send": Send,
    "connect": Connect,
    "mixed": Mixed,
}


def _process_group(pid: str, comm: str) -> str:
    """Which part of the stack a process is, for the CPU split of a run."""
    if pid == str(os.getpid()):
        return "loadgen"
    if comm.startswith("redis"):
        return "redis"
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "other"
    if comm.startswith(("postgres", "postmaster")):
        # A backend names its client ("127.0.0.1(53502)", "[local]"); the rest are the WAL
        # writer, checkpointer, autovacuum and the like.
        return "db" if b"(" in cmdline or b"[local]" in cmdline else "db-background"
    if b"gunicorn" in cmdline:
        return "web"
    if b"celery" in cmdline:
        return "workers"
    return "other"


def cpu_by_process() -> dict[str, tuple[str, float]]:
    """Each process on the machine: (its part of the stack, CPU seconds used so far)."""
    ticks = os.sysconf("SC_CLK_TCK")
    seen: dict[str, tuple[str, float]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        # comm is in parentheses and may hold spaces: the fields after it are fixed.
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        pid = stat.parent.name
        seen[pid] = (_process_group(pid, comm), (int(fields[11]) + int(fields[12])) / ticks)
    return seen


def cpu_split(
    before: dict[str, tuple[str, float]], after: dict[str, tuple[str, float]], requests: int
) -> dict[str, float]:
    """Milliseconds of CPU per completed request over the measured window, by part of the
    stack. A process that started meanwhile counts whole; one that ended meanwhile is not
    seen (a database connection that closed, say)."""
    if not requests:
        return {}
    used: dict[str, float] = defaultdict(float)
    for pid, (group, seconds) in after.items():
        used[group] += seconds - before.get(pid, (group, 0.0))[1]
    return {group: round(used[group] * 1000 / requests, 3) for group in sorted(used) if used[group]}


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    url = urlsplit(spec["base_url"])
    host, port = url.hostname or "127.0.0.1", url.port or 80
    scenario = SCENARIOS[spec["scenario"]](spec.get("params", {}))
    concurrency = int(spec["concurrency"])
    warmup, duration = float(spec.get("warmup", 2)), float(spec["duration"])
    max_requests = spec.get("max_requests")
    stats = Stats()
    t0 = time.monotonic()
    measure_from, stop_at = t0 + warmup, t0 + warmup + duration
    last_done = [measure_from]

    async def worker(w: int) -> None:
        conn = Connection(host, port)
        n = 0
        while True:
            start = time.monotonic()
            if start >= stop_at or (max_requests is not None and stats.started >= max_requests):
                break
            stats.started += 1
            req = scenario.next(w, n)
            n += 1
            try:
                status, body = await conn.request(*req)
            except Exception as exc:
                status, body = 0, repr(exc).encode()
            end = time.monotonic()
            scenario.record(w, req, status, body)
            if start >= measure_from or max_requests is not None:
                stats.statuses[status] += 1
                if 200 <= status < 300:
                    stats.ok += 1
                    stats.latencies.append((end - start) * 1000)
                elif len(stats.errors) < 5:
                    stats.errors.append(f"{status} {req[0]} {req[1][:80]}: {body[:300]!r}")
                last_done[0] = max(last_done[0], end)
        await conn.close()

    cpu_window: list[dict[str, tuple[str, float]]] = []

    async def cpu_sampler() -> None:
        # The machine's CPU over the measured window, to split each request's cost between
        # the web workers, PostgreSQL and the load generator itself.
        # Read off the event loop: scanning /proc would delay the requests in flight.
        await asyncio.sleep(max(0.0, measure_from - time.monotonic()))
        cpu_window.append(await asyncio.to_thread(cpu_by_process))
        await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
        cpu_window.append(await asyncio.to_thread(cpu_by_process))

    sampler = asyncio.ensure_future(cpu_sampler()) if max_requests is None else None
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    if sampler is not None:
        await sampler
    if max_requests is not None:
        window = max(1e-9, last_done[0] - t0)
    else:
        window = max(1e-9, min(stop_at, last_done[0]) - measure_from)
    lat = sorted(stats.latencies)
    return {
        "scenario": spec["scenario"],
        "concurrency": concurrency,
        "duration_s": round(window, 3),
        "requests": sum(stats.statuses.values()),
        "ok": stats.ok,
        "throughput_rps": round(stats.ok / window, 1),
        "p50_ms": percentile(lat, 0.50),
        "p95_ms": percentile(lat, 0.95),
        "p99_ms": percentile(lat, 0.99),
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "errors": stats.errors,
        "extra": scenario.extra,
        "cpu_ms_per_request": cpu_split(*cpu_window, stats.ok) if len(cpu_window) == 2 else {},
    }


def main() -> None:
    spec = json.loads(open(sys.argv[1]).read())  # noqa: SIM115
    result = asyncio.run(run(spec))
    for k in ("p50_ms", "p95_ms", "p99_ms"):
        if result[k] is not None:
            result[k] = round(result[k], 2)
    with open(sys.argv[2], "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
