from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from console import hooks
        from provisioning import dispatch
        from provisioning.models import Setup
        from provisioning.providers.base import LineAssigned, LineBlocked
        from provisioning.selectors import SETUPS
        from provisioning.services import claims
        from provisioning.services.lines import (
            handle_line_assigned,
            handle_line_blocked,
            identity_lines_detach,
        )

        dispatch.register(LineAssigned, handle_line_assigned)
        dispatch.register(LineBlocked, handle_line_blocked)
        hooks.on_identity_archiving(identity_lines_detach)
        hooks.on_dedicated_numbers(claims)
        # A setup saved or deleted in this process is read afresh by its next delivery
        # (other processes within a second).
        for signal in (post_save, post_delete):
            signal.connect(SETUPS.forget, sender=Setup, dispatch_uid="provisioning.setups_forget")
