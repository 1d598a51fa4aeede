"""`manage.py check --deploy` is clean with production settings (run as a real process)."""

from __future__ import annotations

import re

import pytest

from tests.verification.production import ROOT, manage, production_env


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


# What README's Production section gives for a plain-HTTP deployment (local, or a private
# network without TLS); behind a TLS proxy the defaults apply and `check --deploy` is clean.
PLAIN_HTTP = {
    "SECURE_SSL_REDIRECT": "false",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
    "SECURE_HSTS_SECONDS": "0",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "CSRF_TRUSTED_ORIGINS": "http://127.0.0.1:8000",
    "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
}


def test_plain_http_settings_leave_exactly_the_four_https_warnings_readme_names() -> None:
    result = manage("check", "--deploy", env=production_env(**PLAIN_HTTP))
    assert result.returncode == 0, result.stderr
    reported = sorted(set(re.findall(r"\(security\.(W\d+)\)", result.stderr + result.stdout)))
    assert reported == ["W004", "W008", "W012", "W016"]
    readme = (ROOT / "README.md").read_text()
    for warning in reported:
        assert f"security.{warning}" in readme


def test_the_sweep_and_job_timing_settings_come_from_the_environment() -> None:
    script = (
        "from django.conf import settings as s;"
        "print(s.CELERY_BEAT_SCHEDULE['messaging-send-sweep']['schedule'],"
        " s.SEND_SWEEP_GRACE_SECONDS, s.SEND_STUCK_TIMEOUT_SECONDS,"
        " s.CELERY_TASK_SOFT_TIME_LIMIT, s.CELERY_TASK_TIME_LIMIT)"
    )
    env = production_env(
        SWEEP_INTERVAL_SECONDS="2",
        SEND_SWEEP_GRACE_SECONDS="5",
        SEND_STUCK_TIMEOUT_SECONDS="45",
        TASK_SOFT_TIME_LIMIT_SECONDS="20",
        TASK_TIME_LIMIT_SECONDS="30",
    )
    result = manage("shell", "-c", script, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == ["2.0", "5", "45", "20", "30"]


def test_beat_drains_the_access_tally_queue_only_when_one_is_configured() -> None:
    script = (
        "from django.conf import settings as s;"
        "print(s.CELERY_BEAT_SCHEDULE.get('console-access-tally-drain'))"
    )
    queued = production_env(
        ACCESS_TALLY_REDIS_URL="redis://127.0.0.1:6379/0", ACCESS_TALLY_DRAIN_SECONDS="12"
    )
    with_queue = manage("shell", "-c", script, env=queued)
    without_queue = manage("shell", "-c", script, env=production_env())

    assert with_queue.returncode == 0, with_queue.stderr
    assert with_queue.stdout.strip().splitlines()[-1] == (
        "{'task': 'console.access_tally_drain', 'schedule': 12.0}"
    )
    assert without_queue.stdout.strip().splitlines()[-1] == "None"


def test_a_secret_file_that_cannot_be_read_fails_at_start_up_with_its_name() -> None:
    env = production_env(PROVIDER_AGENCY_KEY_ID_FILE="/nonexistent/provider-agency-key-id")
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "PROVIDER_AGENCY_KEY_ID_FILE is set but /nonexistent/provider-agency-key-id" in (
        result.stderr
    )
