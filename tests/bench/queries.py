"""Queries per request of the hot list endpoints, and their plans at full volume.

    python -m tests.bench.queries KEYS.json OUT.json   (env: the bench stack's settings)

Runs the real views in-process with Django's test client against the seeded bench
database, captures every query per request (CaptureQueriesContext), checks that the count
does not depend on the data (small vs large identity, short vs long conversation, first
page vs later page), and runs `EXPLAIN (ANALYZE, BUFFERS)` on each query of the heaviest
case. Full plans go to bench/plans.txt; a summary per endpoint goes to OUT.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

BIG_TABLES = (
    "messaging_message",
    "messaging_conversation",
    "messaging_reaction",
    "routing_assignment",
    "provisioning_providerevent",
    "webhooks_webhookdelivery",
    "webhooks_webhookevent",
)
PLANS = Path(__file__).resolve().parents[2] / "bench" / "plans.txt"


def capture(client: Client, path: str, key: str) -> tuple[int, list[str], int]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path, HTTP_X_API_KEY=key, HTTP_ACCEPT="application/json")
    return response.status_code, [q["sql"] for q in ctx.captured_queries], len(response.content)


def explain(sql: str) -> tuple[float, list[str], str]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        plan = "\n".join(r[0] for r in cursor.fetchall())
    m = re.search(r"Execution Time: ([\d.]+) ms", plan)
    seq = sorted({t for t in BIG_TABLES if re.search(rf"Seq Scan on {t}\b", plan)})
    return (float(m.group(1)) if m else 0.0), seq, plan


def main() -> None:
    keys = json.loads(Path(sys.argv[1]).read_text())
    client = Client()
    identities = sorted(
        keys["identities"], key=lambda i: sum(c["messages"] for c in i["conversations"])
    )
    small, large = identities[0], identities[-1]
    # Blocked senders' threads are empty for scoped keys (no prefetch runs): leave them out.
    convs = sorted(
        (
            c | {"key": i["key"]}
            for i in keys["identities"]
            for c in i["conversations"]
            if not c["blocked"]
        ),
        key=lambda c: c["messages"],
    )
    short, longest = convs[0], convs[-1]
    medium = convs[len(convs) // 2]
    admin = keys["organizations"][0]["admin_key"]
    cases: dict[str, list[tuple[str, str, str]]] = {
        "GET /imessage/conversations": [
            ("small identity", "/api/v1/imessage/conversations?limit=50&offset=0", small["key"]),
            ("large identity", "/api/v1/imessage/conversations?limit=50&offset=0", large["key"]),
            ("page 3", "/api/v1/imessage/conversations?limit=50&offset=100", large["key"]),
            ("admin key", "/api/v1/imessage/conversations?limit=50&offset=0", admin),
        ],
        "GET /imessage/messages?conversation_id=": [
            (
                f"{n} messages",
                f"/api/v1/imessage/messages?conversation_id={c['conversation_id']}&limit=50&offset=0",
                c["key"],
            )
            for n, c in (
                (short["messages"], short),
                (medium["messages"], medium),
                (longest["messages"], longest),
            )
        ],
    }
    out: dict[str, Any] = {"endpoints": {}, "plans": []}
    plan_text: list[str] = []
    constant = True
    for endpoint, runs in cases.items():
        capture(client, runs[0][1], runs[0][2])  # warm-up: per-process one-off queries
        counts = {}
        heaviest: list[str] = []
        for label, path, key in runs:
            # First call per key may also stamp the key's last_used_at (once a minute):
            # count the steady state, the call every request after it makes.
            capture(client, path, key)
            status, sqls, _ = capture(client, path, key)
            if status != 200:
                raise SystemExit(f"{endpoint} ({label}) answered {status}")
            counts[label] = len(sqls)
            if label == "large identity" or (label == runs[-1][0] and not heaviest):
                heaviest = sqls
        # Admin keys may cost one lookup more than scoped keys; what must not vary is the
        # count with the data (identity size, page, thread length) for one kind of key.
        scoped = [v for k, v in counts.items() if k != "admin key"]
        endpoint_constant = len(set(scoped)) == 1
        constant = constant and endpoint_constant
        total_ms, seq_tables, slowest = 0.0, set(), 0.0
        plan_text.append(f"==== {endpoint}: queries per request {counts}")
        for sql in heaviest:
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            ms, seq, plan = explain(sql)
            total_ms += ms
            slowest = max(slowest, ms)
            seq_tables.update(seq)
            plan_text += ["", sql, plan, ""]
        out["endpoints"][endpoint] = {"counts": counts, "constant": endpoint_constant}
        out["plans"].append(
            {
                "endpoint": endpoint,
                "summary": (
                    f"{len(heaviest)} queries, {total_ms:.1f} ms in PostgreSQL "
                    f"(slowest {slowest:.1f} ms); "
                    + (
                        f"sequential scans on {', '.join(sorted(seq_tables))}"
                        if seq_tables
                        else "index scans only on the large tables"
                    )
                ),
                "seq_scans": sorted(seq_tables),
            }
        )
    out["constant"] = constant
    out["summary"] = "; ".join(
        f"{e}: {v['counts']} ({'constant' if v['constant'] else 'NOT constant'})"
        for e, v in out["endpoints"].items()
    )
    PLANS.write_text("\n".join(plan_text) + "\n")
    Path(sys.argv[2]).write_text(json.dumps(out))


if __name__ == "__main__":
    main()
