"""Adapter selection: `settings.PROVIDER_NAME` picks the implementation."""

from __future__ import annotations

from django.conf import settings

from provisioning.providers.base import ProviderAdapter


def get_adapter() -> ProviderAdapter:
    name = settings.PROVIDER_NAME
    if name == "fake":
        from provisioning.providers.fake import fake_provider

        return fake_provider
    if name in {"sendblue", "simulator"}:
        from provisioning.providers.sendblue import SendblueAdapter

        return SendblueAdapter.from_settings()
    raise ValueError(f"unknown PROVIDER_NAME {name!r}")
