"""The provider's webhooks served by a request handler of their own.

The provider sends no cookie, session, CSRF token or login, and takes no page: of the
site's middleware its requests need the security headers, the host check and the JSON
error answers, and none of the rest (sessions, authentication, messages, htmx, static
files, login lockout). `webhooks_apart(site)` is the WSGI application that hands
`/api/v1/provider-webhooks/...` to `ProviderWebhookHandler` and everything else to the
site's own handler; the URLs, views, signals and database handling are the same in both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.utils.module_loading import import_string

PROVIDER_WEBHOOK_PREFIX = "/api/v1/provider-webhooks/"

# In the order of settings.MIDDLEWARE (a test holds them to it and to deciding, for any
# middleware added there, whether the provider's requests need it).
PROVIDER_WEBHOOK_MIDDLEWARE = (
    "django.middleware.security.SecurityMiddleware",
    "console.middleware.ContentSecurityPolicyMiddleware",
    "console.middleware.ApiJsonNotFoundMiddleware",
    "console.middleware.ApiServerErrorMiddleware",
    # The Host header checked against ALLOWED_HOSTS, and the answer's Content-Length.
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
)

WsgiApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ProviderWebhookMiddleware:
    """For a Django request handler: `PROVIDER_WEBHOOK_MIDDLEWARE` in place of
    settings.MIDDLEWARE. Every one of them is a synchronous middleware, so the chain is
    built as Django builds a synchronous one, without its adapters."""

    _get_response: Callable[..., Any]

    def load_middleware(self, is_async: bool = False) -> None:
        if is_async:
            raise ImproperlyConfigured("the provider webhook handler serves WSGI only")
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(PROVIDER_WEBHOOK_MIDDLEWARE):
            middleware = import_string(path)(handler)
            if hasattr(middleware, "process_view"):
                self._view_middleware.insert(0, middleware.process_view)
            if hasattr(middleware, "process_template_response"):
                self._template_response_middleware.append(middleware.process_template_response)
            if hasattr(middleware, "process_exception"):
                self._exception_middleware.append(middleware.process_exception)
            handler = convert_exception_to_response(middleware)
        self._middleware_chain = handler


class ProviderWebhookHandler(ProviderWebhookMiddleware, WSGIHandler):
    """Django's WSGI handler with the provider webhooks' middleware."""


def webhooks_apart(site: WsgiApplication) -> WsgiApplication:
    """The WSGI application: the provider's webhooks to their own handler, the rest to
    `site`."""
    if not set(PROVIDER_WEBHOOK_MIDDLEWARE) <= set(settings.MIDDLEWARE):
        raise ImproperlyConfigured("the provider webhook middleware is not the site's")
    webhooks = ProviderWebhookHandler()

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO", "").startswith(PROVIDER_WEBHOOK_PREFIX):
            return webhooks(environ, start_response)
        return site(environ, start_response)

    return application
