"""Profile one figure's requests in-process with pyinstrument, against the bench database.

    python -m tests.bench.profile SCENARIO [N]   (SCENARIO: ingest, send, read_conversations,
                                                  read_messages, connect, b1, b2)
    python -m tests.bench.profile SCENARIO N --cost   (no profiler: one JSON line with the
                                                       CPU and statements per request)
    python -m tests.bench.profile SCENARIO N --sql    (no profiler: the statements of the
                                                       last request)

Needs the database `make bench` left behind (bluewire_bench) and its keys file. Builds the
same requests as the load generator, runs them through Django's test client under
pyinstrument, prints the call tree, the query count and the time per request.
"""

from __future__ import annotations

import json
import os
import sys
import time

from tests.bench.run import WORK, stack_env, targets_from

os.environ.update(stack_env())

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from pyinstrument import Profiler  # noqa: E402

from tests.bench.loadgen import SCENARIOS  # noqa: E402


def main() -> None:
    name = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    cost_only = "--cost" in sys.argv[3:] or "--sql" in sys.argv[3:]
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
    with CaptureQueriesContext(connection) as ctx:
        started, cpu_started = time.perf_counter(), time.process_time()
        if not cost_only:
            profiler.start()
        for req in requests[5:]:
            status = call(req)
            statuses[status] = statuses.get(status, 0) + 1
        if not cost_only:
            profiler.stop()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    statements = [
        q["sql"] for q in ctx.captured_queries if q["sql"] not in ("BEGIN", "COMMIT", "ROLLBACK")
    ]
    if "--sql" in sys.argv[3:]:
        per_request = len(statements) // n
        print("\n\n".join(statements[-per_request:]))
        return
    if cost_only:
        print(
            json.dumps(
                {
                    "scenario": name,
                    "requests": n,
                    "cpu_ms": round(cpu / n * 1000, 2),
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
