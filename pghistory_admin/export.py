"""CSV and JSON Lines exports of exactly the events a browser view shows, streamed.

Rows are read a chunk at a time, each chunk one keyset query like a page of the browser, and
written as they come, so memory stays flat and the first rows leave at once however many
events match. CSV cells a spreadsheet would run as a formula are prefixed
with an apostrophe.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connections
from django.db.models import TextField
from django.db.models.functions import Cast
from django.db.models.sql.constants import MULTI
from django.http import StreamingHttpResponse
from django.utils import timezone

from pghistory import retired
from pghistory.config import redact, redacted_columns
from pghistory.models import Events
from pghistory_admin import pagination
from pghistory_admin.diffs import Redaction, stored_fields
from pghistory_admin.rows import KNOWN_NAMES, EventRow, context_url, load_names, tracked_model

COLUMNS = [
    "time",
    "user",
    "label",
    "model",
    "object_id",
    "object",
    "changed_fields",
    "diff",
    "url",
    "context_id",
]
CHUNK = 2000

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def spreadsheet_safe(text: str) -> str:
    """`text`, prefixed with an apostrophe if a spreadsheet would read it as a formula."""
    if text.startswith(_FORMULA_START) and not _NUMBER.match(text):
        return "'" + text
    return text


#: The `Events` columns an export reads, in this order. The time comes last: as the driver
#: gives it, or as text (see `_moments`).
_READ = [
    "pgh_model",
    "pgh_id",
    "pgh_obj_model",
    "pgh_obj_id",
    "pgh_label",
    "pgh_diff",
    "pgh_context_id",
    "pgh_context",
    "pgh_created_at",
]
_AT = {name: position for position, name in enumerate(_READ)}


def _moments(connection) -> tuple[dict, Callable]:
    """(the time column to read as text, as an annotation, if any; how a time is written).

    Django reads a moment with a loader of its own (in Python, a few microseconds a row);
    where its moments are in UTC and the server writes ISO dates in UTC, the server's text
    of the moment says the same, and only becomes `isoformat()`'s text. Elsewhere the
    moment is read as Django reads it and written by `isoformat()`."""
    if settings.USE_TZ and connection.timezone_name == "UTC":
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('DateStyle'), current_setting('TimeZone')")
            date_style, time_zone = cursor.fetchone()
        if date_style.startswith("ISO") and time_zone == "UTC":
            return {"pgh_time": Cast("pgh_created_at", TextField())}, _utc_isoformat
    return {}, datetime.datetime.isoformat


def _utc_isoformat(text: str) -> str:
    """The server's ISO text of a moment in UTC ("2026-03-01 09:30:00.25+00") as
    `isoformat()` writes it ("2026-03-01T09:30:00.250000+00:00")."""
    fraction = text[19:-3]
    return f"{text[:10]}T{text[11:19]}{fraction.ljust(7, '0') if fraction else ''}+00:00"


def _driver_rows(queryset) -> list[tuple]:
    """The rows of a `values_list()` queryset as the database driver gives them: no Django
    converters, JSON as text (parsed only where it is read)."""
    compiler = queryset.query.get_compiler(queryset.db)
    return [row for block in compiler.execute_sql(MULTI) for row in block]


def chunked_rows(queryset, sort: str) -> tuple[Iterator[list[tuple]], Callable]:
    """(the rows an export reads, a chunk at a time, as the driver gives them; how a row's
    time, its last value, is written). Each chunk is one keyset query, like a page."""
    as_text, isoformat = _moments(connections[queryset.db])

    def key(row, name):
        if as_text and name == "pgh_created_at":  # (the next chunk's bound, as a moment)
            return datetime.datetime.fromisoformat(isoformat(row[_AT[name]]))
        return row[_AT[name]]

    columns = _READ[:-1] if as_text else _READ  # (the text, named apart, comes last too)
    reader = pagination.chunks(
        queryset.annotate(**as_text).values_list(*columns, *as_text),
        sort,
        CHUNK,
        read=_driver_rows,
        key=key,
    )
    return reader, isoformat


def _chunks(queryset, sort: str, redacted: Redaction, fmt: str) -> Iterator[str]:
    """The export's lines in format `fmt`, a chunk (one block of text) at a time.

    Once a chunk's users and objects are named, the next chunk's query runs while this
    chunk's lines are written: in a thread of its own, on the same connection (so in the
    same transaction, if one is open), which nothing else uses meanwhile."""
    connection = connections[queryset.db]
    reader, isoformat = chunked_rows(queryset, sort)
    records = _Records(queryset.db, redacted, isoformat)
    write = records.csv_block if fmt == "csv" else records.jsonl_block
    connection.inc_thread_sharing()
    try:
        with ThreadPoolExecutor(
            1, initializer=_share, initargs=(queryset.db, connection)
        ) as ahead:
            chunk = next(reader, None)
            while chunk is not None:
                gone = records.learn(chunk)
                upcoming = ahead.submit(next, reader, None)
                yield write(chunk, gone)
                chunk = upcoming.result()
    finally:
        connection.dec_thread_sharing()


def _share(alias: str, connection) -> None:
    """Make `connection` the reading thread's connection of `alias`."""
    connections[alias] = connection


