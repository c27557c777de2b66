"""Bulk export of events for archives and data pipelines: one line per event, JSON Lines or
CSV, streamed with PostgreSQL's `COPY ... TO STDOUT` from the same per-table query as `Events`
(so `data` and `diff` are `Events.pgh_data` and `Events.pgh_diff`, retired columns included).
The `pghistory_export` command and `pghistory_prune --archive` write through it.
"""

from __future__ import annotations

import contextlib
import datetime
import gzip
import io
import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction

from pghistory import aggregation, removed, retired
from pghistory.maintenance import select_event_models
from pghistory.sql import literal, quote

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
#: The bytes of lines gathered into one write to the output.
BLOCK_SIZE = 1 << 16
#: A table whose `pgh_id`s span more than two parts of this many is read part by part, two
#: parts at a time over two connections of their own (in the snapshot of the export's
#: connection), and written part after part: the lines' SQL takes most of an export's time,
#: and a database server's process runs on one CPU.
PART_SIZE = 50_000
#: gzip's level: the fastest, as an export is as fast as its slowest stage.
GZIP_LEVEL = 1
# When an event was written, as JSON: ISO 8601 in UTC whatever the session's time zone,
# microseconds without their trailing zeros (as pgh_data writes times). (to_char took twice
# as long.)
_CREATED_AT = (
    "concat(left(to_json(q.\"pgh_created_at\" AT TIME ZONE 'UTC')::text, -1), '+00:00\"')"
)
# COPY's CSV format with a quote and a delimiter that JSON text never holds (Postgres writes
# control characters in JSON strings as \\u escapes) passes each line through byte for byte;
# the text format would double every backslash.
_AS_IS = "FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02'"
# The columns of `Events` a line reads (and pgh_diff, unless left out).
_READ = [*COLUMNS[2:8], "pgh_data"]


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


def _line_sql(event_model: type[models.Model], format: str, with_diff: bool) -> str:
    """What each row of the `Events` query `q` becomes: one text column, a whole JSON object
    (jsonl), or the CSV cells."""
    model = event_model._meta.label
    tracked = event_model.pgh_tracked_model._meta.label
    if format == "csv":
        cells = [
            literal(model),
            literal(tracked),
            'q."pgh_id"',
            f"btrim({_CREATED_AT}, '\"')",
            'q."pgh_label"',
            'q."pgh_obj_id"',
            'q."pgh_context_id"',
            'q."pgh_context"::text',
            'q."pgh_data"::text',
            'q."pgh_diff"::text' if with_diff else "NULL",
        ]
        return ", ".join(cells)
    values = {
        "model": literal(json.dumps(model)),
        "tracked_model": literal(json.dumps(tracked)),
        "pgh_id": 'q."pgh_id"',
        "pgh_created_at": _CREATED_AT,
        "pgh_label": 'to_json(q."pgh_label")',
        "pgh_obj_id": _json_text("q", '"pgh_obj_id"'),
        "pgh_context_id": _json_text("q", '"pgh_context_id"'),
        "pgh_context": "COALESCE(q.\"pgh_context\"::text, 'null')",
        "data": 'q."pgh_data"',
        "diff": "COALESCE(q.\"pgh_diff\"::text, 'null')" if with_diff else "'null'",
    }
    return _json_object(list(values.items()))


def copy_sql(
    event_model: type[models.Model],
    selection: Selection,
    format: str,
    using: str = DEFAULT_DB_ALIAS,
    with_diff: bool = True,
    part: tuple[int, int] | None = None,
):
    """(the `COPY ... TO STDOUT` statement, its parameters) of one event table's lines, in
    `pgh_id` order. Without `with_diff`, every diff is null and none is computed; with
    `part` (low, high), only the lines of `pgh_id`s from low up to (not including) high."""
    rows = _rendered_rows(event_model, selection, using, with_diff)
    if rows is None:
        columns = [*_READ, "pgh_diff"] if with_diff else _READ
        events = selection.queryset(event_model, using).values_list(*columns)
        rows = events.query.sql_with_params()
    sql, params = rows
    options = "FORMAT csv" if format == "csv" else _AS_IS
    line = _line_sql(event_model, format, with_diff)
    where = ""
    if part is not None:
        where = ' WHERE q."pgh_id" >= %s AND q."pgh_id" < %s'
        params = [*params, *part]
    select = f'SELECT {line} FROM ({sql}) q{where} ORDER BY q."pgh_id"'
    return f"COPY ({select}) TO STDOUT WITH ({options})", params


