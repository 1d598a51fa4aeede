"""`manage.py export_person --org SLUG NUMBER OUTPUT.zip`: one person's whole record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.models import Organization
from console.phone import to_e164
from console.services import Actor, audit_record
from messaging.services.person_record import person_record_write


class Command(BaseCommand):
    help = (
        "Write one phone number's record in one organisation to a ZIP "
        "(record.json, transcript.html, media)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="The organisation's slug.")
        parser.add_argument("--reason", default="", help="Why the record is exported (audited).")
        parser.add_argument("number", help="The person's phone number.")
        parser.add_argument("output", help="Where to write the ZIP.")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["org"]).first()
        if organization is None:
            raise CommandError(f"No organisation has the slug {options['org']!r}.")
        number = to_e164(options["number"], region="US")
        if number is None:
            raise CommandError("Give the person's phone number, e.g. +14155550100.")
        output = Path(options["output"])
        with output.open("wb") as out:
            record = person_record_write(organization=organization, number=number, out=out)
        audit_record(
            organization=organization,
            actor=Actor(type="system", id="", label="manage.py export_person"),
            action="person_record.export",
            obj=organization,
            after={"number": number, "reason": options["reason"], "file": output.name},
        )
        messages = sum(len(c["messages"]) for c in record["conversations"])
        self.stdout.write(
            f"Wrote {output} ({len(record['conversations'])} conversations, {messages} messages)."
        )
