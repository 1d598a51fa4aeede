"""Database idioms the apps share."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import IntegrityError, transaction
from django.db.models import Model

M = TypeVar("M", bound=Model)


def insert_unique(model: type[M], **fields: Any) -> M | None:
    """Insert a `model` row in its own savepoint; None when a unique constraint says a
    row like it is already there (a retry or a concurrent request stored it first), the
    enclosing transaction left usable."""
    try:
        with transaction.atomic():
            return model._default_manager.create(**fields)
    except IntegrityError:
        return None
