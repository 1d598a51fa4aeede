import os

from django.core.asgi import get_asgi_application

from console.heap import freeze_web_heap

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings.base")
application = get_asgi_application()
freeze_web_heap()
