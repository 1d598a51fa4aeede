"""A minimal local webhook receiver for the fan-out figure and baseline B4.

    python -m tests.bench.receiver PORT

Answers every POST with 200 `{"ok":true}` over keep-alive HTTP/1.1 and counts what it got.
`GET /stats` returns {"count", "first", "last", "event_ids"} (monotonic seconds of the
first and last POST, distinct `"id"` values seen); `POST /reset` clears the counters.
Being this cheap, it never is the bottleneck of what it measures.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time

EVENT_ID = re.compile(rb'"id"\s*:\s*"(evt_[^"]+)"')


class State:
    count = 0
    first: float | None = None
    last: float | None = None
    event_ids: set[bytes] = set()


OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


def reply(body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            request_line = await reader.readline()
            if not request_line:
                break
            method, path = request_line.split()[:2]
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:].strip())
            body = await reader.readexactly(length) if length else b""
            if method == b"GET" and path == b"/stats":
                data = {
                    "count": State.count,
                    "first": State.first,
                    "last": State.last,
                    "event_ids": len(State.event_ids),
                }
                writer.write(reply(json.dumps(data).encode()))
            elif path == b"/reset":
                State.count, State.first, State.last = 0, None, None
                State.event_ids = set()
                writer.write(OK)
            else:
                now = time.monotonic()
                State.count += 1
                State.first = State.first or now
                State.last = now
                match = EVENT_ID.search(body)
                if match:
                    State.event_ids.add(match.group(1))
                writer.write(OK)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
