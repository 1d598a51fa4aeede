"""`manage.py grant_console_access USER --org SLUG --role operator|auditor`."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from console.memberships import membership_grant
from console.models import MembershipRole, Organization


class Command(BaseCommand):
    help = (
        "Give a staff user a console role in an organisation. A new user gets a random "
        "password, printed once; an existing user keeps theirs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--org", required=True, help="organisation slug")
        parser.add_argument("--role", required=True, choices=[r.value for r in MembershipRole])

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["org"]).first()
        if organization is None:
            raise CommandError(f"unknown organisation {options['org']!r}")
        user, created = get_user_model().objects.get_or_create(username=options["username"])
        password = ""
        if created:
            password = secrets.token_urlsafe(12)
            user.set_password(password)
            user.save(update_fields=["password"])
        membership_grant(user=user, organization=organization, role=options["role"])
        self.stdout.write(f"{user.get_username()} is now {options['role']} of {organization.slug}")
        if password:
            self.stdout.write(f"Password (shown once): {password}")
