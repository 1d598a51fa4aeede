"""Setups: creating a provider subaccount with its lines, and the organisation's default
setup (where dedicated-number claims go).
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from console.crypto import encrypt
from console.errors import Conflict, InProgress, ProviderFailed, ValidationFailed
from console.idempotency import IDEMPOTENCY_KEY_REUSED
from console.models import Organization
from console.phone import to_e164
from console.services import Actor, audit_record
from provisioning import providers
from provisioning.models import LineRole, LineState, PhoneLine, Setup, SetupStatus
from provisioning.providers.base import ProviderError
from provisioning.providers.sendblue.parsing import WEBHOOK_TYPES
from provisioning.services.credentials import (
    credentials_encrypt,
    setup_webhook_secret,
    webhook_url,
)
from provisioning.services.lines import line_order, setup_status_refresh

logger = logging.getLogger(__name__)


PROVIDER_REFUSED = "The iMessage provider refused to create the subaccount"
PROVIDER_UNAVAILABLE = "The iMessage provider was unavailable while creating the subaccount"


class ProviderRefused(ProviderFailed):
    """The provider answered 4xx: our request or our agency account is wrong."""


# --- setups ------------------------------------------------------------------

# A create whose provider call has not come back within this long was interrupted (the
# process died mid-call): a retry with its key fails it instead of waiting for ever.
SETUP_CREATE_TIMEOUT = timedelta(minutes=10)
SETUP_INTERRUPTED = (
    "Creating the subaccount was interrupted before the provider answered. Create it again."
)


class SetupCreateInProgress(InProgress):
    """A create with this Idempotency-Key is still talking to the provider."""


def _primary_email(setup: Setup) -> str:
    return f"setup-{setup.id.hex[:12]}@{settings.PROVIDER_PRIMARY_EMAIL_DOMAIN}"


def _fail(setup: Setup, reason: str) -> Setup:
    setup.status = SetupStatus.FAILED
    setup.failure_reason = reason
    setup.save(update_fields=["status", "failure_reason", "updated_at"])
    logger.warning("setup %s failed: %s", setup.id, reason)
    return setup


def _creating(setup: Setup) -> bool:
    """Still waiting for the provider's subaccount (the first provider call)."""
    return setup.status == SetupStatus.PENDING and not setup.provider_account_id


def _setup_start(
    *,
    organization: Organization,
    business_name: str,
    label: str,
    is_platform: bool,
    idempotency_key: str | None,
) -> tuple[Setup, bool]:
    """Commit the `pending` setup row before any provider call; returns (setup, created).

    With a key already used, returns the earlier setup (created=False) after checking the
    request matches. Raises `Conflict` (idempotency_key_reused) or `SetupCreateInProgress`.
    """
    try:
        with transaction.atomic():
            setup = Setup(
                organization=organization,
                business_name=business_name,
                label=label,
                provider=settings.PROVIDER_NAME,
                is_platform=is_platform,
                webhook_secret_encrypted=encrypt(secrets.token_urlsafe(32)),
                status=SetupStatus.PENDING,
                idempotency_key=idempotency_key,
            )
            setup.primary_email = _primary_email(setup)
            setup.save(force_insert=True)
            return setup, True
    except IntegrityError:
        if idempotency_key is None:
            raise
    existing = Setup.objects.get(organization=organization, idempotency_key=idempotency_key)
    if (existing.business_name, existing.label, existing.is_platform) != (
        business_name,
        label,
        is_platform,
    ):
        raise Conflict(IDEMPOTENCY_KEY_REUSED, code="idempotency_key_reused")
    if _creating(existing):
        if existing.created_at > timezone.now() - SETUP_CREATE_TIMEOUT:
            raise SetupCreateInProgress(
                "A setup create with this Idempotency-Key is still in progress."
            )
        _fail(existing, SETUP_INTERRUPTED)
    return existing, False


