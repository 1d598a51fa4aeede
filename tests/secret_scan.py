"""Secret hygiene for the whole test run (a pytest plugin, registered in tests/conftest.py).

It records every secret the suite creates, captures every log line, every HTTP response
the server produces (test clients, the live server, the admin, the console) and every
exception report, and at the end of the session fails the run if a recorded secret shows
up anywhere it must not.

Where secrets are recorded:
- raw API keys: `console.services.api_key_create` hashes them through the module-level
  `hash_api_key`, which this plugin wraps;
- everything stored encrypted (provider credentials, provider webhook secrets, signing
  keys, subscription auth tokens): `console.crypto.encrypt` goes through `_fernet()`,
  which this plugin wraps, so whatever is encrypted is recorded (and the string leaves of
  a JSON plaintext);
- the deployment secrets in settings;
- anything a test passes to `record_secret`.

Responses that legitimately show a secret once are allow-listed by route and field
(`SHOWN_ONCE`), or marked by a test with `shown_once(response)`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

# Shorter values are too likely to occur by chance (test fixtures encrypt "x" or "abc").
MIN_SECRET_LENGTH = 12


@dataclass(frozen=True)
class ShownOnce:
    """A response that may carry a secret it just created, in one JSON field."""

    method: str
    path: re.Pattern[str]
    fields: tuple[str, ...]


SHOWN_ONCE: tuple[ShownOnce, ...] = (
    # Agent API: the plaintext appears exactly once, in the create/rotate response.
    ShownOnce("POST", re.compile(r"^/api/v1/api-keys/?$"), ("api_key",)),
    ShownOnce("POST", re.compile(r"^/api/v1/identities/[^/]+/signing-key/?$"), ("signing_key",)),
    ShownOnce("POST", re.compile(r"^/api/v1/signing-keys/?$"), ("signing_key",)),
    ShownOnce("POST", re.compile(r"^/api/v1/webhooks/subscriptions/?$"), ("signing_key",)),
)

# The subscription auth token belongs to the agent's own receiver and the contract returns
# it on subscription reads (agent-api.md §5.2); it must still never reach logs or pages.
AUTH_TOKEN_READ_PATHS = re.compile(r"^/api/v1/webhooks/subscriptions(/[^/]+)?/?$")


@dataclass
class Capture:
    kind: str  # "log" | "response" | "exception"
    where: str
    text: str
    allowed: frozenset[str] = frozenset()


@dataclass
class Leak:
    secret_kind: str
    capture_kind: str
    where: str

    def __str__(self) -> str:
        return f"{self.secret_kind} secret in {self.capture_kind}: {self.where}"


@dataclass
class SecretScanner:
    secrets: dict[str, str] = field(default_factory=dict)  # value -> kind
    captures: list[Capture] = field(default_factory=list)
    shown: dict[str, list[str]] = field(default_factory=dict)  # secret -> where it was shown
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record_secret(self, value: Any, kind: str) -> None:
        if not isinstance(value, str):
            return
        for candidate in _secret_strings(value):
            with self._lock:
                self.secrets.setdefault(candidate, kind)

    def forget_secret(self, value: str) -> None:
        with self._lock:
            self.secrets.pop(value, None)
            self.shown.pop(value, None)

    def capture(
        self, kind: str, where: str, text: str, allowed: frozenset[str] = frozenset()
    ) -> Capture | None:
        if not text:
            return None
        item = Capture(kind, where, text, allowed)
        with self._lock:
            self.captures.append(item)
        return item

    def capture_response(self, method: str, path: str, response: Any) -> Capture | None:
        if getattr(response, "streaming", False):
            return None
        try:
            body = response.content.decode("utf-8", "replace")
        except Exception:
            return None
        headers = "\n".join(f"{k}: {v}" for k, v in response.items())
        where = f"{method} {path} -> {response.status_code}"
        shown_here: set[str] = set()
        for rule in SHOWN_ONCE:
            if rule.method == method and rule.path.match(path):
                shown_here.update(self._json_fields(body, rule.fields))
        with self._lock:
            for secret in shown_here:
                if secret in self.secrets:
                    self.shown.setdefault(secret, []).append(where)
        allowed = set(shown_here)
        if AUTH_TOKEN_READ_PATHS.match(path):
            allowed.update(self._json_fields(body, ("auth_token",), recursive=True))
        return self.capture("response", where, f"{headers}\n\n{body}", frozenset(allowed))

    def allow_all_in(self, capture: Capture) -> None:
        """Allow every known secret found in this capture (it shows them legitimately)."""
        capture.allowed = capture.allowed | frozenset(self._values_in(capture.text))

    def _values_in(self, body: str) -> set[str]:
        with self._lock:
            known = list(self.secrets)
        return {s for s in known if s in body}

    @staticmethod
    def _json_fields(body: str, names: tuple[str, ...], recursive: bool = False) -> set[str]:
        try:
            data = json.loads(body)
        except ValueError:
            return set()
        found: set[str] = set()

        def walk(node: Any, depth: int) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key in names and isinstance(value, str):
                        found.add(value)
                        found.update(_secret_strings(value))
                    elif recursive or depth == 0:
                        walk(value, depth + 1)
            elif isinstance(node, list) and (recursive or depth == 0):
                for item in node:
                    walk(item, depth + 1)

        walk(data, 0)
        return found

    def leaks(self) -> list[Leak]:
        with self._lock:
            secrets = dict(self.secrets)
            captures = list(self.captures)
            shown = {k: list(v) for k, v in self.shown.items()}
        found: list[Leak] = []
        for secret, places in shown.items():
            if len(places) > 1:
                found.append(Leak(secrets.get(secret, "?"), "response", f"shown {places}"))
        if not secrets:
            return found
        # Longest first so that a secret containing another is reported as itself.
        pattern = re.compile("|".join(re.escape(s) for s in sorted(secrets, key=len, reverse=True)))
        for capture in captures:
            for match in pattern.finditer(capture.text):
                value = match.group(0)
                if value in capture.allowed or any(value in a for a in capture.allowed):
                    continue
                found.append(Leak(secrets[value], capture.kind, capture.where))
                break
        return found

    def reset(self) -> None:
        with self._lock:
            self.secrets.clear()
            self.captures.clear()
            self.shown.clear()


def _secret_strings(value: str) -> Iterator[str]:
    """The value itself and, for a JSON plaintext, its string leaves."""
    if len(value) >= MIN_SECRET_LENGTH:
        yield value
    if value[:1] in "{[":
        try:
            data = json.loads(value)
        except ValueError:
            return
        stack = [data]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, str) and len(node) >= MIN_SECRET_LENGTH:
                yield node
    elif value.startswith("whsec_") and len(value) - 6 >= MIN_SECRET_LENGTH:
        # Receivers key their HMAC on the text after the prefix.
        yield value[6:]


scanner = SecretScanner()


def record_secret(value: str, kind: str = "test") -> None:
    scanner.record_secret(value, kind)


def shown_once(response: Any) -> Any:
    """Mark a response that legitimately shows the secrets it contains (e.g. a console
    page that displays a new key once)."""
    capture = getattr(response, "_secret_scan_capture", None)
    if capture is not None:
        scanner.allow_all_in(capture)
    return response


class CaptureHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:
            text = str(record.msg)
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD_RECORD_ATTRS}
        if extras:
            text += f" {extras!r}"
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        scanner.capture("log", f"{record.levelname} {record.name}", text)


_STANDARD_RECORD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _install() -> Callable[[], None]:
    """Wrap the creation points and the response path; returns the undo function."""
    from django.conf import settings
    from django.core.handlers.base import BaseHandler
    from django.core.signals import got_request_exception
    from django.views.debug import ExceptionReporter

    import console.crypto
    import console.services

    undo: list[Callable[[], None]] = []

    original_hash = console.services.hash_api_key

    def recording_hash(raw_key: str) -> str:
        scanner.record_secret(raw_key, "api_key")
        return original_hash(raw_key)

    console.services.hash_api_key = recording_hash
    undo.append(lambda: setattr(console.services, "hash_api_key", original_hash))

    original_fernet = console.crypto._fernet

    class RecordingFernet:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def encrypt(self, data: bytes) -> bytes:
            scanner.record_secret(data.decode("utf-8", "replace"), "encrypted")
            return self._inner.encrypt(data)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

    def recording_fernet() -> Any:
        return RecordingFernet(original_fernet())

    recording_fernet.cache_clear = original_fernet.cache_clear  # type: ignore[attr-defined]
    console.crypto._fernet = recording_fernet  # type: ignore[assignment]
    undo.append(lambda: setattr(console.crypto, "_fernet", original_fernet))

    original_get_response = BaseHandler.get_response

    def capturing_get_response(self: BaseHandler, request: Any) -> Any:
        response = original_get_response(self, request)
        capture = scanner.capture_response(request.method, request.path, response)
        if capture is not None:
            response._secret_scan_capture = capture
        return response

    BaseHandler.get_response = capturing_get_response  # type: ignore[method-assign]
    undo.append(lambda: setattr(BaseHandler, "get_response", original_get_response))

    def exception_report(sender: Any, request: Any = None, **kwargs: Any) -> None:
        import sys

        exc_type, exc_value, tb = sys.exc_info()
        if exc_value is None:
            return
        # What an admin e-mail or an error tracker would receive (settings-cleansed).
        text = ExceptionReporter(request, exc_type, exc_value, tb).get_traceback_text()
        where = f"{getattr(request, 'method', '?')} {getattr(request, 'path', '?')}"
        scanner.capture("exception", where, text)

    got_request_exception.connect(exception_report, dispatch_uid="secret_scan")
    undo.append(lambda: got_request_exception.disconnect(dispatch_uid="secret_scan"))

    root = logging.getLogger()
    root.addHandler(_handler)
    undo.append(lambda: root.removeHandler(_handler))

    for name in ("SECRET_KEY", "PROVIDER_AGENCY_SECRET"):
        scanner.record_secret(getattr(settings, name, ""), f"settings.{name}")
    for key in getattr(settings, "FIELD_ENCRYPTION_KEYS", []):
        scanner.record_secret(key, "settings.FIELD_ENCRYPTION_KEYS")

    def undo_all() -> None:
        for step in reversed(undo):
            step()

    return undo_all


_undo: Callable[[], None] | None = None
_handler = CaptureHandler(level=logging.DEBUG)


def pytest_runtest_setup(item: pytest.Item) -> None:
    # Anything that re-runs logging configuration (django.setup(), dictConfig in a
    # command under test) drops the root handlers; put ours back before every test.
    root = logging.getLogger()
    if _undo is not None and _handler not in root.handlers:
        root.addHandler(_handler)


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    global _undo
    _undo = _install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _undo
    if _undo is None:
        return
    _undo()
    _undo = None
    found = scanner.leaks()
    session.config._secret_scan_leaks = found  # type: ignore[attr-defined]
    if found:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    found: list[Leak] = getattr(config, "_secret_scan_leaks", [])
    if found:
        terminalreporter.section("secret scan: secrets leaked", red=True)
        for leak in found[:50]:
            terminalreporter.line(str(leak))
        terminalreporter.line(f"{len(found)} leak(s); see tests/secret_scan.py")
    else:
        terminalreporter.line(
            f"secret scan: {len(scanner.secrets)} secrets, {len(scanner.captures)} captures, "
            "no leaks"
        )
