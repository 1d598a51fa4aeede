"""The Celery app: tasks are discovered in each app's `tasks.py`."""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings.base")

app = Celery("bluewire")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
@worker_process_init.connect
def _freeze_startup_heap(**_: Any) -> None:
    """A worker (or, under prefork, each child) keeps its loaded heap out of the garbage
    collector's walks (`console.heap`): the thread pool's jobs stop for every full one.
    Quick enough for a prefork child's start-up: workers need no URLconf."""
    from console.heap import freeze_startup_heap

    freeze_startup_heap()
