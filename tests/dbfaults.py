"""Real database faults for tests: a connection that cannot be made, a backend that dies.

Nothing here mocks a query: the code under test meets the errors the database driver raises.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def database_unreachable(tmp_path: Path) -> Iterator[None]:
    """Every new connection of this thread fails until the block ends: PostgreSQL is
    looked for on a closed port, SQLite in a folder that does not exist."""
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "postgresql":
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port()))
    else:
        connection.settings_dict["NAME"] = str(tmp_path / "no-such-folder" / "db.sqlite3")
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def terminate_own_backend() -> None:
    """Kill this thread's PostgreSQL session from another connection, as a database restart
    or a proxy timeout would; the next statement on it fails."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    other = connection.copy()
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()
