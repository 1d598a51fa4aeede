"""`manage.py check --deploy` is clean with production settings (run as a real process)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def production_env(**overrides: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "console.settings.base",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "bluewire.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://bluewire.example.com",
        "PUBLIC_BASE_URL": "https://bluewire.example.com",
        # check --deploy never connects, so the host need not exist.
        "DATABASE_URL": "postgres://bluewire@db.invalid:5432/bluewire",
        "CELERY_BROKER_URL": "redis://broker.invalid:6379/0",
    }
    env.update(overrides)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean_with_production_settings() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_turn_on_https_hardening() -> None:
    script = (
        "from django.conf import settings as s;"
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SECURE_HSTS_SECONDS >= 31536000, s.SECURE_HSTS_INCLUDE_SUBDOMAINS,"
        " s.SESSION_COOKIE_HTTPONLY, s.X_FRAME_OPTIONS, s.ALLOWED_HOSTS)"
    )
    result = manage("shell", "-c", script, env=production_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == [
        "False",
        "True",
        "True",
        "True",
        "True",
        "True",
        "True",
        "DENY",
        "['bluewire.example.com']",
    ]


def test_production_refuses_to_start_without_a_secret_key() -> None:
    env = production_env()
    del env["SECRET_KEY"]
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


@pytest.mark.parametrize("value", ["maybe", "2", "TRUE-ish"])
def test_a_malformed_boolean_setting_fails_at_start_up(value: str) -> None:
    result = manage("check", env=production_env(DEBUG=value))
    assert result.returncode != 0
    assert "DEBUG must be true or false" in result.stderr


def test_secrets_at_rest_need_encryption_keys_when_debug_is_off() -> None:
    env = production_env()
    del env["FIELD_ENCRYPTION_KEYS"]
    script = "from console import crypto; crypto.encrypt('x')"
    result = manage("shell", "-c", script, env=env)
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS is required" in result.stderr