#: Column types whose text is their JSON text (numbers of these types, true and false).
_JSON_AS_TEXT = {"smallint", "integer", "bigint", "boolean"}


def _json_text(alias: str, column: str, sql_type: str | None = None) -> str:
    """SQL of the JSON text of a column's value (`sql_type`: the column's type, if known)."""
    text = (
        f"{alias}.{column}::text"
        if sql_type in _JSON_AS_TEXT
        else f"to_json({alias}.{column})::text"
    )
    return f"COALESCE({text}, 'null')"


def _json_object(members: list[tuple[str, str]]) -> str:
    """SQL of the text of a JSON object, from (key, SQL of the value's JSON text) pairs."""
    if not members:
        return "'{}'"
    parts = [
        part
        for i, (key, sql) in enumerate(members)
        for part in (literal(("{" if i == 0 else ", ") + json.dumps(key) + ": "), sql)
    ]
    return _concat([*parts, "'}'"])


def _concat(parts: list[str]) -> str:
    """SQL that joins the text of `parts` (NULL as nothing) in one go: a chain of `||`
    copies the growing text at every step, which made up much of a line's cost."""
    return f"concat({', '.join(parts)})" if parts else "''"


def _rendered_rows(
    event_model: type[models.Model], selection: Selection, using: str, with_diff: bool
) -> tuple[str, list] | None:
    """The columns of `Events` that a line reads, from the event table itself, with the
    stored row and the diff written as JSON text value by value: the same JSON as
    `pgh_data` and `pgh_diff` (keys in the order of the columns), at a third of the cost
    of building them as `jsonb` first. For tables whose every event recorded every column;
    None for the others (with retired columns), whose lines read `Events` itself."""
    connection = connections[using]
    history = retired.history(event_model._meta.db_table, using)
    sources = aggregation.data_sources(event_model, history)
    if history.retired or any(source.stored is not None for source in sources):
        return None
    table = quote(event_model._meta.db_table)
    joins, context_sql, context_id_sql = aggregation.context_join(event_model, "e")
    has_obj = any(field.name == "pgh_obj" for field in event_model._meta.concrete_fields)
    # (key, column, its type) of each stored column.
    stored = [
        (s.key, quote(s.column), aggregation.column_type(s.field, connection)) for s in sources
    ]
    data = _json_object(
        [(key, _json_text("e", column, sql_type)) for key, column, sql_type in stored]
    )
    diff = "NULL"
    if has_obj and with_diff:
        joins += aggregation.previous_event_join(event_model, sources, history)
        changes = _concat(
            [
                f"CASE WHEN {aggregation.value_differs(source.field, column, connection)} THEN "
                + _concat(
                    [
                        literal(f", {json.dumps(key)}: ["),
                        _json_text("prev", column, sql_type),
                        "', '",
                        _json_text("e", column, sql_type),
                        "']'",
                    ]
                )
                + " END"
                for source, (key, column, sql_type) in zip(sources, stored, strict=True)
            ]
        )
        diff = (
            'CASE WHEN prev."pgh_id" IS NULL THEN NULL'
            f" ELSE '{{' || NULLIF(substr({changes}, 3), '') || '}}' END"
        )
    obj_id = 'e."pgh_obj_id"::text' if has_obj else "NULL"
    sql = (
        f'SELECT e."pgh_id", e."pgh_created_at", e."pgh_label", {obj_id} AS "pgh_obj_id",'
        f' {context_id_sql} AS "pgh_context_id", {context_sql} AS "pgh_context",'
        f' {data} AS "pgh_data", {diff} AS "pgh_diff" FROM {table} e{joins}'
    )
    if selection == Selection(event_models=selection.event_models):
        return sql, []
    # Filtered: the events that the same filters keep in Events.
    kept, params = (
        selection.queryset(event_model, using).values_list("pgh_id").query.sql_with_params()
    )
    return f'{sql} WHERE e."pgh_id" IN (SELECT "pgh_id" FROM ({kept}) f)', params


