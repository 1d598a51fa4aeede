"""Test settings: only speed and isolation knobs differ from base."""

import os

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "")

from .base import *  # noqa: F403
from .base import BASE_DIR, DATABASES, broker_transport_for
from .environment import env

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = env.str("TEST_CELERY_BROKER_URL", default="memory://")
# A test worker on Redis runs the transport production runs (its reconnect fix included).
CELERY_BROKER_TRANSPORT = broker_transport_for(CELERY_BROKER_URL)
MEDIA_ROOT = BASE_DIR / "var" / "test-media"
# One job per row unless a test turns the wake-up channel on (`outbox_wake_channel`) or runs
# a real worker on Redis (tests/realworker.py), which both use a prefix of their own.
OUTBOX_WAKE_REDIS_URL = env.str("TEST_OUTBOX_WAKE_REDIS_URL", default="")
OUTBOX_WAKE_KEY_PREFIX = env.str("TEST_OUTBOX_WAKE_KEY_PREFIX", default="test:outbox-wake:")
# Wake-ups in the committing thread, so a test sees them done when its request returns;
# tests/console/test_outbox_wake.py runs the wake-up thread itself.
OUTBOX_WAKE_IN_BACKGROUND = False
# A listening connection would outlive the test database; tests/console/test_change_feed.py
# runs feeds of its own.
CREDENTIAL_CHANGE_FEED = False
OUTBOX_WAKE_LINGER_SECONDS = 0.0
# Tests talk to the in-memory fake; a worker subprocess may be pointed at a simulator.
PROVIDER_NAME = env.str("TEST_PROVIDER_NAME", default="fake")
# pytest-django runs tests with DEBUG off, where crypto refuses to derive a key itself.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[]) or [
    "BlaAV6Q9CkGozBtkS5XrpAOifYFiFsQXAtRAR9zuwy8="
]
WEBHOOKS_ALLOW_LOOPBACK = True
# Tests read tallies right after the request; tests/console/test_access_tally.py covers the
# buffer that production uses.
ACCESS_TALLY_FLUSH_SECONDS = 0.0
# Tests build connections with factories between connects; tests/routing/test_line_loads.py
# covers the snapshot that production uses.
POOL_LOAD_SNAPSHOT_SECONDS = 0.0
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" and not os.environ.get(
    "DATABASE_URL"
):
    # A file (not :memory:) so threaded concurrency tests share one database; one per
    # process so parallel runs on one machine never share it.
    _test_db = str(BASE_DIR / "var" / f"test-{os.getpid()}.sqlite3")
    DATABASES["default"]["NAME"] = _test_db
    DATABASES["default"]["TEST"] = {"NAME": _test_db}
