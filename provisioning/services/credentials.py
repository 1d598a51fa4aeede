"""A setup's secrets and webhook addresses.

Provider credentials and webhook secrets are encrypted before they touch a row and are
never logged: log lines carry setup and line ids only.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.urls import reverse

from console.crypto import decrypt, encrypt
from provisioning.models import Setup
from provisioning.providers.base import AccountCredentials


def setup_credentials(setup: Setup) -> AccountCredentials:
    """The child account's key pair, decrypted. Never log or return the result."""
    data = json.loads(decrypt(setup.credentials_encrypted))
    return AccountCredentials(key_id=data["key_id"], secret=data["secret"])


def credentials_encrypt(credentials: AccountCredentials) -> str:
    return encrypt(json.dumps({"key_id": credentials.key_id, "secret": credentials.secret}))


def setup_webhook_secret(setup: Setup) -> str:
    return decrypt(setup.webhook_secret_encrypted)


def webhook_url(setup: Setup, webhook_type: str | None = None) -> str:
    """The public URL the provider posts this setup's events of `webhook_type` to."""
    if webhook_type is None:
        path = reverse("provider-webhook", kwargs={"setup_id": str(setup.id)})
    else:
        path = reverse(
            "provider-webhook-typed",
            kwargs={"setup_id": str(setup.id), "event_type": webhook_type},
        )
    return f"{settings.PUBLIC_BASE_URL}{path}"


def status_callback_url(setup: Setup, message_ref: str) -> str:
    """Where messaging asks the provider to post one message's status callbacks:
    `message_ref` (our message id) names the message even when the send's answer, and so
    the provider's handle, was lost."""
    path = reverse(
        "provider-webhook-callback",
        kwargs={"setup_id": str(setup.id), "message_ref": message_ref},
    )
    return f"{settings.PUBLIC_BASE_URL}{path}"
