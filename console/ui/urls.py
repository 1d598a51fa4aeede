from django.urls import path

from console.ui import actions, auth, blocked, consent, handoff, pages, rules

app_name = "console"

urlpatterns = [
    path("", pages.dashboard, name="dashboard"),
    path("login/", auth.ConsoleLoginView.as_view(), name="login"),
    path("logout/", auth.ConsoleLogoutView.as_view(), name="logout"),
    path("setups/", pages.setup_list, name="setups"),
    path("setups/<uuid:setup_id>/", pages.setup_detail, name="setup"),
    path("setups/<uuid:setup_id>/lines", actions.setup_line_add_view, name="setup-line-add"),
    path("setups/<uuid:setup_id>/default", actions.setup_default_view, name="setup-default"),
    path("lines/pending/", pages.pending_lines, name="pending-lines"),
    path("blocked/", blocked.blocked_list, name="blocked"),
    path("blocked/<uuid:message_id>/", blocked.blocked_detail, name="blocked-detail"),
    path("blocked/<uuid:message_id>/allow", blocked.blocked_allow, name="blocked-allow"),
    path("blocked/<uuid:message_id>/keep", blocked.blocked_keep, name="blocked-keep"),
    path("lines/<uuid:line_id>/role", actions.line_role, name="line-role"),
    path("identities/", pages.identity_list, name="identities"),
    path("identities/<str:handle>/", pages.identity_detail, name="identity"),
    path("identities/<str:handle>/rules/", rules.rules_page, name="rules"),
    path("identities/<str:handle>/rules/new", rules.rule_create, name="rule-create"),
    path(
        "identities/<str:handle>/rules/<uuid:rule_id>/edit", rules.rule_update, name="rule-update"
    ),
    path(
        "identities/<str:handle>/rules/<uuid:rule_id>/status",
        rules.rule_status,
        name="rule-status",
    ),
    path(
        "identities/<str:handle>/rules/<uuid:rule_id>/delete",
        rules.rule_delete,
        name="rule-delete",
    ),
    path("identities/<str:handle>/filter-mode", rules.filter_mode, name="filter-mode"),
    path(
        "connections/<uuid:assignment_id>/release",
        actions.assignment_release_view,
        name="assignment-release",
    ),
    path("conversations/", pages.conversation_list, name="conversations"),
    path(
        "conversations/<uuid:conversation_id>/",
        pages.conversation_detail,
        name="conversation",
    ),
    path(
        "conversations/<uuid:conversation_id>/takeover",
        handoff.handoff_take,
        name="conversation-takeover",
    ),
    path(
        "conversations/<uuid:conversation_id>/handback",
        handoff.handoff_release,
        name="conversation-handback",
    ),
    path(
        "conversations/<uuid:conversation_id>/reply",
        handoff.staff_reply,
        name="conversation-staff-reply",
    ),
    path("opt-outs/", consent.opt_out_list, name="opt-outs"),
    path("opt-outs/export", consent.opt_out_export, name="opt-outs-export"),
    path("opt-outs/record", consent.opt_out_record, name="opt-out-record"),
    path("deliveries/", pages.delivery_list, name="deliveries"),
    path("deliveries/<uuid:delivery_id>/retry", actions.delivery_retry_view, name="delivery-retry"),
    path("audit/", pages.audit_list, name="audit"),
]
