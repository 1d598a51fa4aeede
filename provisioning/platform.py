"""The platform's own subaccount: the router line and the shared pool lines.

Production creates it once with `manage.py create_platform_setup --pool N`; the demo seeding
calls the same service. Running it again tops the setup up to the lines asked for and never
removes one.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.models import Organization
from console.services import Actor
from provisioning.models import LineRole, PhoneLine, Setup, SetupStatus
from provisioning.services.lines import setup_line_add
from provisioning.services.setups import setup_create

PLATFORM_ORG_SLUG = "bluewire-platform"
PLATFORM_ORG_NAME = "Bluewire Platform"
PLATFORM_SETUP_LABEL = "Platform router and pool"


@dataclass(frozen=True)
class PlatformSetupResult:
    setup: Setup
    created: bool
    lines_added: list[PhoneLine]


def platform_setup_ensure(*, pool_lines: int, actor: Actor) -> PlatformSetupResult:
    """Make sure the platform setup exists with one router line and `pool_lines` pool lines.

    A working platform setup (not `failed`) is reused and only the missing lines are
    requested from the provider (add-line); lines whose role an operator changed since count
    under their current role. A failed earlier attempt is left as it is and a new setup is
    created. Lines the provider has not placed yet stay `pending` until `line_assigned`
    arrives (or beat's line reconciliation finds them).

    Returns the setup as it now stands, whether it was created, and the lines added to an
    existing setup. Raises `ProviderRefused` when the provider refuses the subaccount and
    the 502 `provider_error` of `setup_line_add` when it fails while adding a line; a
    provider outage while creating leaves the returned setup `failed` with a reason.
    """
    if pool_lines < 0:
        raise ValueError("pool_lines must not be negative")
    organization, _ = Organization.objects.get_or_create(
        slug=PLATFORM_ORG_SLUG, defaults={"name": PLATFORM_ORG_NAME}
    )
    existing = (
        Setup.objects.filter(organization=organization, is_platform=True)
        .exclude(status=SetupStatus.FAILED)
        .order_by("created_at")
        .first()
    )
    if existing is None:
        setup = setup_create(
            organization=organization,
            business_name=PLATFORM_ORG_NAME,
            label=PLATFORM_SETUP_LABEL,
            actor=actor,
            is_platform=True,
            line_roles=[str(LineRole.ROUTER)] + [str(LineRole.POOL)] * pool_lines,
        )
        return PlatformSetupResult(setup=setup, created=True, lines_added=[])
    added: list[PhoneLine] = []
    missing = {
        LineRole.ROUTER: 1 - existing.lines.filter(role=LineRole.ROUTER).count(),
        LineRole.POOL: pool_lines - existing.lines.filter(role=LineRole.POOL).count(),
    }
    for role, count in missing.items():
        for _ in range(max(count, 0)):
            added.append(setup_line_add(setup=existing, role=role, actor=actor))
    existing.refresh_from_db()
    return PlatformSetupResult(setup=existing, created=False, lines_added=added)
