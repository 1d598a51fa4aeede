from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.models import AgentIdentity, Organization
from console.selectors import normalize_handle


class Command(BaseCommand):
    help = "Create an agent identity in an organisation."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="organisation slug")
        parser.add_argument("handle")
        parser.add_argument("--display-name", default=None)
        parser.add_argument("--imessage", action="store_true", help="enable iMessage")

    def handle(self, *args: Any, **options: Any) -> None:
        org = Organization.objects.filter(slug=options["org"]).first()
        if org is None:
            raise CommandError(f"unknown organisation {options['org']!r}")
        handle = normalize_handle(options["handle"])
        identity = AgentIdentity(
            organization=org,
            handle=handle,
            display_name=options["display_name"] or handle,
            imessage_enabled=options["imessage"],
        )
        try:
            identity.full_clean()
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        identity.save()
        self.stdout.write(str(identity.id))
