"""Bulk export of events for archives and data pipelines: one line per event, JSON Lines or
CSV, streamed with PostgreSQL's `COPY ... TO STDOUT` from the same per-table query as `Events`
(so `data` and `diff` are `Events.pgh_data` and `Events.pgh_diff`, retired columns included).
The `pghistory_export` command and `pghistory_prune --archive` write through it.
"""

from __future__ import annotations

import contextlib
import datetime
import gzip
import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from django.db import DEFAULT_DB_ALIAS, connections, models

from pghistory import removed
from pghistory.maintenance import select_event_models
from pghistory.sql import literal

FORMATS = ("jsonl", "csv")
#: The columns of a CSV export (and the keys of a JSON Lines object, in this order).
COLUMNS = (
    "model",
    "tracked_model",
    "pgh_id",
    "pgh_created_at",
    "pgh_label",
    "pgh_obj_id",
    "pgh_context_id",
    "pgh_context",
    "data",
    "diff",
)
#: gzip's level: the fastest, as an export is as fast as its slowest stage.
GZIP_LEVEL = 1
# Every line is ISO 8601 in UTC, whatever the session's time zone.
_CREATED_AT = (
    'to_char(q."pgh_created_at" AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"\')'
)
# COPY's CSV format with a quote and a delimiter that JSON text never holds (Postgres writes
# control characters in JSON strings as \\u escapes) passes each line through byte for byte;
# the text format would double every backslash.
_AS_IS = "FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02'"
# The columns of `Events` a line reads (and pgh_diff, unless left out).
_READ = [
    "pgh_id",
    "pgh_created_at",
    "pgh_label",
    "pgh_obj_id",
    "pgh_context_id",
    "pgh_context",
    "pgh_data",
]


@dataclass(frozen=True)
class Selection:
    """Which events an export holds: the event browser's filters, over the event tables."""

    #: Event models (none: every event model, and the kept tables of deleted ones).
    event_models: tuple[type[models.Model], ...] = ()
    labels: tuple[str, ...] = ()
    #: A user's primary key: events in contexts whose metadata names this user.
    user: Any = None
    #: From this moment on (inclusive), before that one (exclusive).
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None
    context: uuid.UUID | None = None
    #: Only these events (the archive of a prune), in batches of one event model.
    pgh_ids: tuple[int, ...] | None = None

    def chosen(self, using: str = DEFAULT_DB_ALIAS) -> list[type[models.Model]]:
        return list(self.event_models) or removed.all_event_models(using)

    def queryset(self, event_model: type[models.Model], using: str) -> models.QuerySet:
        """The events of `event_model` it holds, as an `Events` queryset."""
        from pghistory.models import Events

        events = Events.objects.using(using).across(event_model)
        if self.labels:
            events = events.filter(pgh_label__in=self.labels)
        if self.user is not None:
            events = events.filter(pgh_context__user=self.user)
        if self.since is not None:
            events = events.filter(pgh_created_at__gte=self.since)
        if self.until is not None:
            events = events.filter(pgh_created_at__lt=self.until)
        if self.context is not None:
            events = events.filter(pgh_context_id=self.context)
        if self.pgh_ids is not None:
            events = events.filter(pgh_id__in=self.pgh_ids)
        return events


def event_models_named(labels: Iterable[str], using: str = DEFAULT_DB_ALIAS) -> tuple:
    """The event models that `labels` name ("app_label.Model": a tracked model stands for
    all its event models), a deleted model's kept table included. Raises `LookupError`."""
    chosen = []
    for label in labels:
        kept = [
            event_model
            for event_model in removed.event_models(using)
            if label.lower()
            in (event_model._meta.label_lower, event_model.pgh_tracked_model._meta.label_lower)
        ]
        chosen.extend(kept or select_event_models([label]))
    return tuple(dict.fromkeys(chosen))


def _json_literal(value: str) -> str:
    # (% is doubled: the statement goes through the driver's parameter formatting.)
    return literal(json.dumps(value)).replace("%", "%%")


def _line_sql(event_model: type[models.Model], format: str, with_diff: bool) -> str:
    """What each row of the `Events` query `q` becomes: one text column, a whole JSON object
    (jsonl), or the CSV cells."""
    model = event_model._meta.label
    tracked = event_model.pgh_tracked_model._meta.label
    if format == "csv":
        cells = [
            literal(model).replace("%", "%%"),
            literal(tracked).replace("%", "%%"),
            'q."pgh_id"',
            _CREATED_AT,
            'q."pgh_label"',
            'q."pgh_obj_id"',
            'q."pgh_context_id"',
            'q."pgh_context"::text',
            'q."pgh_data"::text',
            'q."pgh_diff"::text' if with_diff else "NULL",
        ]
        return ", ".join(cells)
    values = {
        "model": _json_literal(model),
        "tracked_model": _json_literal(tracked),
        "pgh_id": 'q."pgh_id"::text',
        "pgh_created_at": f"'\"' || {_CREATED_AT} || '\"'",
        "pgh_label": 'to_json(q."pgh_label")::text',
        "pgh_obj_id": 'to_json(q."pgh_obj_id")::text',
        "pgh_context_id": "'\"' || q.\"pgh_context_id\" || '\"'",
        "pgh_context": 'q."pgh_context"::text',
        "data": 'q."pgh_data"::text',
        "diff": 'q."pgh_diff"::text' if with_diff else "NULL",
    }
    parts = [
        f"{literal(('{' if i == 0 else ', ') + json.dumps(key) + ': ')} || COALESCE({sql}, 'null')"
        for i, (key, sql) in enumerate(values.items())
    ]
    return " || ".join(parts) + " || '}'"


