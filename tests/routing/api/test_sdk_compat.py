"""Wire compatibility proven by the client itself: the real `inkbox` SDK (0.7.20) against
the Django live server, for identities and iMessage contact rules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from inkbox import Inkbox
from inkbox.exceptions import DuplicateContactRuleError, InkboxAPIError
from inkbox.identities.exceptions import HandleUnavailableError

from console.models import Organization
from console.services import api_key_create
from tests.console.factories import OrganizationFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sdk_org() -> Organization:
    return OrganizationFactory(slug="sdk-clinic")


@pytest.fixture
def sdk(live_server: Any, sdk_org: Organization) -> Iterator[Inkbox]:
    issued = api_key_create(organization=sdk_org, label="sdk admin")
    port = live_server.url.rsplit(":", 1)[1]
    client = Inkbox(api_key=issued.raw_key, base_url=f"http://localhost:{port}")
    yield client
    client.close()


def test_the_sdk_creates_lists_gets_updates_and_deletes_identities(sdk: Inkbox) -> None:
    created = sdk.identities.create(agent_handle="@sdk-bot", imessage_enabled=True)
    assert created.agent_handle == "sdk-bot"
    assert created.imessage_enabled is True

    assert [i.agent_handle for i in sdk.identities.list()] == ["sdk-bot"]
    assert sdk.identities.get("sdk-bot").id == created.id

    updated = sdk.identities.update(
        "sdk-bot", display_name="SDK Bot", imessage_filter_mode="whitelist"
    )
    assert updated.display_name == "SDK Bot"
    assert str(updated.imessage_filter_mode) in {"whitelist", "FilterMode.WHITELIST"}

    sdk.identities.delete("sdk-bot")
    with pytest.raises(InkboxAPIError) as caught:
        sdk.identities.get("sdk-bot")
    assert caught.value.status_code == 404


def test_the_sdk_recognises_a_taken_handle(sdk: Inkbox) -> None:
    sdk.identities.create(agent_handle="taken-bot")

    with pytest.raises(HandleUnavailableError):
        sdk.identities.create(agent_handle="taken-bot")


def test_the_sdk_manages_contact_rules_and_recognises_duplicates(sdk: Inkbox) -> None:
    sdk.identities.create(agent_handle="rules-bot", imessage_enabled=True)
    rules = sdk.imessage_contact_rules

    rule = rules.create("rules-bot", action="block", match_target="+12025550143")
    assert rule.match_target == "+12025550143"

    with pytest.raises(DuplicateContactRuleError) as caught:
        rules.create("rules-bot", action="allow", match_target="+12025550143", direction="inbound")
    assert str(caught.value.existing_rule_id) == str(rule.id)

    split = rules.update("rules-bot", rule.id, action="allow", apply_to="inbound")
    assert str(split.direction) in {"inbound", "ContactRuleDirection.INBOUND"}
    assert {str(r.id) for r in rules.list("rules-bot")} == {str(rule.id), str(split.id)}
    assert len(rules.list_all()) == 2
    assert rules.get("rules-bot", rule.id).id == rule.id

    rules.delete("rules-bot", split.id)
    assert [str(r.id) for r in rules.list("rules-bot")] == [str(rule.id)]
