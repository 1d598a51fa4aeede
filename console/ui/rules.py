"""Contact rules editor for one identity: every change answers with the editor fragment,
so htmx swaps it in place; without JavaScript the same forms post and redirect back."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from console.errors import ApplicationError
from console.identities import identity_filter_mode_set
from console.models import AgentIdentity, FilterMode
from console.selectors import identity_get_for_scope
from console.ui.access import ConsoleRequest, console_action, console_page, user_actor
from console.ui.forms import FilterModeForm, RuleCreateForm, RuleStatusForm, RuleUpdateForm
from console.ui.rendering import render_page
from routing.models import RuleAction, RuleDirection, RuleStatus
from routing.rule_decisions import whitelist_cutoff
from routing.selectors import contact_rule_get, identity_rule_list
from routing.services.contact_rules import (
    contact_rule_create,
    contact_rule_delete,
    contact_rule_update,
)

DUPLICATE_RULE = "A rule already covers this number in that direction; edit it below instead."


def _identity(request: ConsoleRequest, handle: str, *, operate: bool) -> AgentIdentity:
    access = request.console
    identity = identity_get_for_scope(scope=access.scope, handle=handle)
    if operate:
        access.require_operator(identity.organization_id)
    return identity


def _editor(
    request: ConsoleRequest,
    identity: AgentIdentity,
    *,
    create_form: RuleCreateForm | None = None,
    status: int = 200,
    **extra: Any,
) -> HttpResponse:
    mode = identity.inbound_filter_mode
    if identity.inbound_filter_mode != identity.outbound_filter_mode:
        mode = FilterMode.BLACKLIST
    context: dict[str, Any] = {
        "nav": "identities",
        "identity": identity,
        "rules": list(identity_rule_list(identity=identity)),
        "create_form": create_form or RuleCreateForm(),
        "mode_form": FilterModeForm(initial={"mode": mode}),
        "action_choices": RuleAction.choices,
        "direction_choices": RuleDirection.choices,
        "can_edit": request.console.can_operate_in(identity.organization_id),
        **extra,
    }
    return render_page(
        request, "console/rules.html", context, partial="rules-editor", status=status
    )


def _done(request: ConsoleRequest, identity: AgentIdentity, notice: str) -> HttpResponse:
    if request.htmx:
        return _editor(request, identity, notice=notice)
    return redirect(reverse("console:rules", args=[identity.handle]))


@console_page
def rules_page(request: ConsoleRequest, handle: str) -> HttpResponse:
    return _editor(request, _identity(request, handle, operate=False))


@console_action
def rule_create(request: ConsoleRequest, handle: str) -> HttpResponse:
    identity = _identity(request, handle, operate=True)
    form = RuleCreateForm(request.POST)
    if form.is_valid():
        try:
            rule = contact_rule_create(
                identity=identity, actor=user_actor(request), **form.cleaned_data
            )
        except ApplicationError as exc:
            message = DUPLICATE_RULE if "existing_rule_id" in exc.extra else exc.message
            form.add_error("match_target", message)
        else:
            return _done(request, identity, f"Rule for {rule.match_target} saved.")
    return _editor(request, identity, create_form=form, status=422)


@console_action
def rule_update(request: ConsoleRequest, handle: str, rule_id: uuid.UUID) -> HttpResponse:
    identity = _identity(request, handle, operate=True)
    rule = contact_rule_get(identity=identity, rule_id=rule_id)
    form = RuleUpdateForm(request.POST)
    if not form.is_valid():
        return _editor(
            request,
            identity,
            status=422,
            error_rule_id=rule.id,
            row_error="Choose an action and a direction.",
        )
    changes = {k: v for k, v in form.cleaned_data.items() if getattr(rule, k) != v}
    if not changes:
        return _done(request, identity, "Nothing to change.")
    try:
        contact_rule_update(rule=rule, actor=user_actor(request), **changes)
    except ApplicationError as exc:
        message = DUPLICATE_RULE if "existing_rule_id" in exc.extra else exc.message
        return _editor(request, identity, status=422, error_rule_id=rule.id, row_error=message)
    return _done(request, identity, f"Rule for {rule.match_target} updated.")


@console_action
def rule_status(request: ConsoleRequest, handle: str, rule_id: uuid.UUID) -> HttpResponse:
    identity = _identity(request, handle, operate=True)
    rule = contact_rule_get(identity=identity, rule_id=rule_id)
    form = RuleStatusForm(request.POST)
    form.is_valid()
    paused = bool(form.cleaned_data.get("paused"))
    status = RuleStatus.PAUSED if paused else RuleStatus.ACTIVE
    if rule.status != status:
        contact_rule_update(rule=rule, actor=user_actor(request), status=status)
    verb = "paused" if paused else "resumed"
    return _done(request, identity, f"Rule for {rule.match_target} {verb}.")


@console_action
def rule_delete(request: ConsoleRequest, handle: str, rule_id: uuid.UUID) -> HttpResponse:
    identity = _identity(request, handle, operate=True)
    rule = contact_rule_get(identity=identity, rule_id=rule_id)
    target = rule.match_target
    contact_rule_delete(rule=rule, actor=user_actor(request))
    return _done(request, identity, f"Rule for {target} deleted.")


@console_action
def filter_mode(request: ConsoleRequest, handle: str) -> HttpResponse:
    """Switch both directions to one mode. Switching to whitelist takes two posts: the
    first shows how many current connections it would cut off, `confirm=1` applies it."""
    identity = _identity(request, handle, operate=True)
    form = FilterModeForm(request.POST)
    if not form.is_valid():
        return _editor(request, identity, status=422, error="Choose blacklist or whitelist.")
    mode = form.cleaned_data["mode"]
    if identity.inbound_filter_mode == identity.outbound_filter_mode == mode:
        return _done(request, identity, f"Filter mode is already {mode}.")
    if mode == FilterMode.WHITELIST and request.POST.get("confirm") != "1":
        return _editor(request, identity, cutoff=whitelist_cutoff(identity=identity))
    identity = identity_filter_mode_set(
        identity=identity, actor=user_actor(request), inbound=mode, outbound=mode
    )
    return _done(request, identity, f"Filter mode is now {mode}.")
