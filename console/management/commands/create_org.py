from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from console.services import organization_create


class Command(BaseCommand):
    help = "Create an organisation and print its slug."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        org = organization_create(name=options["name"])
        self.stdout.write(org.slug)
