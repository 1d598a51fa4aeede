"""Console personas: an operator and an auditor of `org`, and an operator of `other_org`."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from console.memberships import membership_grant
from console.models import MembershipRole, Organization
from tests.console.factories import UserFactory


def _member_client(organization: Organization, role: str, username: str) -> Client:
    user = UserFactory(username=username)
    membership_grant(user=user, organization=organization, role=role)
    client = Client()
    client.force_login(user)
    client.user = user  # type: ignore[attr-defined]
    return client


@pytest.fixture
def operator_client(org: Organization) -> Client:
    return _member_client(org, MembershipRole.OPERATOR, "olivia")


@pytest.fixture
def auditor_client(org: Organization) -> Client:
    return _member_client(org, MembershipRole.AUDITOR, "arthur")


@pytest.fixture
def outsider_operator_client(other_org: Organization) -> Client:
    return _member_client(other_org, MembershipRole.OPERATOR, "oscar")


def htmx(**extra: Any) -> dict[str, Any]:
    """Headers htmx sends with every request."""
    return {"HTTP_HX_REQUEST": "true", **extra}
