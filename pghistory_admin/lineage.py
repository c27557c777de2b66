"""Lineage of contexts: what started a context that is no request (a task, a management
command, a shell), the jobs a context started, and everything it caused.

A job's context names the context it was enqueued from in its `parent` metadata key (and
the root of its lineage in `origin`); the queries here read `parent` through the
`pgh_context_parent_time` index, one range of it per generation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import CharField, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform

from pghistory.models import Context

#: The metadata keys of a job's or a command's context: shown as its "where" or on its page,
#: not one by one beside the URL.
LINEAGE_KEYS = frozenset(
    {"task", "task_id", "parent", "origin", "parent_metadata", "command", "argv", "os_user"}
)

#: The most jobs a context's page lists (the newest): everything they caused is one click
#: away, so the page never reads an unbounded number of them.
JOBS_SHOWN = 50


@dataclass(frozen=True)
class Source:
    """What started a context that is no request: `kind` is "task", "command" or "shell",
    `text` what people read ("task shop.tasks.send_receipt", "manage.py migrate --plan",
    "shell (alice)")."""

    kind: str
    text: str


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def context_source(metadata: dict) -> Source | None:
    """The task, command or shell whose context `metadata` is (None for any other)."""
    task, command = _text(metadata.get("task")), _text(metadata.get("command"))
    if task:
        return Source("task", f"task {task}")
    if command == "shell":
        os_user = _text(metadata.get("os_user"))
        return Source("shell", f"shell ({os_user})" if os_user else "shell")
    if command:
        argv = metadata.get("argv")
        words = [str(word) for word in argv] if isinstance(argv, list) else []
        return Source("command", " ".join(["manage.py", command, *words]))
    return None


def context_uuid(value: Any) -> uuid.UUID | None:
    """A metadata value (`parent`, `origin`) as a context id, None when it is none."""
    try:
        return uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _with_parent(database: str, is_job: bool) -> QuerySet[Context]:
    return Context.objects.using(database).annotate(
        parent=KeyTextTransform("parent", "metadata", output_field=CharField()),
        is_job=Value(is_job),
    )


def jobs(context_id: uuid.UUID, database: str) -> QuerySet[Context]:
    """The contexts started from `context_id` (whose `parent` it is), newest first."""
    return (
        _with_parent(database, is_job=True)
        .filter(parent=str(context_id))
        .order_by("-created_at", "-id")
    )


def context_and_jobs(
    context_id: uuid.UUID, database: str, limit: int = JOBS_SHOWN
) -> tuple[Context | None, list[Context]]:
    """The context's row (None when it has none) and up to `limit` + 1 of its jobs, newest
    first (one more than shown says there are more): one query."""
    own = _with_parent(database, is_job=False).filter(pk=context_id)
    rows = list(own.union(jobs(context_id, database)[: limit + 1], all=True))
    stored = next((row for row in rows if not row.is_job), None)
    started = sorted(
        (row for row in rows if row.is_job), key=lambda row: (row.created_at, row.pk), reverse=True
    )
    return stored, started


def caused_contexts(context_id: uuid.UUID, database: str) -> RawSQL:
    """The ids of `context_id` and of every context descended from it (its jobs, their
    jobs, ...), as a subquery for `pgh_context_id__in`. A lineage that loops ends."""
    table = connections[database].ops.quote_name(Context._meta.db_table)
    return RawSQL(
        "WITH RECURSIVE caused(id) AS ("
        "SELECT %s::uuid UNION "
        f"SELECT job.id FROM {table} job JOIN caused "
        "ON (job.metadata ->> 'parent') = caused.id::text"
        ") SELECT id FROM caused",
        (str(context_id),),
    )
