"""The tests' Celery app, on the machine's Redis: a database number of its own, and a queue
named once per test run (passed on to the worker in `PGHISTORY_TEST_QUEUE`), so parallel runs
never take each other's messages."""

import os
import uuid

import django
from celery import Celery

django.setup()

BROKER = os.environ.get("PGHISTORY_TEST_BROKER", "redis://127.0.0.1:6379/11")
QUEUE = os.environ.get("PGHISTORY_TEST_QUEUE") or f"pghistory-tests-{uuid.uuid4().hex[:12]}"

app = Celery("pghistory_tests", broker=BROKER, backend=BROKER, include=["tests.jobs.tasks"])
app.conf.update(
    task_default_queue=QUEUE,
    result_expires=600,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
