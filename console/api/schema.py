"""OpenAPI schema helpers: the X-API-Key scheme and one entry per route.

`api_path` registers every route with and without a trailing slash so that nothing ever
redirects; the schema lists each operation once, under the spelling the SDK sends.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

# The SDK sends every path without a trailing slash except identity list and create.
CANONICAL_SLASH_PATHS = frozenset({"/api/v1/identities/"})


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
