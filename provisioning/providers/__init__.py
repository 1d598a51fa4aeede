"""Adapter selection: `settings.PROVIDER_NAME` picks the implementation."""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings

from provisioning.providers.base import ProviderAdapter

# Building the Sendblue adapter builds an httpx client (3-4 ms of CPU), and the webhook
# intake asks for an adapter on every request just to parse a body. One adapter per
# process is enough: httpx clients are thread-safe and the adapter keeps no per-call state.
# Keyed by the settings it was built from, so override_settings in tests gets a fresh one.
_cache: dict[tuple[Any, ...], ProviderAdapter] = {}
_cache_lock = threading.Lock()


def _settings_key() -> tuple[Any, ...]:
    return (
        settings.PROVIDER_NAME,
        getattr(settings, "PROVIDER_BASE_URL", ""),
        getattr(settings, "PROVIDER_AGENCY_KEY_ID", ""),
        getattr(settings, "PROVIDER_AGENCY_SECRET", ""),
        getattr(settings, "PROVIDER_TIMEOUT_SECONDS", None),
        getattr(settings, "PROVIDER_MAX_RETRIES", None),
        getattr(settings, "PROVIDER_CHILD_ACCOUNT_PATH", None),
        getattr(settings, "PROVIDER_ADD_LINE_PATH", None),
    )


def get_adapter() -> ProviderAdapter:
    name = settings.PROVIDER_NAME
    if name == "fake":
        from provisioning.providers.fake import fake_provider

        return fake_provider
    if name in {"sendblue", "simulator"}:
        from provisioning.providers.sendblue.adapter import SendblueAdapter

        key = _settings_key()
        adapter = _cache.get(key)
        if adapter is None:
            with _cache_lock:
                adapter = _cache.get(key)
                if adapter is None:
                    # A settings change leaves the old adapters unused; drop them.
                    _cache.clear()
                    adapter = _cache[key] = SendblueAdapter.from_settings()
        return adapter
    raise ValueError(f"unknown PROVIDER_NAME {name!r}")