def setup_create(
    *,
    organization: Organization,
    business_name: str,
    label: str,
    actor: Actor,
    is_platform: bool = False,
    line_roles: list[str] | None = None,
    idempotency_key: str | None = None,
) -> Setup:
    """Create the provider subaccount, register our webhooks and record its lines.

    The setup row is committed `pending` first and every provider call runs outside a
    database transaction, so a slow provider holds no lock and an interrupted create
    still leaves a setup with a status. The first line comes with the subaccount; each
    further role in `line_roles` is requested with add-line. The organisation's first
    setup that works becomes its default (where dedicated-number claims go).

    A provider 5xx/timeout leaves the setup `failed` with a readable `failure_reason`.
    A provider 4xx raises `ProviderRefused` (502) and removes the setup row again.
    With `idempotency_key`, a retry with the same request returns the same setup (as it
    now stands); see `_setup_start` for the conflicts it raises.
    """
    roles = line_roles or [LineRole.DEDICATED]
    setup, created = _setup_start(
        organization=organization,
        business_name=business_name,
        label=label,
        is_platform=is_platform,
        idempotency_key=idempotency_key,
    )
    if not created:
        return setup
    adapter = providers.get_adapter()
    try:
        child = adapter.create_child_account(
            company_name=business_name, primary_email=setup.primary_email, provision_line=True
        )
    except ProviderError as exc:
        if exc.permanent:
            logger.warning("provider refused setup %s: HTTP %s", setup.id, exc.status_code)
            # Nothing exists at the provider: drop the row so the key can be used again.
            setup.delete()
            raise ProviderRefused(
                f"{PROVIDER_REFUSED}: {exc.message}",
                extra={"provider_status": exc.status_code, "provider_error_key": exc.error_key},
            ) from exc
        return _fail(setup, f"{PROVIDER_UNAVAILABLE} ({exc.message}). Create it again later.")

    number = to_e164(child.assigned_number)
    with transaction.atomic():
        setup.provider_account_id = child.account_id[:255]
        setup.credentials_encrypted = credentials_encrypt(child.credentials)
        setup.save(update_fields=["provider_account_id", "credentials_encrypted", "updated_at"])
        if number:
            PhoneLine.objects.create(
                setup=setup,
                role=roles[0],
                state=LineState.ASSIGNED,
                number=number,
                assigned_at=timezone.now(),
            )
        else:
            PhoneLine.objects.create(
                setup=setup,
                role=roles[0],
                state=LineState.PENDING,
                provider_request_id=(child.line_request_id or "")[:64],
            )
    try:
        adapter.register_webhooks(
            credentials=child.credentials,
            urls_by_type={t: webhook_url(setup, t) for t in WEBHOOK_TYPES},
            secret=setup_webhook_secret(setup),
        )
        for role in roles[1:]:
            line_order(PhoneLine.objects.create(setup=setup, role=role, state=LineState.PENDING))
    except ProviderError as exc:
        return _fail(
            setup,
            "The subaccount was created but the provider failed while registering webhooks "
            f"or requesting lines ({exc.message}).",
        )
    setup_status_refresh(setup)
    setup_default_if_none(setup)
    audit_record(
        organization=organization,
        actor=actor,
        action="setup.create",
        obj=setup,
        after={"label": label, "status": setup.status, "lines": len(roles)},
    )
    logger.info("setup %s created with status %s", setup.id, setup.status)
    return setup


def setups_fail_interrupted() -> int:
    """Fail setups whose create died while waiting for the provider; returns how many."""
    return Setup.objects.filter(
        status=SetupStatus.PENDING,
        provider_account_id="",
        created_at__lt=timezone.now() - SETUP_CREATE_TIMEOUT,
    ).update(status=SetupStatus.FAILED, failure_reason=SETUP_INTERRUPTED, updated_at=timezone.now())


PLATFORM_SETUP_NOT_DEFAULT = "A platform setup cannot be an organisation's default."


# --- The default setup ---------------------------------------------------------


@transaction.atomic
def setup_default_set(*, setup: Setup, actor: Actor) -> Setup:
    """Make `setup` the one its organisation's dedicated-number claims go to by default.

    The organisation row lock serialises concurrent choices; the partial unique
    constraint backs that up. Raises `ValidationFailed` for a platform setup.
    """
    if setup.is_platform:
        raise ValidationFailed(PLATFORM_SETUP_NOT_DEFAULT)
    Organization.objects.select_for_update().filter(pk=setup.organization_id).first()
    previous = (
        Setup.objects.filter(organization_id=setup.organization_id, is_default=True)
        .exclude(pk=setup.pk)
        .values_list("id", flat=True)
        .first()
    )
    Setup.objects.filter(organization_id=setup.organization_id, is_default=True).exclude(
        pk=setup.pk
    ).update(is_default=False, updated_at=timezone.now())
    if not setup.is_default:
        Setup.objects.filter(pk=setup.pk).update(is_default=True, updated_at=timezone.now())
        setup.is_default = True
        audit_record(
            organization=setup.organization,
            actor=actor,
            action="setup.default_set",
            obj=setup,
            before={"default_setup": str(previous) if previous else None},
            after={"default_setup": str(setup.id)},
        )
    return setup


def setup_default_if_none(setup: Setup) -> bool:
    """Make a new organisation setup the default when its organisation has none yet;
    returns whether it became the default."""
    if setup.is_platform or setup.status == SetupStatus.FAILED:
        return False
    if Setup.objects.filter(organization_id=setup.organization_id, is_default=True).exists():
        return False
    try:
        with transaction.atomic():
            Setup.objects.filter(pk=setup.pk).update(is_default=True)
    except IntegrityError:
        return False  # another setup of the organisation became the default meanwhile
    setup.is_default = True
    return True
