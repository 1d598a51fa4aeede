"""The provider's webhooks served by their own handler: the middleware they keep, the
paths it takes, and an intake answered through it as a WSGI application."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from django.conf import settings
from django.db import OperationalError
from django.test import RequestFactory

from console.webhook_handler import (
    PROVIDER_WEBHOOK_MIDDLEWARE,
    ProviderWebhookHandler,
    webhooks_apart,
)
from provisioning.api import webhooks as webhook_views
from provisioning.models import ProviderEvent
from tests.provisioning.api.test_provider_webhooks import RECEIVE_BODY
from tests.provisioning.factories import SetupFactory, setup_secret

# What the provider's requests do without, and why: the provider sends no cookie,
# session, CSRF token or login, and fetches no page or static file.
NOT_FOR_THE_PROVIDER = {
    "whitenoise.middleware.WhiteNoiseMiddleware": "static files",
    "django.contrib.sessions.middleware.SessionMiddleware": "no session cookie",
    "console.middleware.SessionIdleRefreshMiddleware": "no session cookie",
    "django.middleware.csrf.CsrfViewMiddleware": "the intake is CSRF-exempt",
    "django.contrib.auth.middleware.AuthenticationMiddleware": "no login",
    "django.contrib.messages.middleware.MessageMiddleware": "no pages",
    "django_htmx.middleware.HtmxMiddleware": "no pages",
    "axes.middleware.AxesMiddleware": "no login form",
}


class Answer:
    """What a WSGI application answered."""

    def __init__(self) -> None:
        self.status = ""
        self.headers: dict[str, str] = {}
        self.body = b""

    def start_response(self, status: str, headers: list[tuple[str, str]], *args: Any) -> None:
        self.status = status
        self.headers = {name.lower(): value for name, value in headers}

    @property
    def code(self) -> int:
        return int(self.status.split()[0])


def serve(application: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> Answer:
    answer = Answer()
    chunks = application(environ, answer.start_response)
    answer.body = b"".join(chunks)
    close = getattr(chunks, "close", None)
    if close is not None:
        close()
    return answer


def webhook_environ(setup_id: object, secret: str, body: dict[str, Any]) -> dict[str, Any]:
    data = json.dumps(body).encode()
    environ = (
        RequestFactory()
        .post(
            f"/api/v1/provider-webhooks/{setup_id}",
            data=data,
            content_type="application/json",
            HTTP_SB_SIGNING_SECRET=secret,
        )
        .environ
    )
    environ["wsgi.input"] = io.BytesIO(data)
    return environ


class Site:
    """Stands for the site's own handler: records what reached it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        self.paths.append(environ["PATH_INFO"])
        start_response("204 No Content", [])
        return []


def test_every_middleware_of_the_site_is_kept_or_left_out_for_the_provider_on_purpose() -> None:
    kept = [path for path in settings.MIDDLEWARE if path in PROVIDER_WEBHOOK_MIDDLEWARE]

    assert kept == list(PROVIDER_WEBHOOK_MIDDLEWARE)  # all of them, in the site's order
    assert set(settings.MIDDLEWARE) - set(kept) == set(NOT_FOR_THE_PROVIDER)


@pytest.mark.django_db
def test_only_provider_webhook_paths_leave_the_site() -> None:
    site = Site()
    application = webhooks_apart(site)

    serve(application, RequestFactory().get("/api/v1/imessage/conversations").environ)
    serve(application, RequestFactory().get("/api/v1/provider-webhooks-x").environ)

    assert site.paths == ["/api/v1/imessage/conversations", "/api/v1/provider-webhooks-x"]


@pytest.mark.django_db(transaction=True)
def test_a_provider_webhook_is_recorded_through_its_own_handler() -> None:
    setup = SetupFactory()
    site = Site()

    answer = serve(
        webhooks_apart(site), webhook_environ(setup.id, setup_secret(setup), RECEIVE_BODY)
    )

    assert answer.code == 200
    assert json.loads(answer.body)["status"] == "ok"
    assert ProviderEvent.objects.filter(setup=setup, event_type="receive").count() == 1
    assert site.paths == []


@pytest.mark.django_db(transaction=True)
def test_the_answer_carries_its_length_and_the_security_headers_and_sets_no_cookie() -> None:
    setup = SetupFactory()

    answer = serve(
        ProviderWebhookHandler(), webhook_environ(setup.id, setup_secret(setup), RECEIVE_BODY)
    )

    assert answer.code == 200
    assert answer.headers["content-length"] == str(len(answer.body))
    assert "content-security-policy" in answer.headers
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert "set-cookie" not in answer.headers
    assert "cookie" not in answer.headers.get("vary", "").lower()


@pytest.mark.django_db(transaction=True)
def test_a_database_failure_before_authentication_answers_json_503(
    monkeypatch: Any, caplog: pytest.LogCaptureFixture
) -> None:
    setup = SetupFactory()
    secret = setup_secret(setup)

    def unreachable(**kwargs: Any) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(webhook_views, "setup_for_webhook", unreachable)
    with caplog.at_level(logging.WARNING, logger="console.api.server_errors"):
        answer = serve(ProviderWebhookHandler(), webhook_environ(setup.id, secret, RECEIVE_BODY))

    # Answered by the API's own middleware (which logs it so), not Django's error page.
    assert "database unavailable on POST /api/v1/provider-webhooks/" in caplog.text
    assert answer.code == 503
    assert answer.headers["content-type"] == "application/json"
    assert "retry-after" in answer.headers


@pytest.mark.django_db
def test_an_unknown_path_under_the_prefix_answers_json_404() -> None:
    answer = serve(
        ProviderWebhookHandler(), RequestFactory().get("/api/v1/provider-webhooks/").environ
    )

    assert answer.code == 404
    assert answer.headers["content-type"] == "application/json"


@pytest.mark.django_db(transaction=True)
def test_a_host_the_site_does_not_serve_is_refused() -> None:
    setup = SetupFactory()
    environ = webhook_environ(setup.id, setup_secret(setup), RECEIVE_BODY)
    environ["HTTP_HOST"] = "evil.example"

    answer = serve(ProviderWebhookHandler(), environ)

    assert answer.code == 400
    assert not ProviderEvent.objects.exists()
