"""The audit log read as sentences: "olivia changed contact rule +1 415-555-0199 (block,
inbound) on @nurse-bot: status active → paused".

`present` turns an `AuditEntry` into an `AuditLine`: who (a user's name, an API key's
name, "the system"), what (a verb phrase per action, with a fallback for actions this
module does not know), which object (its stored name, linked to its console page when it
still has one) and the fields that changed. Internal fields (ids, hashes, secrets,
bookkeeping such as `split_into`) are never shown. Entries written before models had
human names ("ContactRule object (uuid)") read as "contact rule 1a2b3c4d".

The page and its CSV export share one filter form and one selector; `audit_links` finds
the console pages the objects link to.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from django import forms
from django.db.models import QuerySet
from django.http import HttpResponse

from console.models import AuditEntry
from console.phone import display_number
from console.selectors import (
    AuditFilters,
    audit_action_list,
    audit_entry_list,
    audit_object_type_list,
)
from console.ui.access import ConsoleRequest, console_page
from console.ui.audit_links import object_links, object_uuid
from console.ui.export import csv_export
from console.ui.forms import DateRangeMixin, _set_choices
from console.ui.pagination import paginate
from console.ui.rendering import filters_applied, page_number, query_without_page, render_page

SYSTEM_ACTOR = "the system"
OBJECT_MARK = "{object}"

# What each object type is called in a sentence; other types are split from CamelCase.
TYPE_NAMES = {
    "AgentIdentity": "identity",
    "ApiKey": "API key",
    "Assignment": "connection",
    "PhoneLine": "line",
    "User": "console user",
    "Export": "export",
}

# The verb phrase of each action; `{object}` is where the object's name goes.
VERBS = {
    "identity.create": "created {object}",
    "identity.update": "changed {object}",
    "identity.delete": "deleted {object}",
    "identity.number_attach": "attached a dedicated number to {object}",
    "api_key.create": "created {object}",
    "api_key.revoke": "revoked {object}",
    "contact_rule.create": "added {object}",
    "contact_rule.update": "changed {object}",
    "contact_rule.delete": "removed {object}",
    "setup.create": "created {object}",
    "setup.default_set": "made {object} the default setup",
    "line.request": "ordered {object}",
    "line.assign": "recorded the provider placing {object}",
    "line.block": "recorded the provider blocking {object}",
    "line.role_set": "changed the role of {object}",
    "dedicated_number.claim": "claimed a dedicated number: {object}",
    "assignment.create": "opened {object}",
    "assignment.release": "released {object}",
    "webhook_subscription.create": "created {object}",
    "webhook_subscription.update": "changed {object}",
    "webhook_subscription.delete": "deleted {object}",
    "signing_key.create": "created the webhook signing key of {object}",
    "signing_key.rotate": "rotated the webhook signing key of {object}",
    "webhook_delivery.replay": "replayed {object}",
    "webhook_delivery.retry": "retried {object}",
    "blocked_message.allow": "allowed the sender of {object}",
    "blocked_message.keep": "kept {object} blocked",
    "login.locked": "locked the console login of {object}",
    "export": "exported {object}",
}
# An unknown action still reads as a sentence: by its last word when that is a known
# verb ("thing.create" → "created thing …"), else by its name.
FALLBACK_VERBS = {
    "create": "created",
    "update": "changed",
    "delete": "deleted",
    "allow": "allowed",
    "keep": "kept",
    "release": "released",
    "revoke": "revoked",
    "retry": "retried",
}

# How the action filter names the object of actions whose prefix is not its type.
ACTION_NOUNS = {
    "login": "a console user",
    "export": "a list",
    "signing_key": "identity",
    "dedicated_number": "line",
}

# Bookkeeping fields no reader needs; with the suffixes and id-valued fields below.
HIDDEN_FIELDS = frozenset({"id", "split_into", "replay_of", "secret", "password", "token"})
HIDDEN_SUFFIXES = ("_id", "_ids", "_hash", "_encrypted", "_secret", "_token", "_key")
VALUE_LIMIT = 120
_OLD_REPR = re.compile(r"^\w+ object \((?P<id>[^)]*)\)$")
_UUID = re.compile(r"\b([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str

    def __str__(self) -> str:
        return f"{self.field} {self.before} → {self.after}"


@dataclass(frozen=True)
class Detail:
    field: str
    value: str

    def __str__(self) -> str:
        return f"{self.field} {self.value}"


@dataclass
class AuditLine:
    """One entry as a sentence: `actor` `lead` `object_name` `tail`: `changes`, `details`."""

    entry: AuditEntry
    actor: str
    lead: str
    object_name: str
    tail: str
    changes: list[Change] = field(default_factory=list)
    details: list[Detail] = field(default_factory=list)
    url: str = ""

    @property
    def facts(self) -> list[Change | Detail]:
        return [*self.changes, *self.details]

    @property
    def summary(self) -> str:
        """What changed, as text: "status active → paused; sender +1 415-555-0199"."""
        return "; ".join(str(fact) for fact in self.facts)

    @property
    def sentence(self) -> str:
        text = f"{self.actor} {self.lead}{self.object_name}{self.tail}"
        return f"{text}: {self.summary}" if self.facts else text


# --- Names -------------------------------------------------------------------------------


def type_name(object_type: str) -> str:
    """`ContactRule` → "contact rule"."""
    if object_type in TYPE_NAMES:
        return TYPE_NAMES[object_type]
    return _CAMEL.sub(" ", object_type).lower()


def actor_name(entry: AuditEntry) -> str:
    if entry.actor_type == "system":
        label = entry.actor_label.strip()
        return SYSTEM_ACTOR if label in ("", "system") else f"{SYSTEM_ACTOR} ({label})"
    return entry.actor_label or entry.actor_type


def object_name(entry: AuditEntry) -> str:
    """The object as the entry names it, led by its kind unless the name already says it
    ("identity @nurse-bot", but "message from +1 … on @nurse-bot")."""
    noun = type_name(entry.object_type)
    if entry.object_type == "Export":
        return f"the {entry.object_id} list"
    name = entry.object_repr or ""
    old = _OLD_REPR.match(name)
    if old or not name:
        return f"{noun} {(old.group('id') if old else entry.object_id)[:8]}".strip()
    name = _UUID.sub(r"\1", name)  # an id in an older name ("pending line <uuid>"), shortened
    words = set(name.lower().split())
    if any(word in words for word in noun.lower().split()):
        return name
    return f"{noun} {name}"


def verb_phrase(action: str) -> tuple[str, str]:
    """The words before and after the object's name."""
    template = VERBS.get(action)
    if template is None:
        last = action.rsplit(".", 1)[-1]
        verb = FALLBACK_VERBS.get(last)
        template = f"{verb} {OBJECT_MARK}" if verb else f"recorded {action} for {OBJECT_MARK}"
    lead, _, tail = template.partition(OBJECT_MARK)
    return lead, tail


