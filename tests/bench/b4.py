"""Baseline B4: a plain httpx loop posting webhook bodies to the local receiver.

    python -m tests.bench.b4 BODIES.json INDEX PROCESSES URL

Process INDEX of PROCESSES posts every PROCESSES-th body, one at a time over one
keep-alive connection: the most a delivery worker could do with no database, no
signing and no bookkeeping.
"""

from __future__ import annotations

import json
import sys

import httpx


def main() -> None:
    bodies = json.loads(open(sys.argv[1]).read())  # noqa: SIM115
    index, processes, url = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    with httpx.Client(timeout=10) as client:
        for body in bodies[index::processes]:
            client.post(url, content=body.encode(), headers={"Content-Type": "application/json"})


if __name__ == "__main__":
    main()
