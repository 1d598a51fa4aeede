"""Secret hygiene: the session-wide scanner works, keys are stored as hashes only, compared
in constant time, and every invalid key gets the same 401."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import models
from django.utils import timezone

from console import crypto
from console.api import authentication
from console.models import ApiKey
from console.services import Actor, api_key_create, api_key_revoke
from tests import secret_scan
from tests.conftest import keyed_client
from tests.secret_scan import SecretScanner

WHOAMI = "/api/whoami"


class FakeResponse(dict[str, str]):
    def __init__(self, body: bytes, status_code: int = 200) -> None:
        super().__init__({"Content-Type": "application/json"})
        self.content = body
        self.status_code = status_code


# --- The scanner itself ------------------------------------------------------------


def test_the_scanner_reports_a_secret_found_in_a_log_line() -> None:
    scanner = SecretScanner()
    scanner.record_secret("bw_supersecretvalue123", "api_key")
    scanner.capture("log", "INFO app", "created key bw_supersecretvalue123 for org 1")
    assert [leak.capture_kind for leak in scanner.leaks()] == ["log"]


def test_the_scanner_ignores_captures_without_secrets() -> None:
    scanner = SecretScanner()
    scanner.record_secret("bw_supersecretvalue123", "api_key")
    scanner.capture("log", "INFO app", "created key bw_supe…e123 for org 1")
    assert scanner.leaks() == []


def test_the_scanner_reports_a_secret_in_a_json_plaintext_leaf() -> None:
    scanner = SecretScanner()
    scanner.record_secret('{"key_id": "fake_k_0123456789", "secret": "fake_s_abcdefghijk"}', "enc")
    scanner.capture("response", "GET /x", '{"secret": "fake_s_abcdefghijk"}')
    assert len(scanner.leaks()) == 1


def test_a_key_creation_response_may_show_its_key_once() -> None:
    scanner = SecretScanner()
    scanner.record_secret("bw_supersecretvalue123", "api_key")
    body = b'{"api_key": "bw_supersecretvalue123", "record": {"last4": "e123"}}'
    scanner.capture_response("POST", "/api/v1/api-keys", FakeResponse(body, 201))
    assert scanner.leaks() == []


def test_showing_a_key_in_two_creation_responses_is_a_leak() -> None:
    scanner = SecretScanner()
    scanner.record_secret("bw_supersecretvalue123", "api_key")
    body = b'{"api_key": "bw_supersecretvalue123"}'
    scanner.capture_response("POST", "/api/v1/api-keys", FakeResponse(body, 201))
    scanner.capture_response("POST", "/api/v1/api-keys", FakeResponse(body, 201))
    assert len(scanner.leaks()) == 1


def test_a_key_in_another_field_of_a_creation_response_is_a_leak() -> None:
    scanner = SecretScanner()
    scanner.record_secret("bw_supersecretvalue123", "api_key")
    body = b'{"api_key": "bw_other_value_00000", "record": {"label": "bw_supersecretvalue123"}}'
    scanner.capture_response("POST", "/api/v1/api-keys", FakeResponse(body, 201))
    assert len(scanner.leaks()) == 1


def test_a_signing_key_read_response_may_not_show_the_secret() -> None:
    scanner = SecretScanner()
    scanner.record_secret("whsec_c2VjcmV0c2VjcmV0c2VjcmV0", "encrypted")
    body = b'{"signing_key": "whsec_c2VjcmV0c2VjcmV0c2VjcmV0"}'
    scanner.capture_response("GET", "/api/v1/identities/nurse-bot/signing-key", FakeResponse(body))
    assert len(scanner.leaks()) == 1


def test_the_text_after_whsec_is_a_secret_too() -> None:
    scanner = SecretScanner()
    scanner.record_secret("whsec_c2VjcmV0c2VjcmV0c2VjcmV0", "encrypted")
    scanner.capture("log", "DEBUG hmac", "key=c2VjcmV0c2VjcmV0c2VjcmV0")
    assert len(scanner.leaks()) == 1


# --- The session hooks are live ------------------------------------------------------


@pytest.mark.django_db
def test_created_api_keys_are_recorded_for_the_session_scan(org) -> None:
    issued = api_key_create(organization=org, label="recorded")
    assert secret_scan.scanner.secrets.get(issued.raw_key) == "api_key"


def test_encrypted_values_are_recorded_for_the_session_scan() -> None:
    crypto.encrypt("provider-secret-0123456789")
    assert "provider-secret-0123456789" in secret_scan.scanner.secrets


def test_log_lines_are_captured_for_the_session_scan() -> None:
    logging.getLogger("bluewire.verification").warning("marker-log-line-%s", "4711")
    assert any(c.text == "marker-log-line-4711" for c in secret_scan.scanner.captures)


@pytest.mark.django_db
def test_server_responses_are_captured_for_the_session_scan(admin_client) -> None:
    admin_client.get(WHOAMI)
    assert any(c.where == f"GET {WHOAMI} -> 200" for c in secret_scan.scanner.captures)


# --- API keys: hash-only storage, constant-time compare, one 401 ------------------------


@pytest.mark.django_db
def test_the_raw_api_key_is_stored_nowhere_in_the_database(org) -> None:
    issued = api_key_create(organization=org, label="hashed")
    assert issued.record.key_hash == hashlib.sha256(issued.raw_key.encode()).hexdigest()
    for model in apps.get_models():
        text_fields = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField | models.TextField | models.JSONField)
        ]
        for row in model.objects.values_list(*text_fields) if text_fields else []:
            assert all(issued.raw_key not in str(value) for value in row), model.__name__


@pytest.mark.django_db
def test_api_keys_are_compared_in_constant_time(admin_client, monkeypatch) -> None:
    calls: list[tuple[str, str]] = []
    real = authentication.hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(authentication.hmac, "compare_digest", spy)
    assert admin_client.get(WHOAMI).status_code == 200
    assert calls == [(admin_client.issued.record.key_hash,) * 2]


@pytest.mark.django_db
def test_every_invalid_key_gets_the_same_401(anon_client, org, other_org) -> None:
    revoked = api_key_create(organization=org, label="revoked")
    api_key_revoke(key=revoked.record, actor=Actor.system())
    expired = api_key_create(organization=org, label="expired")
    ApiKey.objects.filter(pk=expired.record.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    valid = api_key_create(organization=other_org, label="valid")
    attempts = {
        "missing": None,
        "empty": "",
        "unknown": "bw_this_key_does_not_exist_anywhere_at_all",
        "revoked": revoked.raw_key,
        "expired": expired.raw_key,
        "truncated": valid.raw_key[:-1],
        "padded": valid.raw_key + " ",
        "non-ascii": "bw_ключ",
        "huge": "bw_" + "x" * 8000,
    }
    responses = {}
    for reason, raw in attempts.items():
        client = type(anon_client)()
        if raw is not None:
            client.credentials(HTTP_X_API_KEY=raw)
        responses[reason] = client.get(WHOAMI)
    reference = responses["unknown"]
    assert reference.status_code == 401
    for reason, response in responses.items():
        assert (response.status_code, response.content) == (401, reference.content), reason
        assert response.get("WWW-Authenticate") == reference.get("WWW-Authenticate"), reason


@pytest.mark.django_db
def test_a_401_body_never_echoes_the_presented_key(org) -> None:
    issued = api_key_create(organization=org, label="revoked")
    api_key_revoke(key=issued.record, actor=Actor.system())
    response = keyed_client(issued).get(WHOAMI)
    assert response.status_code == 401
    assert issued.raw_key.encode() not in response.content
    assert issued.raw_key[-8:].encode() not in response.content


# --- Patient text never reaches the logs at info level or above ---------------------


@pytest.mark.django_db
def test_message_text_never_reaches_the_logs_inbound_or_outbound(
    conversation, identity_client, caplog, django_capture_on_commit_callbacks
) -> None:
    """A unique marker travels through the provider intake (inbound) and the send API,
    the send task and a status callback (outbound); no log line at INFO or above has it."""
    import json

    from tests.provisioning.factories import PhoneLineFactory, SetupFactory, setup_secret

    inbound_marker = f"patient-says-{__import__('uuid').uuid4().hex}"
    outbound_marker = f"agent-says-{__import__('uuid').uuid4().hex}"
    caplog.set_level(logging.DEBUG)
    identity = conversation.identity
    line = PhoneLineFactory(
        setup=SetupFactory(organization=identity.organization), identity=identity
    )
    body = {
        "message_handle": "log-marker-handle",
        "content": inbound_marker,
        "is_outbound": False,
        "status": "RECEIVED",
        "from_number": "+12025550123",
        "to_number": line.number,
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = identity_client.post(
            f"/api/v1/provider-webhooks/{line.setup_id}/receive",
            data=json.dumps(body),
            content_type="application/json",
            HTTP_SB_SIGNING_SECRET=setup_secret(line.setup),
        )
    assert response.status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        sent = identity_client.post(
            "/api/v1/imessage/messages",
            {"conversation_id": str(conversation.id), "text": outbound_marker},
            format="json",
        )
    assert sent.status_code == 201
    from messaging.models import Message

    outbound = Message.objects.get(pk=sent.json()["message"]["id"])
    callback = {"message_handle": outbound.provider_handle, "is_outbound": True, "status": "ERROR"}
    callback["error_message"] = f"could not deliver {outbound_marker}"
    identity_client.post(
        f"/api/v1/provider-webhooks/{line.setup_id}/outbound",
        data=json.dumps(callback),
        content_type="application/json",
        HTTP_SB_SIGNING_SECRET=setup_secret(line.setup),
    )
    assert Message.objects.filter(content=inbound_marker).exists()
    assert len(caplog.records) > 0
    for record in caplog.records:
        if record.levelno >= logging.INFO:
            text = f"{record.getMessage()} {record.__dict__}"
            assert inbound_marker not in text, record.name
            assert outbound_marker not in text, record.name
