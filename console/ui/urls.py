from django.urls import path

from console.ui import (
    actions,
    archive,
    audit,
    auth,
    blocked,
    conversations,
    deliveries,
    lines,
    pages,
    quiet_hours,
    record_exports,
    records,
    rules,
    scheduled,
    search,
    setups,
)

app_name = "console"

urlpatterns = [
    path("", pages.dashboard, name="dashboard"),
    path("login/", auth.ConsoleLoginView.as_view(), name="login"),
    path("logout/", auth.ConsoleLogoutView.as_view(), name="logout"),
    path("setups/", setups.setups_view, name="setups"),
    path("setups/<uuid:setup_id>/", pages.setup_detail, name="setup"),
    path("setups/<uuid:setup_id>/lines", actions.setup_line_add_view, name="setup-line-add"),
    path("setups/<uuid:setup_id>/default", actions.setup_default_view, name="setup-default"),
    path("lines/", lines.lines_overview, name="lines"),
    path("lines/pending/", lines.pending_lines, name="pending-lines"),
    path("lines/<uuid:line_id>/check", lines.line_check_view, name="line-check"),
    path("blocked/", blocked.blocked_list, name="blocked"),
    path("blocked/<uuid:message_id>/", blocked.blocked_detail, name="blocked-detail"),
    path("blocked/<uuid:message_id>/allow", blocked.blocked_allow, name="blocked-allow"),
    path("blocked/<uuid:message_id>/keep", blocked.blocked_keep, name="blocked-keep"),
    path("blocked/<uuid:message_id>/change", blocked.blocked_change, name="blocked-change"),
    path("blocked/<uuid:message_id>/release", blocked.blocked_release, name="blocked-release"),
    path("blocked/bulk", blocked.blocked_bulk, name="blocked-bulk"),
    path("blocked/export.csv", blocked.blocked_export, name="blocked-export"),
    path("lines/<uuid:line_id>/role", actions.line_role, name="line-role"),
    path("identities/", pages.identity_list, name="identities"),
    path("identities/<str:handle>/", pages.identity_detail, name="identity"),
    path(
        "identities/<str:handle>/free-handle",
        archive.identity_handle_free_view,
        name="identity-handle-free",
    ),
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
        "identities/<str:handle>/quiet-hours",
        quiet_hours.quiet_hours_update,
        name="quiet-hours",
    ),
    path("identities/<str:handle>/scheduled/", scheduled.scheduled_list, name="scheduled"),
    path(
        "identities/<str:handle>/scheduled/<uuid:message_id>/cancel",
        scheduled.scheduled_cancel_view,
        name="scheduled-cancel",
    ),
    path(
        "connections/<uuid:assignment_id>/release",
        actions.assignment_release_view,
        name="assignment-release",
    ),
    path("search/", search.search_page, name="search"),
    path("conversations/", conversations.conversation_list, name="conversations"),
    path(
        "conversations/export.csv",
        conversations.conversation_list_export,
        name="conversations-export",
    ),
    path(
        "conversations/<uuid:conversation_id>/",
        conversations.conversation_detail,
        name="conversation",
    ),
    path(
        "conversations/<uuid:conversation_id>/export.csv",
        conversations.conversation_export,
        name="conversation-export",
    ),
    path("records/", records.records_page, name="records"),
    path("records/retention", records.retention_set_view, name="records-retention"),
    path("records/holds", records.legal_hold_place_view, name="records-hold"),
    path("records/exports/", record_exports.person_export_list, name="records-exports"),
    path(
        "records/exports/new",
        record_exports.person_export_request_view,
        name="records-export-request",
    ),
    path(
        "records/exports/<uuid:export_id>/download",
        record_exports.person_export_download,
        name="records-export-download",
    ),
    path(
        "records/holds/<uuid:hold_id>/lift", records.legal_hold_lift_view, name="records-hold-lift"
    ),
    path("deliveries/", deliveries.delivery_list, name="deliveries"),
    path("deliveries/export.csv", deliveries.delivery_export, name="deliveries-export"),
    path("deliveries/<uuid:delivery_id>/", deliveries.delivery_detail, name="delivery"),
    path(
        "deliveries/<uuid:delivery_id>/retry",
        deliveries.delivery_retry_view,
        name="delivery-retry",
    ),
    path("audit/", audit.audit_list, name="audit"),
    path("audit/export.csv", audit.audit_export, name="audit-export"),
]
