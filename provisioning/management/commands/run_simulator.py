"""`manage.py run_simulator --port PORT`: the provider simulator as a real HTTP service."""

from __future__ import annotations

import signal
import socketserver
from typing import Any
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from console.http import http_client
from provisioning.simulator.app import simulator_from_settings


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        # Request lines only (method, path, status): never bodies.
        if self.server.verbose:  # type: ignore[attr-defined]
            super().log_message(format, *args)


def _interrupt(signum: int, frame: object) -> None:
    # SIGTERM (from run_demo or a supervisor) stops the server like Ctrl-C does.
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Run the provider simulator (Sendblue-compatible API, in-memory state)."

    def add_arguments(self, parser: CommandParser) -> None:
        default_port = urlsplit(settings.PROVIDER_BASE_URL).port or 8001
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=default_port)
        parser.add_argument(
            "--assign-immediately",
            action="store_true",
            default=settings.SIMULATOR_ASSIGN_IMMEDIATELY,
            help="Give new subaccounts a number at once instead of a pending line.",
        )
        parser.add_argument(
            "--assign-delay",
            type=float,
            default=settings.SIMULATOR_ASSIGN_DELAY_SECONDS,
            help="Seconds after which pending lines are assigned (0: only on request).",
        )
        parser.add_argument("--status-delay", type=float, default=None)
        parser.add_argument("--quiet", action="store_true")
        parser.add_argument(
            "--state-file",
            default=None,
            help="JSON file that keeps accounts, lines and messages across restarts "
            "(default: in memory only).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        simulator = simulator_from_settings(
            deliver_client=http_client(timeout=10.0), state_path=options["state_file"]
        )
        simulator.public_url = f"http://{options['host']}:{options['port']}"
        simulator.assign_immediately = options["assign_immediately"]
        simulator.assign_delay = options["assign_delay"] if options["assign_delay"] > 0 else None
        if options["status_delay"] is not None:
            simulator.status_delay = options["status_delay"]
        server = make_server(
            options["host"],
            options["port"],
            simulator,
            server_class=ThreadingWSGIServer,
            handler_class=QuietHandler,
        )
        server.verbose = not options["quiet"]  # type: ignore[attr-defined]
        stop_jobs = simulator.start_background()
        signal.signal(signal.SIGTERM, _interrupt)
        self.stdout.write(f"Provider simulator on {simulator.public_url}", ending="\n")
        self.stdout.flush()
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            stop_jobs.set()
            server.server_close()
