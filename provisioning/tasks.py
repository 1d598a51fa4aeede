"""Provisioning background work: the reconciliation poll for lines still pending."""

from __future__ import annotations

import logging

from celery import shared_task

from provisioning.models import Setup
from provisioning.providers.base import ProviderError
from provisioning.selectors import setups_awaiting_lines
from provisioning.services.lines import setup_reconcile
from provisioning.services.setups import setups_fail_interrupted

logger = logging.getLogger(__name__)


@shared_task(
    name="provisioning.setup_reconcile",
    autoretry_for=(ProviderError,),
    retry_backoff=30,
    max_retries=3,
)
def setup_reconcile_task(setup_id: str) -> int:
    """Poll the provider for one setup's pending lines (idempotent: assigning twice is a no-op)."""
    setup = Setup.objects.filter(id=setup_id).first()
    if setup is None:
        return 0
    return setup_reconcile(setup=setup)


@shared_task(name="provisioning.setups_reconcile_all")
def setups_reconcile_all() -> int:
    """Beat entry: enqueue one reconciliation per setup that still waits for a line, and
    fail the setups whose create was interrupted before the provider answered."""
    setups_fail_interrupted()
    ids = [str(pk) for pk in setups_awaiting_lines().values_list("id", flat=True)]
    for setup_id in ids:
        try:
            setup_reconcile_task.delay(setup_id)
        except Exception:  # a broker hiccup must not stop the others; the next beat retries
            logger.exception("could not enqueue reconciliation for setup %s", setup_id)
    return len(ids)
