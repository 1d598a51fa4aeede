import os

from django.core.wsgi import get_wsgi_application

from console.heap import freeze_web_heap

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings.base")
application = get_wsgi_application()
# gunicorn loads this module in each worker after forking (no preload).
freeze_web_heap()
