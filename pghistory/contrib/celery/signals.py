"""Celery's signals carry the context: `before_task_publish` puts the enqueuing context in a
message header (never in the task's arguments), `task_prerun` and `task_postrun` enter and
leave each run's own context in the worker."""

from __future__ import annotations

from celery import signals

from pghistory import jobs

#: The message header that holds the enqueuing context (JSON text); Celery hands custom
#: headers to the worker as attributes of `task.request`.
HEADER = "pghistory_context"


def add_context_header(headers=None, **kwargs) -> None:
    """Put the active context in the message's headers (taken out when there is none, so a
    re-sent message never carries a context that is no longer its origin)."""
    if headers is None:
        return
    enqueued_from = jobs.enqueuing_context()
    if enqueued_from is None:
        headers.pop(HEADER, None)
    else:
        headers[HEADER] = enqueued_from


def enter_run_context(task_id=None, task=None, **kwargs) -> None:
    """Enter the context of this run of the task."""
    request = task.request
    enqueued_from = request.get(HEADER)
    if enqueued_from is None and request.is_eager:
        # apply() and task_always_eager publish no message: the caller's context is here.
        enqueued_from = jobs.enqueuing_context()
    metadata = jobs.run_metadata(task.name, task_id, enqueued_from)
    if request.retries:
        metadata["retries"] = request.retries
    jobs.enter_run(task_id, metadata)


def leave_run_context(task_id=None, **kwargs) -> None:
    """Leave the context `enter_run_context` entered for this run."""
    jobs.leave_run(task_id)


_HANDLERS = (
    (signals.before_task_publish, add_context_header),
    (signals.task_prerun, enter_run_context),
    (signals.task_postrun, leave_run_context),
)


def connect() -> None:
    """Connect the handlers (the app's `ready()` does it)."""
    for signal, handler in _HANDLERS:
        signal.connect(handler, weak=False, dispatch_uid=f"pghistory.{handler.__name__}")


def disconnect() -> None:
    """Disconnect the handlers (the bench measures enqueueing with and without them)."""
    for signal, handler in _HANDLERS:
        signal.disconnect(handler, dispatch_uid=f"pghistory.{handler.__name__}")
