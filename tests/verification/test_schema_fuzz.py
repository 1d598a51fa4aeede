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


# --- explicit hostile cases (they once answered 500) --------------------------------------

DEEP_JSON = '{"a":' * 2000 + "1" + "}" * 2000
BODY_OPERATIONS = [op for op in OPERATIONS if op.body and op.method.lower() in {"post", "patch"}]
PAGED_OPERATIONS = [
    op for op in OPERATIONS if op.method.lower() == "get" and "offset" in {p.name for p in op.query}
]
# Lists that take limit/offset without declaring them in the schema.
UNDECLARED_PAGED_PATHS = ["/api/v1/identities/"]
BEYOND_DB_INTEGER = str(2**63)


@pytest.fixture
def world_params(org: Organization, identity: AgentIdentity) -> dict[str, str]:
    return build_world(identity, 9).params()


@pytest.mark.parametrize("operation", BODY_OPERATIONS, ids=[op.label for op in BODY_OPERATIONS])
def test_json_nested_2000_levels_deep_answers_400_invalid_json(
    operation: Any, org: Organization, world_params: dict[str, str], client: Any
) -> None:
    key = api_key_create(organization=org, label="deep json").raw_key

    response = getattr(client, operation.method.lower())(
        operation.path.format(**world_params),
        data=DEEP_JSON,
        content_type="application/json",
        HTTP_X_API_KEY=key,
    )

    assert response.status_code == 400, response.content
    assert response.json()["detail"]["error"] == "invalid_json"


def test_every_paged_list_is_covered() -> None:
    assert len(PAGED_OPERATIONS) >= 5


@pytest.mark.parametrize("name", ["offset", "limit"])
@pytest.mark.parametrize(
    "path",
    [op.path for op in PAGED_OPERATIONS] + UNDECLARED_PAGED_PATHS,
)
def test_offset_and_limit_beyond_the_database_integer_range_answer_400(
    path: str, name: str, org: Organization, world_params: dict[str, str], client: Any
) -> None:
    key = api_key_create(organization=org, label="paging").raw_key

    response = client.get(
        path.format(**world_params), {name: BEYOND_DB_INTEGER}, HTTP_X_API_KEY=key
    )

    assert response.status_code == 400, response.content
    assert response.json()["detail"]["error"] == "validation_error"