def copy_sql(
    event_model: type[models.Model],
    selection: Selection,
    format: str,
    using: str = DEFAULT_DB_ALIAS,
    with_diff: bool = True,
):
    """(the `COPY ... TO STDOUT` statement, its parameters) of one event table's lines, in
    `pgh_id` order. Without `with_diff`, every diff is null and none is computed."""
    columns = [*_READ, "pgh_diff"] if with_diff else _READ
    events = selection.queryset(event_model, using).values_list(*columns)
    sql, params = events.query.sql_with_params()
    options = "FORMAT csv" if format == "csv" else _AS_IS
    line = _line_sql(event_model, format, with_diff)
    select = f'SELECT {line} FROM ({sql}) q ORDER BY q."pgh_id"'
    return f"COPY ({select}) TO STDOUT WITH ({options})", params


class _Lines:
    """What COPY sends (one row per write, ending in a line feed) on its way to `out`:
    counted, and with RFC 4180's CRLF line ends for CSV."""

    def __init__(self, out: BinaryIO, crlf: bool, on_rows: Callable[[int], Any] | None):
        self.out = out
        self.crlf = crlf
        self.on_rows = on_rows
        self.rows = 0

    def write(self, row) -> None:
        row = bytes(row)
        if self.crlf:
            row = row[:-1] + b"\r\n"
        self.out.write(row)
        self.rows += 1
        if self.on_rows is not None and self.rows % 10_000 == 0:
            self.on_rows(10_000)


def _copy_out(cursor, statement: str, params: list, sink: _Lines) -> None:
    raw = cursor.cursor
    if hasattr(raw, "copy"):  # psycopg 3 (its client-side binding, as COPY takes no parameters)
        with raw.copy(statement, params) as copy:
            for row in copy:
                sink.write(row)
    else:  # psycopg2
        raw.copy_expert(raw.mogrify(statement, params), sink)


def header(format: str) -> bytes:
    """What an export starts with: the CSV header line (nothing for JSON Lines)."""
    return (",".join(COLUMNS) + "\r\n").encode() if format == "csv" else b""


def write_events(
    out: BinaryIO,
    selection: Selection,
    *,
    format: str = "jsonl",
    using: str = DEFAULT_DB_ALIAS,
    on_rows: Callable[[int], Any] | None = None,
) -> int:
    """Write the lines of the events `selection` holds to `out` (a binary stream), event
    table by event table (in the order of `selection.event_models`; by default, every event
    model's by label, then the kept tables of deleted models), each in `pgh_id` order, and return
    how many lines it wrote (no CSV header: see `header`). `on_rows` is called as lines go
    out, with how many more went."""
    if format not in FORMATS:
        raise ValueError(f'Unknown format "{format}": use {" or ".join(FORMATS)}.')
    sink = _Lines(out, format == "csv", on_rows)
    with connections[using].cursor() as cursor:
        for event_model in selection.chosen(using):
            statement, params = copy_sql(event_model, selection, format, using)
            _copy_out(cursor, statement, params, sink)
    if on_rows is not None and sink.rows % 10_000:
        on_rows(sink.rows % 10_000)
    return sink.rows


def count(selection: Selection, using: str = DEFAULT_DB_ALIAS) -> int:
    """How many events `selection` holds (an export's progress bar's total)."""
    return sum(
        selection.queryset(event_model, using).count() for event_model in selection.chosen(using)
    )


@contextlib.contextmanager
def compressed(out: BinaryIO, compress: bool = True):
    """`out`, or (`compress`) a gzip stream over it, finished on exit (`out` stays open)."""
    if not compress:
        yield out
        return
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=GZIP_LEVEL) as zipped:
        yield zipped


class Output:
    """A file written in full or not at all: the lines go to a temporary file beside `path`,
    which replaces `path` once they are flushed to disk (`commit`), or is removed (`discard`).
    `exclusive`: refuse a `path` that exists (an archive never replaces another)."""

    def __init__(self, path: str | os.PathLike, *, exclusive: bool = False):
        self.path = Path(path)
        if exclusive and self.path.exists():
            raise OSError(f"{self.path} exists (an archive never replaces another)")
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".part", dir=self.path.parent
        )
        self.temporary = Path(temporary)
        self.file = os.fdopen(descriptor, "wb")

    def commit(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def discard(self) -> None:
        with contextlib.suppress(OSError):  # (what is left in its buffer goes with it)
            self.file.close()
        self.temporary.unlink(missing_ok=True)