class _Lines:
    """What COPY sends (one row per write, ending in a line feed) on its way to `out`:
    counted, with RFC 4180's CRLF line ends for CSV, and gathered into blocks of
    `BLOCK_SIZE` bytes (a write per line cost more than the rest of Python's part of an
    export, gzip's above all)."""

    def __init__(self, out: BinaryIO, crlf: bool, on_rows: Callable[[int], Any] | None):
        self.out = out
        self.crlf = crlf
        self.on_rows = on_rows
        self.rows = 0
        self.reported = 0
        self.pending = bytearray()

    def write(self, row) -> None:
        if self.crlf:
            self.pending += row[:-1]
            self.pending += b"\r\n"
        else:
            self.pending += row
        self.rows += 1
        if len(self.pending) >= BLOCK_SIZE:
            self.flush()

    def write_part(self, lines: memoryview, rows: int) -> None:
        """Write the `rows` lines of a part, read by another connection."""
        self.flush()
        self.out.write(lines)
        self.rows += rows
        self.flush()

    def flush(self, last: bool = False) -> None:
        """Write what is gathered; tell `on_rows` of every 10,000 lines more (`last`: of
        all the lines not told of yet)."""
        self.out.write(self.pending)
        self.pending.clear()
        unreported = self.rows - self.reported
        if self.on_rows is not None and unreported and (last or unreported >= 10_000):
            self.on_rows(unreported)
            self.reported = self.rows


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
    connection = connections[using]
    # (A transaction that is open already may hold writes that no other connection sees.)
    by_parts = not connection.in_atomic_block
    with transaction.atomic(using), connection.cursor() as cursor:
        for event_model in selection.chosen(using):
            parts = _parts(cursor, event_model) if by_parts else None
            if parts is None:
                statement, params = copy_sql(event_model, selection, format, using)
                _copy_out(cursor, statement, params, sink)
                continue
            cursor.execute("SELECT pg_export_snapshot()")
            (snapshot,) = cursor.fetchone()
            statements = [
                copy_sql(event_model, selection, format, using, part=part) for part in parts
            ]
            _write_parts(sink, statements, snapshot, using)
    sink.flush(last=True)
    return sink.rows


def _parts(cursor, event_model: type[models.Model]) -> list[tuple[int, int]] | None:
    """The `pgh_id` ranges to read a big event table in (None: read it whole)."""
    cursor.execute(f'SELECT min("pgh_id"), max("pgh_id") FROM {quote(event_model._meta.db_table)}')
    low, high = cursor.fetchone()
    if low is None or high - low < 2 * PART_SIZE:
        return None
    return [(start, start + PART_SIZE) for start in range(low, high + 1, PART_SIZE)]


def _write_parts(sink: _Lines, statements: list, snapshot: str, using: str) -> None:
    """Read the parts' lines two at a time, each on a connection of its own in `snapshot`,
    and write them to `sink` in order."""
    crlf = sink.crlf
    with ThreadPoolExecutor(max_workers=2) as pool:
        reading: list[Future] = [
            pool.submit(_read_part, statement, params, crlf, snapshot, using)
            for statement, params in statements[:2]
        ]
        try:
            for index in range(len(statements)):
                lines, rows = reading[index].result()
                reading[index] = None  # (its lines go once written)
                if index + 2 < len(statements):
                    statement, params = statements[index + 2]
                    reading.append(
                        pool.submit(_read_part, statement, params, crlf, snapshot, using)
                    )
                sink.write_part(lines, rows)
        finally:
            for future in reading:
                if future is not None:
                    future.cancel()


def _read_part(
    statement: str, params: list, crlf: bool, snapshot: str, using: str
) -> tuple[memoryview, int]:
    """(the lines, how many) of one part, read on this thread's own connection."""
    lines = _Lines(io.BytesIO(), crlf, None)
    connection = connections[using]
    try:
        with transaction.atomic(using), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute(f"SET TRANSACTION SNAPSHOT {literal(snapshot)}")
            _copy_out(cursor, statement, params, lines)
    finally:
        connection.close()
    lines.flush()
    return lines.out.getbuffer(), lines.rows


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
    """A file written in full or not at all: the lines go to a temporary file beside `path`
    (readable by its owner only), which replaces `path` once they are flushed to disk
    (`commit`), or is removed (`discard`). A symbolic link's target is replaced, not the
    link; a `path` that is no regular file (a device such as /dev/null, a named pipe) is
    written in place, as nothing can replace it. `exclusive`: refuse a `path` that exists
    (an archive never replaces another)."""

    def __init__(self, path: str | os.PathLike, *, exclusive: bool = False):
        self.path = Path(os.path.realpath(path))
        self.temporary = None
        if self.path.exists():
            if exclusive:
                raise OSError(f"{path} exists (an archive never replaces another)")
            if not self.path.is_file():
                self.file = self.path.open("wb")
                return
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".part", dir=self.path.parent
        )
        self.temporary = Path(temporary)
        self.file = os.fdopen(descriptor, "wb")

    def commit(self) -> None:
        self.file.flush()
        if self.temporary is None:
            self.file.close()
            return
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
        if self.temporary is not None:
            self.temporary.unlink(missing_ok=True)
