"""The tasks framework's `task_started` and `task_finished` signals enter and leave each run's
own context.

A task result has no headers or metadata to carry a context to another process, and
`task_enqueued` is sent once the backend has stored the task: the enqueuing context reaches a
run only when the backend runs the task where it is enqueued (the immediate backend). A run in
a worker gets a context naming the task and its id.
"""

from __future__ import annotations

import importlib

from pghistory import jobs


def _signal_modules() -> list:
    """The signals of each tasks framework installed: Django's own, the backport, or both."""
    modules = []
    for name in ("django.tasks.signals", "django_tasks.signals"):
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            continue
    return modules


def enter_run_context(task_result=None, **kwargs) -> None:
    """Enter the context of this run of the task."""
    # Sent where the task runs: in the enqueuing thread (an immediate backend) the caller's
    # context is the active one; in a worker there is none.
    metadata = jobs.run_metadata(
        task_result.task.module_path, task_result.id, jobs.enqueuing_context()
    )
    jobs.enter_run(task_result.id, metadata)


def leave_run_context(task_result=None, **kwargs) -> None:
    """Leave the context `enter_run_context` entered for this run."""
    jobs.leave_run(task_result.id)


def connect() -> None:
    """Connect the handlers (the app's `ready()` does it)."""
    for module in _signal_modules():
        module.task_started.connect(enter_run_context, dispatch_uid="pghistory.task_started")
        module.task_finished.connect(leave_run_context, dispatch_uid="pghistory.task_finished")
