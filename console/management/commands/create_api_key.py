from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.models import AgentIdentity, Organization
from console.selectors import normalize_handle
from console.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key and print only the key (shown once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="organisation slug")
        parser.add_argument("--identity", default=None, help="handle for an identity-scoped key")
        parser.add_argument("--name", default="cli", help="label")

    def handle(self, *args: Any, **options: Any) -> None:
        org = Organization.objects.filter(slug=options["org"]).first()
        if org is None:
            raise CommandError(f"unknown organisation {options['org']!r}")
        identity = None
        if options["identity"]:
            identity = (
                AgentIdentity.objects.live()
                .filter(organization=org, handle=normalize_handle(options["identity"]))
                .first()
            )
            if identity is None:
                raise CommandError(f"unknown identity {options['identity']!r}")
        issued = api_key_create(
            organization=org, label=options["name"], identity=identity, created_by="cli"
        )
        self.stdout.write(issued.raw_key)
