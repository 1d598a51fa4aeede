"""Production settings for subprocess tests: `DEBUG` off, real secrets, hosts that never
resolve (`check --deploy` and the static-file tests never connect to them)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

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