#: JSON as `json.dumps(value, ensure_ascii=False)` writes it (with and without sorted keys),
#: without making an encoder per call.
_json = json.JSONEncoder(ensure_ascii=False).encode
_json_sorted = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode
_json_text = json.encoder.encode_basestring
#: (changed fields, diff) of an event without a diff, by format.
_NO_DIFF = {"csv": ("", ""), "jsonl": ("[]", "{}")}


class _Shape:
    """How the diffs of one tracked model with one set of changed columns read: the changed
    fields' names, and (name, column, redacted?) of each, named, ordered and redacted as the
    pages do (`diffs.stored_fields`); and the cells that follow from them alone."""

    __slots__ = ("shown", "names_cell", "names_json", "as_stored", "in_stored_order")

    def __init__(self, fields, stored_order: tuple[str, ...]):
        self.shown = [(name, column, hidden) for column, name, _, _, hidden in fields]
        names = [name for name, _, _ in self.shown]
        self.names_cell = spreadsheet_safe(", ".join(names))
        self.names_json = _json(names)
        #: The stored diff reads as the export's (each field under its column, nothing
        #: hidden): its JSON object can be written as it was read ...
        self.as_stored = all(name == column and not hidden for name, column, hidden in self.shown)
        #: ... and even in the same order.
        self.in_stored_order = self.as_stored and tuple(names) == stored_order

    def diff(self, changes: dict) -> dict:
        """The diff as the export shows it."""
        return {
            name: [redact(value) for value in changes[column]] if hidden else changes[column]
            for name, column, hidden in self.shown
        }


