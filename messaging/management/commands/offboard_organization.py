"""`manage.py offboard_organization --org SLUG [--purge]`: archive an organisation now;
purge it (in batches) once its retention period after archiving has passed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.errors import ApplicationError
from console.models import Organization
from console.services import Actor
from messaging.services.offboarding import (
    organization_archive,
    organization_purge,
    purge_allowed_at,
)

ACTOR = Actor(type="system", id="", label="manage.py offboard_organization")


class Command(BaseCommand):
    help = "Archive an organisation, or purge an archived one whose retention has passed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="The organisation's slug.")
        parser.add_argument(
            "--purge", action="store_true", help="Delete its data (only after retention)."
        )
        parser.add_argument("--batch-size", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["org"]).first()
        if organization is None:
            raise CommandError(f"No organisation has the slug {options['org']!r}.")
        try:
            if options["purge"]:
                counts = organization_purge(
                    organization=organization, batch_size=options["batch_size"]
                )
                self.stdout.write(
                    f"Purged {organization.slug}: {counts.messages} messages, "
                    f"{counts.conversations} conversations, {counts.events} events."
                )
                return
            archived = organization_archive(organization=organization, actor=ACTOR)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        allowed = purge_allowed_at(archived)
        when = f"from {allowed:%Y-%m-%d}" if allowed else "never (it keeps messages forever)"
        self.stdout.write(f"Archived {archived.slug}; it may be purged {when}.")
