from __future__ import annotations

import pytest

from provisioning.models import PhoneLine, Setup
from tests.routing.factories import PlatformSetupFactory, PoolLineFactory, RouterLineFactory

PERSON = "+12025550143"
OTHER_PERSON = "+12025550188"


@pytest.fixture
def platform_setup(db: None) -> Setup:
    return PlatformSetupFactory()


@pytest.fixture
def router(platform_setup: Setup) -> PhoneLine:
    return RouterLineFactory(setup=platform_setup, number="+14155557000")


@pytest.fixture
def pool_lines(platform_setup: Setup) -> list[PhoneLine]:
    return [PoolLineFactory(setup=platform_setup, number=f"+1415555600{i}") for i in range(1, 4)]
