from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "messaging.webhooks"
    label = "webhooks"
    verbose_name = "Agent webhooks"
