from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.errors import ApplicationError
from console.phone import normalize_e164
from console.services import Actor
from provisioning.models import LineRole, PhoneLine
from routing.services.line_roles import line_role_set


class Command(BaseCommand):
    help = "Set a phone line's role: router (triage number), pool (shared) or dedicated."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("number", help="the line's number, E.164")
        parser.add_argument("role", choices=[r.value for r in LineRole])

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            number = normalize_e164(options["number"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        line = PhoneLine.objects.filter(number=number).first()
        if line is None:
            raise CommandError(f"no line with number {number}")
        actor = Actor(type="system", id="", label="manage.py set_line_role")
        try:
            line = line_role_set(line=line, role=options["role"], actor=actor)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{line.number} is now a {line.role} line")
