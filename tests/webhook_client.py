"""A test client whose requests go through the provider webhooks' own handler
(`console.webhook_handler`), as the provider's do in production."""

from __future__ import annotations

from django.test import Client
from django.test.client import ClientHandler

from console.webhook_handler import ProviderWebhookMiddleware


class WebhookClientHandler(ProviderWebhookMiddleware, ClientHandler):
    """The test client's handler with the provider webhooks' middleware."""


def webhook_client() -> Client:
    client = Client()
    client.handler = WebhookClientHandler(enforce_csrf_checks=False)
    return client
