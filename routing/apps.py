from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = "Routing"

    def ready(self) -> None:
        from console import hooks
        from routing.services.assignments import identity_assignments_release

        hooks.on_identity_archiving(identity_assignments_release)
