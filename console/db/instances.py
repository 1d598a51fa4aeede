"""Model instances for the hot paths, built and checked without `Model.__init__`'s and
`save()`'s per-field machinery: an ingest built ten instances per message, which cost it
more CPU than any one of its statements.

`unsaved(Model, **values)` answers what `Model(**values)` answers,
`loaded(Model, using, names, values)` what `Model.from_db` answers for a whole row, and
`unsaved_related_refuse(obj, operation)` checks what `save()` checks first (no unsaved
related object). Each takes Django's own path for any model outside the plain case: a
field with a data descriptor of its own (a file), a one-to-one or composite relation, a
private field (a generic foreign key), `pre_init`/`post_init` receivers, a `from_db` of
the model's own.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import router
from django.db.models import ForeignKey, Model
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.signals import post_init, pre_init

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class _Plan:
    """A model's columns as `Model.__init__` sets them: plain ones by attname, foreign
    keys by name (a related instance) or by attname (its key)."""

    plain: tuple[tuple[str, Any], ...]  # (attname, field)
    width: int  # the concrete columns: a whole row's
    names: frozenset[str]  # what `unsaved` takes: the columns' attnames, the keys' names
    related: tuple[tuple[str, str, Any, type[Model], str], ...]
    # (name, attname, field, the related model, the related model's target attname)


_PLANS: dict[type[Model], _Plan | None] = {}


def _plan(model: type[Model]) -> _Plan | None:
    if model in _PLANS:
        return _PLANS[model]
    meta = model._meta
    plan: _Plan | None = None
    plain: list[tuple[str, Any]] = []
    related: list[tuple[str, str, Any, type[Model], str]] = []
    simple = (
        not meta.abstract
        and not meta.private_fields
        and model.__init__ is Model.__init__
        and model.__setattr__ is Model.__setattr__
        and model.from_db.__func__ is Model.from_db.__func__  # type: ignore[attr-defined]
    )
    for field in meta.fields:
        if field.column is None and (field.is_relation or field is meta.pk):
            simple = False  # a composite key or relation: Django's own path
            break
        if field.column is None or field.generated:
            continue
        descriptor = model.__dict__.get(field.attname)
        if field.is_relation:
            if type(field) is not ForeignKey or not isinstance(
                descriptor, ForeignKeyDeferredAttribute
            ):
                simple = False
                break
            target = field.remote_field.model._meta.concrete_model
            assert target is not None
            related.append((field.name, field.attname, field, target, field.target_field.attname))
        elif hasattr(descriptor, "__set__"):
            simple = False  # a file field's descriptor, say: it must see the value set
            break
        else:
            plain.append((field.attname, field))
    if simple:
        names = {attname for attname, _ in plain} | {
            name for entry in related for name in entry[:2]
        }
        plan = _Plan(
            plain=tuple(plain),
            related=tuple(related),
            width=len(meta.concrete_fields),
            names=frozenset(names),
        )
    _PLANS[model] = plan
    return plan


def _plain_case(model: type[Model]) -> _Plan | None:
    plan = _plan(model)
    if plan is None or pre_init.has_listeners(model) or post_init.has_listeners(model):
        return None
    return plan


def unsaved(model: type[M], **values: Any) -> M:
    """`model(**values)`: a new instance, each column from `values` (a foreign key by its
    name, a related instance, or by its attname, a key) or its default; a related
    instance is cached on it, as assigning it would."""
    plan = _plain_case(model)
    if plan is None or not plan.names.issuperset(values):
        # A property, `pk` or an unknown name: Django sets it or says what is wrong.
        return model(**values)
    obj = model.__new__(model)
    state = ModelState()
    cache: dict[str, Any] = {}
    state.fields_cache = cache
    columns = obj.__dict__
    columns["_state"] = state
    pop = values.pop
    for name, attname, field, target, target_attname in plan.related:
        if name in values:
            related = pop(name)
            if related is None:
                columns[attname] = None
            else:
                if not isinstance(related, target):
                    raise ValueError(
                        f'Cannot assign "{related!r}": "{model.__name__}.{name}" must be a '
                        f'"{target._meta.object_name}" instance.'
                    )
                # As assigning a related instance does: each goes where the other is.
                if state.db is None:
                    state.db = router.db_for_write(model, instance=related)
                if related._state.db is None:
                    related._state.db = router.db_for_write(type(related), instance=obj)
                columns[attname] = getattr(related, target_attname)
            cache[field.cache_name] = related
        elif attname in values:
            columns[attname] = pop(attname)
        else:
            columns[attname] = field.get_default()
    for attname, field in plan.plain:
        columns[attname] = pop(attname) if attname in values else field.get_default()
    return obj


def loaded(model: type[M], using: str, names: Sequence[str], values: Sequence[Any]) -> M:
    """`model.from_db(using, names, values)`: an instance of a row as read."""
    plan = _plain_case(model)
    if plan is None or len(values) != plan.width:
        return model.from_db(using, names, values)
    obj = model.__new__(model)
    state = ModelState()
    state.adding = False
    state.db = using
    columns = obj.__dict__
    columns.update(zip(names, values, strict=True))
    columns["_state"] = state
    return obj


def unsaved_related_refuse(obj: Model, *, operation: str) -> None:
    """What `save()` checks first: a related instance cached on `obj` must be stored
    (ValueError otherwise); `obj` takes its key when its own column is empty, and drops it
    from the cache when the two disagree."""
    plan = _plan(type(obj))
    if plan is None:
        obj._prepare_related_fields_for_save(operation_name=operation)  # type: ignore[attr-defined]
        return
    cache = obj._state.fields_cache
    if not cache:
        return
    columns = obj.__dict__
    for name, attname, field, _target, target_attname in plan.related:
        related = cache.get(field.cache_name)
        if related is None:
            continue
        if related.pk is None:
            raise ValueError(
                f"{operation}() prohibited to prevent data loss due to unsaved related "
                f"object '{name}'."
            )
        current = columns.get(attname)
        if current is None or (type(current) is not uuid.UUID and current in field.empty_values):
            setattr(obj, name, related)  # takes its key and caches it again, as save() does
            current = columns.get(attname)
        if getattr(related, target_attname) != current:
            field.delete_cached_value(obj)
