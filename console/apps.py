from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Bluewire console and tenancy"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in

        from console.login_throttle import login_locked_audit, login_seen

        user_locked_out.connect(login_locked_audit, dispatch_uid="console.login_locked_audit")
        user_logged_in.connect(login_seen, dispatch_uid="console.login_seen")
