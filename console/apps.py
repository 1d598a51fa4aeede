from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Bluewire console and tenancy"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_delete, post_save

        from console.api.key_cache import keys_forget
        from console.db.driver import statement_cache_widen, timestamps_read_fast
        from console.login_throttle import login_locked_audit, login_seen
        from console.models import AgentIdentity, ApiKey, Organization

        statement_cache_widen()
        connection_created.connect(timestamps_read_fast, dispatch_uid="console.timestamps_fast")
        user_locked_out.connect(login_locked_audit, dispatch_uid="console.login_locked_audit")
        user_logged_in.connect(login_seen, dispatch_uid="console.login_seen")
        # Cached API keys carry their organisation and identity: any change to one of the
        # three is read afresh by this process's next request (others within a second).
        for model in (ApiKey, AgentIdentity, Organization):
            for signal in (post_save, post_delete):
                signal.connect(
                    keys_forget, sender=model, dispatch_uid=f"console.keys_forget.{model.__name__}"
                )
