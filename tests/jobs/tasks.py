"""Celery tasks that write `RowModel` rows; each returns the context header its message
carried (None without one)."""

from pghistory.contrib.celery.signals import HEADER
from tests.jobs.celery_app import app
from tests.testapp.models import RowModel


@app.task(bind=True)
def write(self, value):
    RowModel.objects.create(int_field=value)
    return self.request.get(HEADER)


@app.task(bind=True, max_retries=1, default_retry_delay=0)
def write_then_retry(self, value):
    """Writes `value` plus the attempt's number; the first attempt asks to be retried."""
    RowModel.objects.create(int_field=value + self.request.retries)
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    return self.request.get(HEADER)


@app.task
def write_and_enqueue(value):
    """Writes `value`, enqueues `write(value + 1)` and returns that task's id."""
    RowModel.objects.create(int_field=value)
    return write.delay(value + 1).id
