"""Line roles: router and pool are the platform's; refusals come from the service."""

from __future__ import annotations

import pytest

from console.errors import Conflict
from console.services import Actor
from provisioning.models import PhoneLine
from routing.services.line_roles import line_role_set
from tests.provisioning.factories import PhoneLineFactory, SetupFactory
from tests.routing.factories import PlatformSetupFactory

pytestmark = pytest.mark.django_db

ACTOR = Actor(type="system", id="", label="test")


@pytest.mark.parametrize("role", ["router", "pool"])
def test_an_organisations_line_cannot_take_a_shared_role(role: str) -> None:
    line = PhoneLineFactory(setup=SetupFactory(), pending=True)

    with pytest.raises(Conflict, match="platform setups"):
        line_role_set(line=line, role=role, actor=ACTOR)

    assert PhoneLine.objects.get(pk=line.pk).role == "dedicated"


def test_a_platform_line_becomes_the_router() -> None:
    line = PhoneLineFactory(setup=PlatformSetupFactory(), role="pool")

    assert line_role_set(line=line, role="router", actor=ACTOR).role == "router"
