"""The operator commands README's Production section uses: organisations, identities, keys
and console access."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.test import Client, RequestFactory

from console.api.authentication import hash_api_key
from console.models import AgentIdentity, ApiKey, Membership, MembershipRole, Organization

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def test_the_production_commands_create_an_org_an_identity_and_both_kinds_of_key() -> None:
    slug = run("create_org", "Riverside Clinic")
    identity_id = run("create_identity", "--org", slug, "nurse-bot", "--imessage")
    admin_key = run("create_api_key", "--org", slug, "--name", "ops")
    agent_key = run("create_api_key", "--org", slug, "--identity", "nurse-bot")
    identity = AgentIdentity.objects.get(id=identity_id)
    assert identity.organization.slug == slug
    assert identity.imessage_enabled
    assert ApiKey.objects.get(key_hash=hash_api_key(admin_key)).identity_id is None
    assert ApiKey.objects.get(key_hash=hash_api_key(agent_key)).identity_id == identity.id


def test_a_new_console_user_gets_a_working_password_and_the_role(org: Organization) -> None:
    output = run("grant_console_access", "dana", "--org", org.slug, "--role", "operator")
    password = output.splitlines()[-1].removeprefix("Password (shown once): ")
    user = authenticate(
        RequestFactory().post("/console/login/"), username="dana", password=password
    )
    assert user is not None
    assert Membership.objects.get(user=user, organization=org).role == MembershipRole.OPERATOR
    client = Client()
    client.force_login(user)
    assert client.get("/console/").status_code == 200


def test_an_existing_user_keeps_their_password_and_gets_the_new_role(org: Organization) -> None:
    user = get_user_model().objects.create_user(username="sam", password="sam-own-password-1")
    output = run("grant_console_access", "sam", "--org", org.slug, "--role", "auditor")
    assert "Password" not in output
    assert (
        authenticate(
            RequestFactory().post("/console/login/"), username="sam", password="sam-own-password-1"
        )
        == user
    )
    assert Membership.objects.get(user=user, organization=org).role == MembershipRole.AUDITOR
    assert user.groups.filter(name="Auditors").exists()


def test_an_unknown_organisation_is_refused() -> None:
    with pytest.raises(CommandError, match="unknown organisation"):
        run("grant_console_access", "dana", "--org", "nope", "--role", "operator")
