"""The Celery application: Redis broker, tasks discovered from the installed apps."""

import logging
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("skylark")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Beat sends these every few seconds. Celery's own lines for each run (sending, received,
# succeeded) would be three lines of noise every 5 s; the task logs what it changed itself.
ROUTINE_TASKS = frozenset(
    {
        "detection.tasks.reconcile_streams",
        "events.tasks.sweep_webhook_outbox",
        "events.tasks.check_cameras_offline",
    }
)


class QuietRoutineTasks(logging.Filter):
    """Drops Celery's info lines about ROUTINE_TASKS; their warnings and errors still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        args = record.args
        if isinstance(args, dict):  # the worker's "received" and "succeeded": {"name": ...}
            task = args.get("name")
        elif isinstance(args, tuple) and len(args) == 2:  # beat's "Sending due task %s (%s)"
            task = args[1]
        else:
            return True
        return task not in ROUTINE_TASKS


for _logger in ("celery.beat", "celery.worker.strategy", "celery.app.trace"):
    logging.getLogger(_logger).addFilter(QuietRoutineTasks())
