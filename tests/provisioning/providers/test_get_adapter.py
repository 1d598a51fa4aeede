"""get_adapter() keeps one Sendblue adapter per process and settings."""

from __future__ import annotations

from django.test import override_settings

from provisioning.providers import get_adapter
from provisioning.providers.sendblue.adapter import SendblueAdapter

SENDBLUE = {
    "PROVIDER_NAME": "sendblue",
    "PROVIDER_BASE_URL": "https://provider.test",
    "PROVIDER_AGENCY_KEY_ID": "agency-key",
    "PROVIDER_AGENCY_SECRET": "agency-secret",
}


def test_the_sendblue_adapter_is_built_once_per_process() -> None:
    with override_settings(**SENDBLUE):
        first = get_adapter()
        assert isinstance(first, SendblueAdapter)
        assert get_adapter() is first


def test_changed_provider_settings_get_a_new_adapter() -> None:
    with override_settings(**SENDBLUE):
        first = get_adapter()
    with override_settings(**{**SENDBLUE, "PROVIDER_BASE_URL": "https://other.test"}):
        second = get_adapter()
    assert second is not first
    assert second.base_url == "https://other.test"


def test_the_fake_provider_is_still_the_shared_fake(fake_provider) -> None:
    assert get_adapter() is fake_provider
