"""`manage.py create_platform_setup --pool N`: the router line and N pool lines (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.errors import ApplicationError
from console.services import Actor
from provisioning.models import SetupStatus
from provisioning.platform import platform_setup_ensure
from provisioning.providers.base import ProviderError


class Command(BaseCommand):
    help = (
        "Create the platform's provider subaccount with one router line and --pool shared "
        "pool lines; run again to add missing lines (never removes one)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--pool", type=int, default=3, help="pool lines the platform should have (3)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["pool"] < 1:
            raise CommandError("--pool must be at least 1: connections run over pool lines")
        actor = Actor(type="system", id="", label="manage.py create_platform_setup")
        try:
            result = platform_setup_ensure(pool_lines=options["pool"], actor=actor)
        except (ApplicationError, ProviderError) as exc:
            raise CommandError(exc.message) from exc
        setup = result.setup
        if setup.status == SetupStatus.FAILED:
            raise CommandError(f"platform setup {setup.id} failed: {setup.failure_reason}")
        verb = "created" if result.created else "exists"
        self.stdout.write(f"Platform setup {setup.id} {verb}: {setup.status}")
        for line in setup.lines.order_by("role", "requested_at"):
            where = line.number or f"pending (provider request {line.provider_request_id})"
            self.stdout.write(f"  {line.role}: {where}")
        if setup.lines.filter(number=None).exists():
            self.stdout.write(
                "Pending lines get their number when the provider places them "
                "(line_assigned webhook, or beat's line reconciliation); run this again to see."
            )