def action_label(action: str) -> str:
    """How the action filter lists an action: its verb phrase around the kind of object."""
    lead, tail = verb_phrase(action)
    prefix = action.split(".")[0]
    noun = ACTION_NOUNS.get(prefix) or type_name("".join(p.title() for p in prefix.split("_")))
    return f"{lead}{noun}{tail}"


# --- Changes -----------------------------------------------------------------------------


def _is_id(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return bool(value) and all(_is_id(item) for item in value)
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def is_hidden(name: str, *values: Any) -> bool:
    """Internal fields: bookkeeping, ids, hashes and secrets."""
    lowered = name.lower()
    if lowered in HIDDEN_FIELDS or lowered.endswith(HIDDEN_SUFFIXES):
        return True
    present = [value for value in values if value not in (None, "", [])]
    return bool(present) and all(_is_id(value) for value in present)


def show_value(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        parts = [
            f"{field_name(k)} {show_value(v)}" for k, v in value.items() if not is_hidden(k, v)
        ]
        return ", ".join(parts) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(show_value(item) for item in value)
    text = display_number(value) if isinstance(value, str) and value.startswith("+") else str(value)
    return text if len(text) <= VALUE_LIMIT else text[: VALUE_LIMIT - 1] + "…"


def field_name(name: str) -> str:
    return name.replace("_", " ")


def facts(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> tuple[list[Change], list[Detail]]:
    """Changed fields as "field old → new"; fields only the after side records (a
    creation, a note such as the sender) as "field value"; internal fields never."""
    before = before if isinstance(before, Mapping) else {}
    after = after if isinstance(after, Mapping) else {}
    changes: list[Change] = []
    details: list[Detail] = []
    for name, new in after.items():
        old = before.get(name)
        if is_hidden(name, old, new):
            continue
        if name not in before:
            details.append(Detail(field_name(name), show_value(new)))
        elif old != new:
            changes.append(Change(field_name(name), show_value(old), show_value(new)))
    return changes, details


def present(entry: AuditEntry, url: str = "") -> AuditLine:
    lead, tail = verb_phrase(entry.action)
    changes, details = facts(entry.before, entry.after)
    return AuditLine(
        entry=entry,
        actor=actor_name(entry),
        lead=lead,
        object_name=object_name(entry),
        tail=tail,
        changes=changes,
        details=details,
        url=url,
    )


def present_page(entries: list[AuditEntry], organization_ids: list[Any]) -> list[AuditLine]:
    links = object_links(entries, organization_ids)
    return [
        present(entry, links.get(f"{entry.object_type}:{object_uuid(entry.object_id)}", ""))
        for entry in entries
    ]


# --- Filters, page and export ------------------------------------------------------------


class CaseInsensitiveChoiceField(forms.ChoiceField):
    """A choice typed in any case (`contactrule`, or its name `contact rule`) selects it."""

    def to_python(self, value: Any) -> str:
        text = super().to_python(value).strip().lower()
        for choice, label in cast(list[tuple[str, str]], self.choices):
            if text and text in (str(choice).lower(), str(label).lower()):
                return str(choice)
        return text


class AuditFilterForm(DateRangeMixin):
    actor = forms.CharField(required=False, label="Actor", max_length=255)
    action = forms.ChoiceField(required=False, label="Action")
    object_type = CaseInsensitiveChoiceField(required=False, label="Object type")

    field_order = ["actor", "action", "object_type", "date_from", "date_to"]

    def __init__(self, *args: Any, actions: list[str], object_types: list[str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        _set_choices(self, "action", [(a, action_label(a)) for a in actions])
        _set_choices(self, "object_type", [(t, type_name(t)) for t in object_types])


def _filtered(request: ConsoleRequest) -> tuple[AuditFilterForm, QuerySet[AuditEntry]]:
    scope = request.console.scope
    form = AuditFilterForm(
        request.GET or None,
        actions=audit_action_list(scope=scope),
        object_types=audit_object_type_list(scope=scope),
    )
    cleaned = form.cleaned_data if form.is_valid() else {}
    return form, audit_entry_list(scope=scope, filters=AuditFilters(**cleaned))


@console_page
def audit_list(request: ConsoleRequest) -> HttpResponse:
    form, rows = _filtered(request)
    page = paginate(rows, page=page_number(request))
    organization_ids = [organization.id for organization in request.console.organizations]
    page.items = present_page(page.items, organization_ids)
    return render_page(
        request,
        "console/audit.html",
        {
            "nav": "audit",
            "form": form,
            "page": page,
            "query": query_without_page(request),
            "filters_applied": filters_applied(request),
        },
        partial="audit-rows",
    )


EXPORT_HEADER = ["time", "actor", "action", "object type", "object", "sentence", "changes"]


def _export_row(entry: AuditEntry) -> list[Any]:
    line = present(entry)
    return [
        entry.created_at,
        line.actor,
        entry.action,
        type_name(entry.object_type),
        line.object_name,
        line.sentence,
        line.summary,
    ]


@console_page
def audit_export(request: ConsoleRequest) -> HttpResponse:
    form, rows = _filtered(request)
    # A streamed answer; `console_page` types its views as returning HttpResponse.
    return cast(
        HttpResponse,
        csv_export(
            request,
            kind="audit",
            header=EXPORT_HEADER,
            rows=rows,
            to_row=_export_row,
            filters=form.cleaned_data if form.is_bound and form.is_valid() else {},
        ),
    )
