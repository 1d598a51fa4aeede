"""Read-mostly admin. Ciphertexts (credentials, webhook secret) are never shown, and
provider event payloads stay out because they can carry patient message text."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from provisioning.models import PhoneLine, ProviderEvent, Setup


class PhoneLineInline(admin.TabularInline[PhoneLine, Setup]):
    model = PhoneLine
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "number",
        "state",
        "role",
        "identity",
        "provider_request_id",
        "blocked_at",
    )

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Setup)
class SetupAdmin(admin.ModelAdmin[Setup]):
    list_display = ["label", "organization", "status", "provider", "is_platform", "created_at"]
    list_filter = ["status", "provider", "is_platform"]
    search_fields = ["label", "business_name"]
    exclude = ["credentials_encrypted", "webhook_secret_encrypted", "idempotency_key"]
    readonly_fields = [
        "organization",
        "provider",
        "provider_account_id",
        "primary_email",
        "status",
        "failure_reason",
        "created_at",
        "updated_at",
    ]
    inlines = [PhoneLineInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Setups are created through the provider (API or console), never by hand.
        return False


@admin.register(PhoneLine)
class PhoneLineAdmin(admin.ModelAdmin[PhoneLine]):
    list_display = ["__str__", "setup", "state", "role", "identity", "blocked_at"]
    list_filter = ["state", "role"]
    search_fields = ["number"]
    readonly_fields = [
        "setup",
        "state",
        "number",
        "provider_request_id",
        "requested_at",
        "assigned_at",
        "blocked_at",
        "blocked_reason",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ProviderEvent)
class ProviderEventAdmin(admin.ModelAdmin[ProviderEvent]):
    list_display = ["id", "setup", "event_type", "status", "received_at"]
    list_filter = ["status", "event_type"]
    exclude = ["payload"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
