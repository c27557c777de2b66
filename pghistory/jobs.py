"""The contexts of background jobs: what a job takes along from where it was enqueued, and the
context of its own that each run of it writes in."""

from __future__ import annotations

import contextvars
import json
import uuid
from typing import Any

from pghistory import config
from pghistory.runtime import capture_context, resume_context

# The job runs in progress in this thread, innermost last: (task id, its entered context).
# Runs nest when a job runs where it is enqueued (Celery's apply(), an immediate backend).
_runs: contextvars.ContextVar[tuple] = contextvars.ContextVar("pghistory_job_runs", default=())


def enqueuing_context() -> str | None:
    """The active context as JSON text to travel with a job (a message header), or `None`
    outside any context."""
    captured = capture_context()
    if captured is None:
        return None
    # The parent's own parent_metadata stays behind: lineage is kept by parent and origin,
    # and a long chain would otherwise nest one copy per step.
    captured["metadata"].pop("parent_metadata", None)
    return json.dumps(captured, cls=config.json_encoder())


def run_metadata(task: str, task_id: str, enqueued_from: str | None) -> dict[str, Any]:
    """The metadata of one run of a job, from the text `enqueuing_context` gave when it was
    enqueued (`None` when it was enqueued outside any context or by a producer without us)."""
    metadata: dict[str, Any] = {"task": task, "task_id": task_id}
    if enqueued_from is None:
        return metadata
    try:
        parent = json.loads(enqueued_from)
        parent_id, parent_metadata = str(uuid.UUID(parent["id"])), dict(parent["metadata"])
    except (ValueError, TypeError, KeyError):
        # Not ours (another producer's value under the same name): the run still names itself.
        return metadata
    if parent_metadata.get("user") is not None:
        metadata["user"] = parent_metadata["user"]
    metadata["parent"] = parent_id
    metadata["origin"] = parent_metadata.get("origin", parent_id)
    metadata["parent_metadata"] = parent_metadata
    return metadata


def enter_run(task_id: str, metadata: dict[str, Any]) -> None:
    """Enter a new context for one run of a job (never merged into one active in the thread,
    such as the caller's when the job runs where it was enqueued)."""
    run = resume_context({"id": str(uuid.uuid4()), "metadata": metadata})
    run.__enter__()
    _runs.set((*_runs.get(), (task_id, run)))


def leave_run(task_id: str) -> None:
    """Leave the context `enter_run` entered for this run of a job (nothing when that run's
    context was never entered)."""
    runs = _runs.get()
    if runs and runs[-1][0] == task_id:
        _runs.set(runs[:-1])
        runs[-1][1].__exit__(None, None, None)
