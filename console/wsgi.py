import os

from django.core.wsgi import get_wsgi_application

from console.heap import freeze_web_heap

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings.base")
site = get_wsgi_application()

from console.webhook_handler import webhooks_apart  # noqa: E402 - needs the settings

application = webhooks_apart(site)
# gunicorn loads this module in each worker after forking (no preload).
freeze_web_heap()
