from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning"

    def ready(self) -> None:
        from provisioning import dispatch
        from provisioning.providers.base import LineAssigned, LineBlocked
        from provisioning.services.lines import handle_line_assigned, handle_line_blocked

        dispatch.register(LineAssigned, handle_line_assigned)
        dispatch.register(LineBlocked, handle_line_blocked)
