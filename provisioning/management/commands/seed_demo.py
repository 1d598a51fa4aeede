"""`manage.py seed_demo`: the demo organisation, identity, admin key and platform lines.

Idempotent: running it again reuses what exists (and the admin key saved under var/).
Each concern is one function; the console adds its operator/auditor logins and some
activity to look at (`console.ui.demo.seed_demo`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from console.api.authentication import hash_api_key
from console.models import AgentIdentity, ApiKey, ApiKeyStatus, Organization
from console.services import Actor, api_key_create
from provisioning.models import Setup
from provisioning.platform import platform_setup_ensure

DEMO_ORG_SLUG = "demo-clinic"
DEMO_IDENTITY_HANDLE = "demo-agent"
DEMO_ADMIN_KEY_LABEL = "demo admin"
DEMO_POOL_LINES = 3


@dataclass
class DemoTenancy:
    organization: Organization
    identity: AgentIdentity
    admin_key: str


def _key_file() -> Path:
    return Path(settings.VAR_DIR) / "demo-admin-key"


@transaction.atomic
def seed_tenancy() -> DemoTenancy:
    org, _ = Organization.objects.get_or_create(
        slug=DEMO_ORG_SLUG, defaults={"name": "Demo Clinic"}
    )
    identity, _ = AgentIdentity.objects.get_or_create(
        handle=DEMO_IDENTITY_HANDLE,
        defaults={
            "organization": org,
            "display_name": "Demo Agent",
            "imessage_enabled": True,
        },
    )
    # The raw key is shown once by design; the demo keeps it in var/ (git-ignored) so
    # `make run` prints the same key every time.
    path = _key_file()
    saved = path.read_text().strip() if path.exists() else ""
    if (
        saved
        and ApiKey.objects.filter(
            key_hash=hash_api_key(saved), organization=org, status=ApiKeyStatus.ACTIVE
        ).exists()
    ):
        return DemoTenancy(org, identity, saved)
    issued = api_key_create(organization=org, label=DEMO_ADMIN_KEY_LABEL)
    path.write_text(issued.raw_key + "\n")
    os.chmod(path, 0o600)
    return DemoTenancy(org, identity, issued.raw_key)


def seed_platform_setup() -> Setup:
    """The platform subaccount with one router and three pool lines (at the provider).

    A failed earlier attempt (simulator not up) is retried; a working one is reused.
    """
    return platform_setup_ensure(pool_lines=DEMO_POOL_LINES, actor=Actor.system()).setup


class Command(BaseCommand):
    help = "Seed the demo organisation, identity, admin key and platform lines (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--skip-provider",
            action="store_true",
            help="Do not create the platform setup (no provider or simulator needed).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenancy = seed_tenancy()
        if not options["skip_provider"]:
            setup = seed_platform_setup()
            self.stderr.write(
                f"Platform setup {setup.id}: {setup.status}"
                + (f" ({setup.failure_reason})" if setup.failure_reason else "")
            )
        # The console sits above the apps: imported here, when the command runs.
        from console.ui.demo import seed_demo as console_seed_demo

        # Labelled lines to show (the console's demo logins).
        for line in console_seed_demo(tenancy):
            self.stdout.write(line)
        self.stdout.write(f"Organization: {tenancy.organization.slug}")
        self.stdout.write(f"Identity: {tenancy.identity.handle}")
        self.stdout.write(f"Admin API key: {tenancy.admin_key}")
