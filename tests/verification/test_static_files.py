"""With production settings (`DEBUG` off) the console's CSS and JS are served after
`collectstatic`, by WhiteNoise inside the same security headers as every page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.middleware import CONTENT_SECURITY_POLICY
from tests.verification.production import ROOT, manage, production_env

FETCH = """
import json
from django.test import Client
client = Client(HTTP_HOST="bluewire.example.com")
out = {}
for path in ("/static/console/console.css", "/static/console/console.js", "/static/nope.css"):
    response = client.get(path, secure=True)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    out[path] = {
        "status": response.status_code,
        "type": response.get("Content-Type", ""),
        "csp": response.get("Content-Security-Policy", ""),
        "nosniff": response.get("X-Content-Type-Options", ""),
        "body": body.decode(errors="replace"),
    }
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    static_root = tmp_path_factory.mktemp("static-root")
    env = production_env(STATIC_ROOT=str(static_root))
    collected = manage("collectstatic", "--noinput", "-v", "0", env=env)
    assert collected.returncode == 0, collected.stderr
    result = manage("shell", "-c", FETCH, env=env)
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def test_the_console_stylesheet_is_served_with_debug_off(
    served: dict[str, dict[str, str]],
) -> None:
    css = served["/static/console/console.css"]
    assert css["status"] == 200
    assert css["type"].startswith("text/css")
    assert css["body"] == Path(ROOT / "static/console/console.css").read_text()


def test_the_console_script_is_served_with_debug_off(served: dict[str, dict[str, str]]) -> None:
    script = served["/static/console/console.js"]
    assert script["status"] == 200
    assert "javascript" in script["type"]


def test_static_answers_keep_the_content_security_policy(
    served: dict[str, dict[str, str]],
) -> None:
    css = served["/static/console/console.css"]
    assert css["csp"] == CONTENT_SECURITY_POLICY
    assert css["nosniff"] == "nosniff"


def test_a_file_that_was_not_collected_answers_404(served: dict[str, dict[str, str]]) -> None:
    assert served["/static/nope.css"]["status"] == 404
