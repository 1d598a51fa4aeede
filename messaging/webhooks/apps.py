from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "messaging.webhooks"
    label = "webhooks"
    verbose_name = "Agent webhooks"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from messaging.webhooks.models import WebhookSubscription
        from messaging.webhooks.subscriptions import subscription_saved

        # Every process keeps an identity's subscriptions until their version changes.
        post_save.connect(
            subscription_saved, sender=WebhookSubscription, dispatch_uid="subscriptions_changed"
        )
