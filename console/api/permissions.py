from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from console.models import ApiKey


class HasApiKey(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, ApiKey)


class IsAdminKey(BasePermission):
    """Organisation-wide admin keys only; identity-scoped keys get 403."""

    message = "This operation needs an organisation admin API key."

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, ApiKey) and request.auth.is_admin


# An API view any of the organisation's API keys may call. (No docstring: drf-spectacular
# would publish it as the description of every view built on it.)
class KeyedApiView(APIView):
    permission_classes = [HasApiKey]
