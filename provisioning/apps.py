from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning"

    def ready(self) -> None:
        from console import hooks
        from provisioning import dispatch
        from provisioning.providers.base import LineAssigned, LineBlocked
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
