"""Console and admin logins are throttled (django-axes); console sessions expire when idle."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from console.memberships import membership_grant
from console.models import AuditEntry, MembershipRole, Organization
from tests.console.factories import UserFactory
from tests.console.ui.conftest import htmx

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
LOGIN = "/console/login/"
ADMIN_LOGIN = "/admin/login/"


@pytest.fixture
def operator(org: Organization) -> Any:
    user = UserFactory(username="operator", is_staff=True)
    membership_grant(user=user, organization=org, role=MembershipRole.OPERATOR)
    return user


def attempt(
    client: Client, username: str, password: str, *, path: str = LOGIN, ip: str = "203.0.113.5"
) -> Any:
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def fail(client: Client, username: str, times: int, **kwargs: Any) -> None:
    for _ in range(times):
        response = attempt(client, username, "wrong password", **kwargs)
        assert response.status_code in {200, 429}


def without_csrf(response: Any) -> str:
    text = response.content.decode()
    return re.sub(r'(X-CSRFToken": "|name="csrfmiddlewaretoken" value=")[^"]+', r"\1", text)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_ten_failures_lock_the_username_and_the_right_password_is_refused_too(
    client: Client, operator: Any
) -> None:
    fail(client, "operator", settings.LOGIN_FAILURE_LIMIT)

    response = attempt(client, "operator", PASSWORD, ip="198.51.100.7")

    assert response.status_code == 429
    assert f"locked for {settings.LOGIN_LOCKOUT_MINUTES} minutes" in response.content.decode()
    assert not logged_in(client)


def test_nine_failures_do_not_lock(client: Client, operator: Any) -> None:
    fail(client, "operator", settings.LOGIN_FAILURE_LIMIT - 1)

    response = attempt(client, "operator", PASSWORD)

    assert response.status_code == 302
    assert logged_in(client)


def test_the_lock_ends_after_the_lockout_time(client: Client, operator: Any) -> None:
    with time_machine.travel(timezone.now(), tick=False) as clock:
        fail(client, "operator", settings.LOGIN_FAILURE_LIMIT)
        clock.shift(timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES - 1))
        assert attempt(client, "operator", PASSWORD).status_code == 429
        clock.shift(timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES + 1))

        response = attempt(client, "operator", PASSWORD)

    assert response.status_code == 302 and logged_in(client)


def test_failures_older_than_the_window_do_not_count(client: Client, operator: Any) -> None:
    with time_machine.travel(timezone.now(), tick=False) as clock:
        fail(client, "operator", settings.LOGIN_FAILURE_LIMIT - 1)
        clock.shift(timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES + 1))
        fail(client, "operator", 1)

        response = attempt(client, "operator", PASSWORD)

    assert response.status_code == 302


def test_the_lock_is_written_to_the_audit_log_of_the_user_organisation(
    client: Client, operator: Any, org: Organization
) -> None:
    fail(client, "operator", settings.LOGIN_FAILURE_LIMIT)
    fail(client, "operator", 3)  # while locked: the same lock, no new entry

    entry = AuditEntry.objects.get(action="login.locked")
    assert entry.organization_id == org.id
    assert entry.object_id == str(operator.pk)
    assert entry.after["locked_minutes"] == settings.LOGIN_LOCKOUT_MINUTES
    assert "wrong password" not in str(entry.after) and PASSWORD not in str(entry.after)


def test_an_unknown_username_gets_the_same_lock_page(client: Client, operator: Any) -> None:
    fail(client, "operator", settings.LOGIN_FAILURE_LIMIT)
    fail(client, "nobody", settings.LOGIN_FAILURE_LIMIT, ip="198.51.100.9")

    real = attempt(client, "operator", PASSWORD, ip="198.51.100.10")
    unknown = attempt(client, "nobody", PASSWORD, ip="198.51.100.11")

    assert (real.status_code, without_csrf(real)) == (unknown.status_code, without_csrf(unknown))


def test_one_address_failing_for_many_usernames_is_locked(
    client: Client, operator: Any, org: Organization
) -> None:
    for n in range(settings.LOGIN_FAILURE_LIMIT):
        attempt(client, f"guess{n}", "wrong", ip="203.0.113.99")

    assert attempt(client, "operator", PASSWORD, ip="203.0.113.99").status_code == 429
    assert attempt(client, "operator", PASSWORD, ip="203.0.113.100").status_code == 302


def test_admin_login_failures_lock_the_console_login(client: Client, operator: Any) -> None:
    fail(client, "operator", settings.LOGIN_FAILURE_LIMIT, path=ADMIN_LOGIN)

    assert attempt(client, "operator", PASSWORD, ip="198.51.100.7").status_code == 429


def test_console_failures_lock_the_admin_login(client: Client, operator: Any) -> None:
    fail(client, "operator", settings.LOGIN_FAILURE_LIMIT)

    response = attempt(client, "operator", PASSWORD, path=ADMIN_LOGIN, ip="198.51.100.7")

    assert response.status_code == 429


def test_the_client_address_comes_from_the_proxy_only_when_trusted(
    client: Client, operator: Any, settings: Any
) -> None:
    settings.LOGIN_TRUST_X_FORWARDED_FOR = True
    for n in range(settings.LOGIN_FAILURE_LIMIT):
        client.post(
            LOGIN,
            {"username": f"guess{n}", "password": "x"},
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.50",
        )

    behind_same_proxy = client.post(
        LOGIN,
        {"username": "operator", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="203.0.113.51",
    )

    assert behind_same_proxy.status_code == 302


# --- idle timeout ---------------------------------------------------------------------


def login(client: Client) -> None:
    response = attempt(client, "operator", PASSWORD)
    assert response.status_code == 302


def test_an_idle_session_goes_to_the_login_page_and_comes_back(
    client: Client, operator: Any
) -> None:
    page = reverse("console:blocked")
    with time_machine.travel(timezone.now(), tick=False) as clock:
        login(client)
        clock.shift(timedelta(minutes=settings.CONSOLE_IDLE_TIMEOUT_MINUTES + 1))

        response = client.get(page)

        assert response.status_code == 302
        assert response["Location"] == f"{LOGIN}?next={page}"
        back = client.post(response["Location"], {"username": "operator", "password": PASSWORD})
        assert back["Location"] == page


def test_activity_keeps_the_session_alive(client: Client, operator: Any) -> None:
    page = reverse("console:dashboard")
    with time_machine.travel(timezone.now(), tick=False) as clock:
        login(client)
        for _ in range(3):
            clock.shift(timedelta(minutes=settings.CONSOLE_IDLE_TIMEOUT_MINUTES - 2))
            assert client.get(page).status_code == 200


def test_an_expired_htmx_request_redirects_the_whole_page_back_to_where_the_user_was(
    client: Client, operator: Any
) -> None:
    with time_machine.travel(timezone.now(), tick=False) as clock:
        login(client)
        clock.shift(timedelta(minutes=settings.CONSOLE_IDLE_TIMEOUT_MINUTES + 1))

        response = client.get(
            reverse("console:blocked"),
            **htmx(HTTP_HX_CURRENT_URL="http://testserver/console/identities/?q=nurse"),
        )

    assert response.status_code == 204
    assert response["HX-Redirect"] == f"{LOGIN}?next=/console/identities/%3Fq%3Dnurse"


def test_a_foreign_return_address_is_not_followed(client: Client, operator: Any) -> None:
    response = client.get(
        reverse("console:blocked"),
        **htmx(HTTP_HX_CURRENT_URL="https://evil.example/phish"),
    )

    assert response["HX-Redirect"] == f"{LOGIN}?next=/console/blocked/"
