"""Schemathesis against our own OpenAPI schema: every operation, with an admin key and
with an identity-scoped key, valid and invalid input. Zero 5xx, and every response
conforms to the schema (status code, content type, body).

Bounded so the whole module finishes in a few minutes: a few examples per operation and
mode, no deadline, no example database.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from console.models import AgentIdentity, Organization
from console.services import api_key_create
from tests.verification.test_isolation_matrix import build_world

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

EXAMPLES = int(os.environ.get("SCHEMA_FUZZ_EXAMPLES", "12"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _schema() -> Any:
    document = SchemaGenerator().get_schema(request=None, public=True)
    return schemathesis.openapi.from_dict(document)


SCHEMA = _schema()
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
_WSGI = get_wsgi_application()


def APP(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The real WSGI app, minus the per-request connection closing (as Django's test client
    does), so requests run inside the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        result = _WSGI(environ, start_response)
        try:
            return list(result)
        finally:
            result.close()  # type: ignore[attr-defined]
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_the_schema_lists_each_operation_once() -> None:
    paths = [op.path for op in OPERATIONS]
    assert all(not p.endswith("/") or p == "/api/v1/identities/" for p in paths)
    assert len(OPERATIONS) >= 30


@pytest.fixture
def keys(org: Organization, identity: AgentIdentity, other_identity: AgentIdentity) -> dict:
    build_world(identity, 7)
    build_world(other_identity, 8)
    return {
        "admin": api_key_create(organization=org, label="fuzz admin").raw_key,
        "identity": api_key_create(organization=org, label="fuzz agent", identity=identity).raw_key,
    }


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("persona", ["admin", "identity"])
@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_the_api_answers_every_generated_request_within_its_schema(
    operation: Any, persona: str, mode: GenerationMode, keys: dict[str, str], fake_provider: Any
) -> None:
    key = keys[persona]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(app=APP, headers={"X-API-Key": key})
        case.validate_response(response, checks=CHECKS, headers={"X-API-Key": key})

    run()