class _Records:
    """Turns an export's rows into lines, remembering across chunks what it has read: the
    contexts' users and URLs, the users' keys, existing objects' names, and the tracked
    models. Only the rows that name a user or an object not seen yet go through
    `rows.load_names` (the pages' way of naming them); a deleted object is named from each
    of its events, as pages do."""

    def __init__(self, using: str, redacted: Redaction, isoformat: Callable):
        self.using = using  # the database the events are read from
        self.redacted = redacted  # the columns of a model whose values are hidden
        self.isoformat = isoformat  # the text of a moment as read (see _moments)
        self.contexts: dict = {}  # context id: (its user value, its URL), of this chunk
        self.users: dict = {}  # the metadata's user value: the user's key
        self.objects: dict = {}  # (tracked model label, object id): its name
        self.known: dict = {}  # load_names' own memory
        self.models: dict = {}  # tracked model label: the model (None if gone)
        self.shapes: dict = {}  # (label, a diff's columns): its _Shape
        self.cells: dict = {}  # context id: its cells (see _context_cells), of this chunk

    def learn(self, chunk: list[tuple]) -> dict[int, str]:
        """Name the users and objects of a chunk that are not known yet (the queries);
        returns the names of deleted objects, by row (id)."""
        # A context's metadata is read afresh with each chunk (a context's events are close
        # together in time, so this reads each about once).
        self.contexts.clear()
        self.cells.clear()
        for memory in (self.users, self.objects, self.known):
            if len(memory) > KNOWN_NAMES:
                memory.clear()
        users, objects = self.users, self.objects
        pending = []
        for row in chunk:
            user = self._context(row)[0]
            if (user is not None and _user_key(user) not in users) or (
                (row[_AT["pgh_obj_model"]], row[_AT["pgh_obj_id"]]) not in objects
            ):
                pending.append(row)
        return self._learn(pending)

    def _context(self, row) -> tuple:
        """(user value, URL) of the row's context."""
        context_id = row[_AT["pgh_context_id"]]
        if context_id is None:
            return _no_context(row[_AT["pgh_context"]])
        context = self.contexts.get(context_id)
        if context is None:
            context = self.contexts[context_id] = _no_context(row[_AT["pgh_context"]])
        return context

    def _context_cells(self, row) -> tuple:
        """(user, URL, context id) of the row as CSV cells, then as JSON."""
        context_id = row[_AT["pgh_context_id"]]
        cells = self.cells.get(context_id) if context_id is not None else None
        if cells is None:
            user, url = self._context(row)
            user = "" if user is None else self.users[_user_key(user)]
            context = "" if context_id is None else str(context_id)
            cells = (
                spreadsheet_safe(user),
                spreadsheet_safe(url),
                context,
                _json_text(user),
                _json_text(url),
                _json_text(context),
            )
            if context_id is not None:
                self.cells[context_id] = cells
        return cells

    def _learn(self, pending: list[tuple]) -> dict[int, str]:
        """Name the users and objects of `pending` rows; returns the names of deleted
        objects, by row (id)."""
        if not pending:
            return {}
        named = []
        for row in pending:
            user, url = self._context(row)
            named.append(
                EventRow(
                    slug="",
                    created_at=row[_AT["pgh_created_at"]],
                    label=row[_AT["pgh_label"]],
                    model=self._model(row[_AT["pgh_obj_model"]]),
                    model_label=row[_AT["pgh_obj_model"]],
                    object_id=row[_AT["pgh_obj_id"]],
                    changes=[],
                    data={},
                    context_id=row[_AT["pgh_context_id"]],
                    metadata={"user": user, "url": url},
                    user_id=user,
                )
            )
        # A deleted object is named from what its event stored, read only for those events.
        row_of = {id(event): row for row, event in zip(pending, named, strict=True)}

        def read_data(events: list[EventRow]) -> None:
            rows = [row_of[id(event)] for event in events]
            stored = _stored_data(rows, self.using)
            for row, event in zip(rows, events, strict=True):
                event.data = stored[row[_AT["pgh_model"]], row[_AT["pgh_id"]]]

        load_names(named, self.known, read_data)
        gone = {}
        for row, event in zip(pending, named, strict=True):
            self.users[_user_key(event.user_id)] = event.user_key or ""
            if event.object_exists:
                self.objects[event.model_label, event.object_id] = event.object_name
            else:
                gone[id(row)] = event.object_name
        return gone

    def _model(self, label: str):
        """The tracked model of `label` (None if gone)."""
        if label not in self.models:
            self.models[label] = tracked_model(label)
        return self.models[label]

    def _shape(self, label: str, columns: tuple[str, ...]) -> _Shape:
        key = (label, columns)
        shape = self.shapes.get(key)
        if shape is None:
            model = self._model(label)
            fields = stored_fields(
                model, frozenset(columns), self.redacted(model), retired.reading()
            )
            if len(self.shapes) > KNOWN_NAMES:
                self.shapes.clear()
            shape = self.shapes[key] = _Shape(fields, columns)
        return shape

    def _diff_cells(self, label: str, diff: str | None, fmt: str) -> tuple[str, str]:
        """(changed fields, diff) of a row's stored diff (JSON text) as `fmt` writes them."""
        changes = json.loads(diff) if diff else None
        if not changes:
            return _NO_DIFF[fmt]
        shape = self._shape(label, tuple(changes))
        if fmt == "csv":
            diff = _json_sorted(changes if shape.as_stored else shape.diff(changes))
            return shape.names_cell, diff
        return shape.names_json, _json(changes if shape.in_stored_order else shape.diff(changes))

    def csv_block(self, chunk: list[tuple], gone: dict[int, str]) -> str:
        """The CSV lines of a chunk, once `learn` has named what they show (no query)."""
        buffer = io.StringIO()
        cells = self._context_cells
        objects, diff_cells, isoformat = self.objects, self._diff_cells, self.isoformat
        labels = {}
        rows = []
        for row in chunk:
            _, _, label, object_id, event_label, diff, _, _, created_at = row
            user, url, context, _, _, _ = cells(row)
            name = gone[id(row)] if id(row) in gone else objects.get((label, object_id), "")
            safe_label = labels.get(event_label)
            if safe_label is None:
                safe_label = labels[event_label] = spreadsheet_safe(event_label)
            names, diff = diff_cells(label, diff, "csv")
            rows.append(
                (
                    isoformat(created_at),
                    user,
                    safe_label,
                    label,
                    spreadsheet_safe(object_id or ""),
                    spreadsheet_safe(name),
                    names,
                    diff,
                    url,
                    context,
                )
            )
        csv.writer(buffer).writerows(rows)
        return buffer.getvalue()

    def jsonl_block(self, chunk: list[tuple], gone: dict[int, str]) -> str:
        """The JSON Lines of a chunk, once `learn` has named what they show (no query):
        each line what `json.dumps(dict(zip(COLUMNS, values)), ensure_ascii=False)`
        writes, put together from the JSON of each value."""
        cells = self._context_cells
        objects, diff_cells, isoformat = self.objects, self._diff_cells, self.isoformat
        texts: dict = {}  # labels and model labels as JSON
        lines = []
        for row in chunk:
            _, _, label, object_id, event_label, diff, _, _, created_at = row
            _, _, _, user, url, context = cells(row)
            name = gone[id(row)] if id(row) in gone else objects.get((label, object_id), "")
            if event_label not in texts:
                texts[event_label] = _json_text(event_label)
            if label not in texts:
                texts[label] = _json_text(label)
            names, diff = diff_cells(label, diff, "jsonl")
            lines.append(
                f'{{"time": "{isoformat(created_at)}", "user": {user},'
                f' "label": {texts[event_label]}, "model": {texts[label]},'
                f' "object_id": {_json_text(object_id or "")}, "object": {_json_text(name)},'
                f' "changed_fields": {names}, "diff": {diff}, "url": {url},'
                f' "context_id": {context}}}\n'
            )
        return "".join(lines)


