"""The provider contract suite: every adapter method, its answers and its refusals, run
against the fake adapter and against the real Sendblue adapter speaking HTTP to the
simulator on a free port. A call one side accepts and the other refuses fails here, so
tests that use the fake stand for the simulator (and the provider documentation it
follows)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from provisioning.providers.base import (
    MEDIA_URL_REFUSED,
    AccountCredentials,
    ChildAccount,
    ProviderAdapter,
    ProviderError,
)
from provisioning.providers.fake import FakeProvider
from provisioning.providers.sendblue.adapter import SendblueAdapter
from provisioning.simulator import rules
from tests.live_simulator import AGENCY, ServedSimulator, serve_simulator

PERSON = "+12025550143"
HOOK = "http://127.0.0.1:9/hooks"  # nothing listens: deliveries fail at once
_emails = itertools.count(1)


@dataclass
class Provider:
    kind: str
    adapter: ProviderAdapter
    place: Callable[[str], str]  # fulfil an open line request; returns the number
    assign_immediately: Callable[[bool], None]
    media_source: Callable[[], str]  # a URL the provider can download

    def child(self, *, provision_line: bool = True) -> ChildAccount:
        return self.adapter.create_child_account(
            company_name="Acme Health",
            primary_email=f"contract-{next(_emails)}@bluewire.test",
            provision_line=provision_line,
        )


def _fake() -> Provider:
    fake = FakeProvider()

    def place(request_id: str) -> str:
        number = fake.place_line(request_id).number
        assert number is not None
        return number

    return Provider(
        kind="fake",
        adapter=fake,
        place=place,
        assign_immediately=lambda value: setattr(fake, "assign_immediately", value),
        media_source=lambda: "https://media.example.com/scan.png",
    )


def _simulated(served: ServedSimulator) -> Provider:
    def place(request_id: str) -> str:
        answer = served.control("POST", f"/control/lines/{request_id}/assign")
        return str(answer.json()["data"]["phoneNumber"])

    def media_source() -> str:
        media_id = served.simulator.store_media("image/png", b"\x89PNG")
        return f"{served.url}/media/{media_id}"

    return Provider(
        kind="simulator",
        adapter=SendblueAdapter(
            base_url=served.url, agency=AGENCY, max_retries=0, sleep=lambda seconds: None
        ),
        place=place,
        assign_immediately=lambda value: setattr(served.simulator, "assign_immediately", value),
        media_source=media_source,
    )


@pytest.fixture(params=["fake", "simulator"])
def provider(request: pytest.FixtureRequest) -> Iterator[Provider]:
    if request.param == "fake":
        yield _fake()
        return
    # Statuses stay QUEUED for the whole test: nothing progresses behind its back.
    with serve_simulator(assign_immediately=True, status_delay=3600) as served:
        yield _simulated(served)


@pytest.fixture
def account(provider: Provider) -> ChildAccount:
    return provider.child()


def refused(call: Callable[[], Any]) -> tuple[int | None, bool, str]:
    with pytest.raises(ProviderError) as caught:
        call()
    return caught.value.status_code, caught.value.permanent, caught.value.message


def bad_request(message: str) -> tuple[int, bool, str]:
    return 400, True, f"provider answered HTTP 400: {message}"


NOT_REGISTERED = bad_request(rules.FROM_NUMBER_NOT_REGISTERED)
WRONG_KEYS = AccountCredentials(key_id="nobody", secret="nothing")


def line(account: ChildAccount) -> str:
    assert account.assigned_number is not None
    return account.assigned_number


# --- Subaccounts and lines --------------------------------------------------------------


def test_a_child_account_comes_with_its_keys_and_a_line_placed_at_once(account: ChildAccount):
    assert account.credentials.key_id and account.credentials.secret
    assert line(account).startswith("+1")
    assert account.line_request_id is None


def test_a_child_account_whose_line_waits_names_the_request_that_will_place_it(
    provider: Provider,
):
    provider.assign_immediately(False)

    child = provider.child()

    assert child.assigned_number is None and child.line_request_id
    pending = provider.adapter.get_line_request(
        credentials=child.credentials, request_id=child.line_request_id
    )
    assert (pending.status, pending.number) == ("OPEN", None)
    number = provider.place(child.line_request_id)
    placed = provider.adapter.get_line_request(
        credentials=child.credentials, request_id=child.line_request_id
    )
    assert (placed.status, placed.number) == ("FULFILLED", number)


def test_a_second_child_account_with_the_same_email_is_refused(provider: Provider):
    create = provider.adapter.create_child_account
    create(company_name="Acme", primary_email="same@bluewire.test", provision_line=True)

    assert refused(
        lambda: create(company_name="Acme", primary_email="same@bluewire.test", provision_line=True)
    ) == bad_request(rules.DUPLICATE_EMAIL)


def test_add_line_places_another_line_on_the_account(provider: Provider, account: ChildAccount):
    added = provider.adapter.request_line(credentials=account.credentials)

    assert added.status == "FULFILLED" and added.number
    states = provider.adapter.lines_state(credentials=account.credentials)
    assert sorted(e.number or "" for e in states) == sorted([line(account), added.number])
    assert {e.status for e in states} == {"ONLINE"}


def test_add_line_waiting_for_placement_is_open_until_placed(
    provider: Provider, account: ChildAccount
):
    provider.assign_immediately(False)

    added = provider.adapter.request_line(credentials=account.credentials)
    number = provider.place(added.request_id)

    assert (added.status, added.number) == ("OPEN", None)
    found = provider.adapter.get_line_request(
        credentials=account.credentials, request_id=added.request_id
    )
    assert (found.status, found.number) == ("FULFILLED", number)


def test_an_unknown_or_foreign_line_request_is_404(provider: Provider, account: ChildAccount):
    provider.assign_immediately(False)
    other = provider.child()
    assert other.line_request_id is not None
    not_found = (404, True, f"provider answered HTTP 404: {rules.LINE_REQUEST_NOT_FOUND}")

    assert (
        refused(
            lambda: provider.adapter.get_line_request(
                credentials=account.credentials, request_id="999999"
            )
        )
        == not_found
    )
    assert (
        refused(
            lambda: provider.adapter.get_line_request(
                credentials=account.credentials, request_id=other.line_request_id or ""
            )
        )
        == not_found
    )


def test_webhooks_register_for_our_types_and_registering_again_is_harmless(
    provider: Provider, account: ChildAccount
):
    urls = {t: f"{HOOK}/{t}" for t in ("receive", "outbound", "typing_indicator")}

    for _ in range(2):
        provider.adapter.register_webhooks(
            credentials=account.credentials, urls_by_type=urls, secret="s3cret-value"
        )


def test_an_undocumented_webhook_type_is_refused(provider: Provider, account: ChildAccount):
    assert refused(
        lambda: provider.adapter.register_webhooks(
            credentials=account.credentials,
            urls_by_type={"status_changes": f"{HOOK}/x"},
            secret="s3cret-value",
        )
    ) == bad_request("Unknown webhook type 'status_changes'")


@pytest.mark.parametrize(
    "call",
    [
        lambda a: a.request_line(credentials=WRONG_KEYS),
        lambda a: a.lines_state(credentials=WRONG_KEYS),
        lambda a: a.register_webhooks(credentials=WRONG_KEYS, urls_by_type={}, secret="x"),
        lambda a: a.send_typing(credentials=WRONG_KEYS, from_number=PERSON, to_number=PERSON),
        lambda a: a.mark_read(credentials=WRONG_KEYS, from_number=PERSON, to_number=PERSON),
        lambda a: a.message_status(credentials=WRONG_KEYS, provider_handle="h"),
        lambda a: a.outbound_messages(
            credentials=WRONG_KEYS,
            from_number=PERSON,
            to_number=PERSON,
            created_after=timezone.now(),
        ),
        lambda a: a.send_message(
            credentials=WRONG_KEYS,
            from_number=PERSON,
            to_number=PERSON,
            content="hi",
            media_url=None,
            send_style=None,
            status_callback=None,
        ),
    ],
    ids=["add-line", "lines-state", "webhooks", "typing", "mark-read", "status", "list", "send"],
)
def test_wrong_keys_get_401_on_every_call(provider: Provider, call: Callable[[Any], Any]):
    assert refused(lambda: call(provider.adapter)) == (
        401,
        True,
        f"provider answered HTTP 401: {rules.INVALID_CREDENTIALS}",
    )


# --- Sending ------------------------------------------------------------------------------


def send(provider: Provider, account: ChildAccount, **overrides: Any) -> Any:
    kwargs: dict[str, Any] = {
        "credentials": account.credentials,
        "from_number": line(account),
        "to_number": PERSON,
        "content": "See you at 3",
        "media_url": None,
        "send_style": None,
        "status_callback": None,
        **overrides,
    }
    return provider.adapter.send_message(**kwargs)


def test_a_text_is_accepted_queued_and_its_status_can_be_looked_up(
    provider: Provider, account: ChildAccount
):
    result = send(provider, account, status_callback=f"{HOOK}/status")

    assert result.status == "queued" and result.provider_handle
    looked_up = provider.adapter.message_status(
        credentials=account.credentials, provider_handle=result.provider_handle
    )
    assert looked_up is not None
    assert (looked_up.provider_handle, looked_up.status) == (result.provider_handle, "queued")


def test_media_with_a_send_style_is_accepted(provider: Provider, account: ChildAccount):
    result = send(
        provider,
        account,
        content=None,
        media_url="https://media.example.com/scan.png",
        send_style="celebration",
    )

    assert result.status == "queued"


def test_an_unknown_handle_has_no_status(provider: Provider, account: ChildAccount):
    assert (
        provider.adapter.message_status(credentials=account.credentials, provider_handle="nope")
        is None
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"send_style": "sparkles"},
            f"send_style must be one of {', '.join(sorted(rules.SEND_STYLES))}",
        ),
        ({"content": None}, "content or media_url is required"),
        ({"to_number": "555-0143"}, "You must specify a valid `number` in the request body."),
        ({"media_url": "ftp://media.example.com/a.png"}, MEDIA_URL_REFUSED),
        ({"media_url": "https://media.example.com/a.png?sig=1"}, MEDIA_URL_REFUSED),
        ({"media_url": "https://media.example.com/scan"}, MEDIA_URL_REFUSED),
        ({"status_callback": "callback-please"}, "status_callback must be an http(s) URL"),
    ],
    ids=["style", "empty", "number", "media-scheme", "media-signed", "media-extension", "callback"],
)
def test_sends_the_provider_documents_as_invalid_are_refused(
    provider: Provider, account: ChildAccount, overrides: dict[str, Any], message: str
):
    assert refused(lambda: send(provider, account, **overrides)) == bad_request(message)


def test_sending_from_a_line_of_another_account_is_refused(
    provider: Provider, account: ChildAccount
):
    other = provider.child()

    assert refused(lambda: send(provider, account, from_number=line(other))) == NOT_REGISTERED


def test_the_message_list_finds_the_lines_sends_to_one_person_since_a_moment(
    provider: Provider, account: ChildAccount
):
    since = timezone.now() - timedelta(minutes=1)
    first = send(provider, account).provider_handle
    send(provider, account, to_number="+12025550188")
    second = send(provider, account, content="And bring the form").provider_handle

    found = provider.adapter.outbound_messages(
        credentials=account.credentials,
        from_number=line(account),
        to_number=PERSON,
        created_after=since,
    )

    assert [r.update.provider_handle for r in found] == [first, second]
    assert [(r.from_number, r.to_number) for r in found] == [(line(account), PERSON)] * 2
    assert found[1].content == "And bring the form"


def test_the_message_list_refuses_a_person_who_is_not_a_number(
    provider: Provider, account: ChildAccount
):
    assert refused(
        lambda: provider.adapter.outbound_messages(
            credentials=account.credentials,
            from_number=line(account),
            to_number="555-0143",
            created_after=timezone.now(),
        )
    ) == bad_request("`to_number` must be an E.164 phone number.")


# --- Tapbacks, typing, read receipts, media -----------------------------------------------


def react(provider: Provider, account: ChildAccount, reaction: str, **overrides: Any) -> None:
    kwargs: dict[str, Any] = {
        "credentials": account.credentials,
        "from_number": line(account),
        "provider_handle": "5B0E0C1A-7E43-4D7B-9A55-2F0C1D7B3E10",
        "reaction": reaction,
        "part_index": 0,
        **overrides,
    }
    provider.adapter.send_reaction(**kwargs)


@pytest.mark.parametrize("reaction", rules.REACTIONS)
def test_each_documented_tapback_is_accepted(
    provider: Provider, account: ChildAccount, reaction: str
):
    react(provider, account, reaction)


@pytest.mark.parametrize("reaction", ["eyes", "custom", "-love", "LOVE"])
def test_other_tapbacks_are_refused_with_the_documented_list(
    provider: Provider, account: ChildAccount, reaction: str
):
    assert refused(lambda: react(provider, account, reaction)) == bad_request(
        f"reaction must be one of {', '.join(rules.REACTIONS)}"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"part_index": -1}, "part_index must be a non-negative integer"),
        ({"provider_handle": ""}, "message_handle is required"),
    ],
    ids=["part-index", "handle"],
)
def test_tapbacks_with_bad_fields_are_refused(
    provider: Provider, account: ChildAccount, overrides: dict[str, Any], message: str
):
    assert refused(lambda: react(provider, account, "love", **overrides)) == bad_request(message)


def test_a_tapback_from_a_line_of_another_account_is_refused(
    provider: Provider, account: ChildAccount
):
    other = provider.child()

    assert refused(lambda: react(provider, account, "love", from_number=line(other))) == (
        NOT_REGISTERED
    )


@pytest.mark.parametrize("method", ["send_typing", "mark_read"])
def test_typing_and_read_receipts_are_accepted_from_our_line(
    provider: Provider, account: ChildAccount, method: str
):
    getattr(provider.adapter, method)(
        credentials=account.credentials, from_number=line(account), to_number=PERSON
    )


@pytest.mark.parametrize("method", ["send_typing", "mark_read"])
def test_typing_and_read_receipts_need_a_valid_number(
    provider: Provider, account: ChildAccount, method: str
):
    call = getattr(provider.adapter, method)

    assert refused(
        lambda: call(credentials=account.credentials, from_number=line(account), to_number="x")
    ) == bad_request("You must specify a `number` in the request body.")


@pytest.mark.parametrize("method", ["send_typing", "mark_read"])
def test_typing_and_read_receipts_from_a_foreign_line_are_refused(
    provider: Provider, account: ChildAccount, method: str
):
    other = provider.child()
    call = getattr(provider.adapter, method)

    assert (
        refused(
            lambda: call(credentials=account.credentials, from_number=line(other), to_number=PERSON)
        )
        == NOT_REGISTERED
    )


def test_media_is_rehosted_from_a_public_url(provider: Provider, account: ChildAccount):
    uploaded = provider.adapter.upload_media(
        credentials=account.credentials, source_url=provider.media_source()
    )

    assert uploaded.media_url.startswith("http") and uploaded.media_object_id


def test_media_from_something_that_is_not_a_web_url_is_refused(
    provider: Provider, account: ChildAccount
):
    assert refused(
        lambda: provider.adapter.upload_media(
            credentials=account.credentials, source_url="file:///etc/passwd"
        )
    ) == bad_request("media_url is required")


# --- The simulator's error shape ------------------------------------------------------------


def test_the_simulator_answers_refusals_in_the_providers_error_shape():
    with serve_simulator(assign_immediately=True) as served:
        headers = {"sb-api-key-id": AGENCY.key_id, "sb-api-secret-key": AGENCY.secret}
        response = served.http.post(
            "/accounts/lines/add-line", json={"desired_area_code": "415"}, headers=headers
        )

    assert response.status_code == 400
    assert response.json() == {"status": "ERROR", "message": "line_request_type must be phone"}


def test_every_adapter_method_that_calls_the_provider_is_exercised_here():
    import inspect
    from pathlib import Path

    source = Path(__file__).read_text()
    methods = [
        name
        for name, _ in inspect.getmembers(ProviderAdapter, inspect.isfunction)
        if not name.startswith("_") and name != "parse_webhook"
    ]

    assert len(methods) >= 12
    assert [m for m in methods if f".{m}(" not in source and f'"{m}"' not in source] == []


@pytest.mark.parametrize(
    ("path", "status"),
    [("/accounts/lines/request-child-account", 400), ("/request-child-account", 200)],
)
def test_the_current_child_account_path_requires_provision_line_the_older_one_does_not(
    path: str, status: int
):
    body = {"company_name": "Acme", "primary_email": f"old-{path[1:4]}@bluewire.test"}
    with serve_simulator(assign_immediately=True) as served:
        headers = {"sb-api-key-id": AGENCY.key_id, "sb-api-secret-key": AGENCY.secret}
        response = served.http.post(path, json=body, headers=headers)

    assert response.status_code == status
