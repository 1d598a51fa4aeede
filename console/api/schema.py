"""OpenAPI schema helpers: the X-API-Key scheme and one entry per route.

`api_path` registers every route with and without a trailing slash so that nothing ever
redirects; the schema lists each operation once, under the spelling the SDK sends.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

# The SDK sends every path without a trailing slash except identity list and create.
CANONICAL_SLASH_PATHS = frozenset({"/api/v1/identities/"})

# The header that makes a create safe to retry.
IDEMPOTENCY_KEY_PARAM = OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)

# Response descriptions several operations share.
ADMIN_KEYS_ONLY = "admin keys only"
UNKNOWN_HANDLE = "unknown or foreign handle"
INVENTORY_PENDING = "dedicated_imessage_number_inventory_pending"


def object_errors(*codes: int) -> dict[int, Any]:
    """Error responses whose body the schema gives as a JSON object, by status code."""
    return dict.fromkeys(codes, OpenApiTypes.OBJECT)


def documented(responses: dict[int, Any]) -> dict[int, Any]:
    """`extend_schema` responses in which a string stands for a response that has only
    that description (an error the contract names but gives no body schema)."""
    return {
        code: OpenApiResponse(description=response) if isinstance(response, str) else response
        for code, response in responses.items()
    }


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "console.api.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "X-API-Key"}


def drop_slash_duplicates(
    endpoints: list[tuple[str, str, str, Any]], **kwargs: Any
) -> list[tuple[str, str, str, Any]]:
    """Keep one of `route` / `route/` per operation (preprocessing hook)."""
    present = {(path, method) for path, _regex, method, _callback in endpoints}
    kept = []
    for path, regex, method, callback in endpoints:
        if path.endswith("/"):
            twin = path.rstrip("/")
            if (twin, method) in present and path not in CANONICAL_SLASH_PATHS:
                continue
        elif (f"{path}/", method) in present and f"{path}/" in CANONICAL_SLASH_PATHS:
            continue
        kept.append((path, regex, method, callback))
    return kept


ERROR_SCHEMA = {
    "type": "object",
    "description": "The error envelope every API error uses.",
    "properties": {
        "detail": {
            "oneOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "properties": {
                        "error": {"type": "string"},
                        "message": {"type": "string"},
                    },
                    "required": ["error"],
                    "additionalProperties": True,
                },
            ]
        },
        "agent_support": {"type": "string"},
    },
    "required": ["detail"],
}
# Answers the shared authentication, permission, parsing and lookup layers can give to any
# operation; operation-specific ones (409, 429, 502, ...) are declared by each view.
COMMON_ERRORS = {
    "401": "Missing, unknown, revoked or expired API key (one answer for all).",
    "403": "The key may not do this (e.g. an identity-scoped key on an admin operation).",
    "404": "The object, or an object the request names, does not exist for this key.",
    "406": "The Accept header rules out JSON, the only format the API answers in.",
    "503": "The database is briefly unavailable (`server_error`); retry after `Retry-After`.",
}
BODY_ERRORS = {
    "400": "Invalid input (`validation_error` with `fields`), or malformed JSON.",
    "413": "Request body too large.",
    "415": "Unsupported content type.",
}
PARAMETER_ERRORS = {"400": BODY_ERRORS["400"]}


def document_common_errors(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Postprocessing hook: declare the shared error answers on every keyed operation."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Error", ERROR_SCHEMA)
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            errors = dict(COMMON_ERRORS)
            # DRF parses a body on any write, declared or not, so malformed JSON is a 400.
            if operation.get("requestBody") or method in {"post", "put", "patch"}:
                errors.update(BODY_ERRORS)
            elif operation.get("parameters"):
                errors.update(PARAMETER_ERRORS)
            responses = operation["responses"]
            for status, description in errors.items():
                responses.setdefault(
                    status,
                    {"description": description, "content": {"application/json": {"schema": ref}}},
                )
    return result
