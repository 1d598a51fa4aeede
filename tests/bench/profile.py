"""Profile one figure's requests in-process with pyinstrument, against the bench database.

    python -m tests.bench.profile SCENARIO [N]   (SCENARIO: ingest, send, read_conversations,
                                                  read_messages, connect, b1, b2)
    python -m tests.bench.profile SCENARIO N --cost   (no profiler: one JSON line with the
                                                       CPU and statements per request)
    python -m tests.bench.profile SCENARIO N --cpu    (cProfile on CPU time, by own time;
                                                       SORT= orders it, LINES= cuts it,
                                                       DUMP=file keeps the stats for
                                                       pstats' print_callers)
    python -m tests.bench.profile SCENARIO N --sql    (no profiler: the statements of the
                                                       last request, each with its mean
                                                       wall time)

Needs the database `make bench` left behind (bluewire_bench) and its keys file. Builds the
same requests as the load generator, runs them through Django's test client under
pyinstrument, prints the call tree, the query count and the time per request.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import sys
import time
from contextlib import nullcontext
from pathlib import Path

from tests.bench.run import WORK, stack_env, targets_from

os.environ.update(stack_env())

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from pyinstrument import Profiler  # noqa: E402

from tests.bench.loadgen import SCENARIOS  # noqa: E402


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return int(pid)


def _backend_cpu_seconds(pid: int) -> float | None:
    """CPU seconds PostgreSQL backend `pid` has used; None when it runs elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    name = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    cost_only = any(flag in sys.argv[3:] for flag in ("--cost", "--sql", "--cpu"))
    keys = json.loads((WORK / "keys-current.json").read_text())
    t = targets_from(keys)
    params = t.get(name, {})
    if name == "connect":
        params = {
            "handles": [i["handle"] for i in keys["identities"]],
            "router_line": keys["router_line"],
            "webhook_secret": keys["webhook_secret"],
            "first_number": 8_500_000 + int(time.time()) % 100_000,
        }
    scenario = SCENARIOS[name](params)
    client = Client()
    requests = [scenario.next(0, i) for i in range(n + 5)]

    def call(req: tuple[str, str, dict[str, str], bytes | None]) -> int:
        method, path, headers, body = req
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        extra.pop("HTTP_CONTENT_TYPE", None)
        if method == "GET":
            return client.get(path, **extra).status_code
        return client.post(path, data=body, content_type="application/json", **extra).status_code

    for req in requests[:5]:
        call(req)  # warm-up
    profiler = Profiler(interval=0.0005)
    statuses: dict[int, int] = {}
    # --cpu: cProfile on process time, the functions that spend the CPU itself.
    cpu_profiler = cProfile.Profile(time.process_time) if "--cpu" in sys.argv[3:] else None
    # The capture's debug cursor renders every statement with its values (psycopg's
    # mogrify), which production does not: the CPU profile runs without it.
    backend = _backend_pid()  # read before the capture: it is not a request's statement
    capture = CaptureQueriesContext(connection) if cpu_profiler is None else nullcontext([])
    with capture as ctx:
        started, cpu_started = time.perf_counter(), time.process_time()
        db_cpu_started = _backend_cpu_seconds(backend)
        if not cost_only:
            profiler.start()
        if cpu_profiler is not None:
            cpu_profiler.enable()
        for req in requests[5:]:
            status = call(req)
            statuses[status] = statuses.get(status, 0) + 1
        if cpu_profiler is not None:
            cpu_profiler.disable()
        if not cost_only:
            profiler.stop()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        db_cpu_ended = _backend_cpu_seconds(backend)
    if cpu_profiler is not None:
        print(f"{name}: {cpu / n * 1000:.2f} ms of CPU per request under cProfile")
        # SORT=cumulative shows where the time goes from the top; LINES how many rows.
        stats = pstats.Stats(cpu_profiler).sort_stats(os.environ.get("SORT", "tottime"))
        stats.print_stats(int(os.environ.get("LINES", "45")))
        if os.environ.get("DUMP"):
            stats.dump_stats(os.environ["DUMP"])
        return
    statements = [
        q["sql"] for q in ctx.captured_queries if q["sql"] not in ("BEGIN", "COMMIT", "ROLLBACK")
    ]
    if "--sql" in sys.argv[3:]:
        # Each statement of the last request with its mean wall time over all n requests.
        timed = [q for q in ctx.captured_queries if q["sql"] not in ("BEGIN", "ROLLBACK")]
        per_request = len(timed) // n
        for position, query in enumerate(timed[-per_request:]):
            mean_ms = sum(float(q["time"]) for q in timed[position::per_request]) / n * 1000
            print(f"-- {mean_ms:.3f} ms\n{query['sql']}\n")
        return
    if cost_only:
        print(
            json.dumps(
                {
                    "scenario": name,
                    "requests": n,
                    "cpu_ms": round(cpu / n * 1000, 2),
                    "db_cpu_ms": (
                        round((db_cpu_ended - db_cpu_started) / n * 1000, 2)
                        if db_cpu_started is not None and db_cpu_ended is not None
                        else None
                    ),
                    "statements": round(len(statements) / n, 2),
                    "statuses": statuses,
                }
            )
        )
        return
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    print(
        f"{name}: {n} requests, {elapsed / n * 1000:.1f} ms each "
        f"({cpu / n * 1000:.1f} ms of it CPU in this process), "
        f"{len(ctx.captured_queries) / n:.1f} queries each, statuses {statuses}"
    )


if __name__ == "__main__":
    main()
