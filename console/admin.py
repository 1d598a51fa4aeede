"""Read-mostly admin. Secrets are never shown: hashes and ciphertexts are excluded."""

from django.contrib import admin
from django.http import HttpRequest

from console.models import AgentIdentity, ApiKey, AuditEntry, Membership, Organization


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin[Organization]):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]


@admin.register(AgentIdentity)
class AgentIdentityAdmin(admin.ModelAdmin[AgentIdentity]):
    list_display = ["handle", "organization", "imessage_enabled", "inbound_filter_mode"]
    list_filter = ["imessage_enabled"]
    search_fields = ["handle", "display_name"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin[ApiKey]):
    list_display = ["label", "organization", "identity", "display_prefix", "last4", "status"]
    exclude = ["key_hash"]
    readonly_fields = ["display_prefix", "last4", "last_used_at", "revoked_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ["user", "organization", "role"]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin[AuditEntry]):
    list_display = ["created_at", "organization", "actor_label", "action", "object_type"]
    list_filter = ["action"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