def _no_context(raw) -> tuple:
    """(user value, URL) of a context's metadata as the driver gives it (JSON text)."""
    metadata = json.loads(raw) if raw else {}
    metadata = metadata if isinstance(metadata, dict) else {}
    return metadata.get("user"), context_url(metadata)


def _stored_data(rows: list[tuple], using: str) -> dict[tuple[str, int], dict]:
    """The `pgh_data` of these rows' events, by (event model label, pgh_id): one query per
    event model."""
    ids = defaultdict(set)
    for row in rows:
        ids[row[_AT["pgh_model"]]].add(row[_AT["pgh_id"]])
    stored = {}
    for label, pgh_ids in ids.items():
        events = (
            Events.objects.using(using)
            .across(label)
            .filter(pgh_id__in=pgh_ids)
            .values_list("pgh_id", "pgh_data")
        )
        stored.update(((label, pgh_id), data or {}) for pgh_id, data in events)
    return stored


def _user_key(value):
    """The context's user value as a key of a dict (a number or a name, as a rule)."""
    return value if isinstance(value, (int, str)) else json.dumps(value, sort_keys=True)


def csv_lines(queryset, sort: str, redacted: Redaction = redacted_columns) -> Iterable[str]:
    """The CSV file of `queryset`'s events in the order of `sort`: a header, then a chunk of
    lines at a time. `redacted(model)` names the columns whose values are hidden."""
    yield ",".join(COLUMNS) + "\r\n"
    yield from _chunks(queryset, sort, redacted, "csv")


def jsonl_lines(queryset, sort: str, redacted: Redaction = redacted_columns) -> Iterable[str]:
    """One JSON object per event and line, in the order of `sort`."""
    yield from _chunks(queryset, sort, redacted, "jsonl")


FORMATS = {
    "csv": (csv_lines, "text/csv; charset=utf-8"),
    "jsonl": (jsonl_lines, "application/jsonl; charset=utf-8"),
}


def response(
    queryset, sort: str, fmt: str, redacted: Redaction = redacted_columns
) -> StreamingHttpResponse:
    """A streamed download of `queryset`'s events, in the order of `sort`, in format `fmt`
    ("csv" or "jsonl"), hiding the values of the columns `redacted(model)` names."""
    lines, content_type = FORMATS[fmt]
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    streamed = StreamingHttpResponse(lines(queryset, sort, redacted), content_type=content_type)
    streamed["Content-Disposition"] = f'attachment; filename="events-{stamp}.{fmt}"'
    return streamed
