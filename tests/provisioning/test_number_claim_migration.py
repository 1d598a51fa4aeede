"""NumberClaim moved from routing to provisioning with its table: rows written before the
move are read after it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from provisioning.models import NumberClaim

BEFORE = [
    ("provisioning", "0003_setup_default_and_line_idempotency"),
    ("routing", "0004_assignment_release_reason"),
]
AFTER = [
    ("provisioning", "0004_numberclaim_from_routing"),
    ("routing", "0005_numberclaim_to_provisioning"),
]


@pytest.mark.django_db(transaction=True)
def test_a_claim_stored_before_the_move_is_read_after_it() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    organization = old.get_model("console", "Organization").objects.create(
        name="Riverside Clinic", slug="riverside-migration"
    )
    claim_id = (
        old.get_model("routing", "NumberClaim")
        .objects.create(organization=organization, scope="org", key="k-1", request_fingerprint="f")
        .id
    )

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    claim = NumberClaim.objects.get(pk=claim_id)
    assert (claim.organization_id, claim.scope, claim.key) == (organization.id, "org", "k-1")
    assert NumberClaim._meta.db_table == "routing_numberclaim"
