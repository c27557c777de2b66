"""CSV and JSON Lines exports of exactly the events a browser view shows, streamed.

Rows are read a chunk at a time, each chunk one keyset query like a page of the browser, and
written as they come, so memory stays flat and the first rows leave at once however many
events match. CSV cells a spreadsheet would run as a formula are prefixed
with an apostrophe.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from django.db import connections
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


def _csv_cells(record: tuple) -> list[str]:
    """A record's CSV cells. The time, the model label, the diff (a JSON object) and the
    context id cannot start a formula; the other cells are made spreadsheet-safe."""
    time, user, label, model, object_id, name, changed, diff, url, context_id = record
    return [
        time,
        spreadsheet_safe(user),
        spreadsheet_safe(label),
        model,
        spreadsheet_safe(object_id),
        spreadsheet_safe(name),
        spreadsheet_safe(", ".join(changed)),
        json.dumps(diff, ensure_ascii=False, sort_keys=True) if diff else "",
        spreadsheet_safe(url),
        context_id,
    ]


#: The `Events` columns an export reads, in this order.
_READ = [
    "pgh_created_at",
    "pgh_model",
    "pgh_id",
    "pgh_obj_model",
    "pgh_obj_id",
    "pgh_label",
    "pgh_diff",
    "pgh_context_id",
    "pgh_context",
]
_AT = {name: position for position, name in enumerate(_READ)}


def _driver_rows(queryset) -> list[tuple]:
    """The rows of a `values_list()` queryset as the database driver gives them: no Django
    converters, JSON as text (parsed only where it is read)."""
    compiler = queryset.query.get_compiler(queryset.db)
    return [row for block in compiler.execute_sql(MULTI) for row in block]


def _chunks(queryset, sort: str, redacted: Redaction) -> Iterator[list[tuple]]:
    """The export's records (the values of `COLUMNS` of each event), a chunk at a time.

    Once a chunk's users and objects are named, the next chunk's query runs while this
    chunk's records are built and written: in a thread of its own, on the same connection
    (so in the same transaction, if one is open), which nothing else uses meanwhile."""
    records = _Records(queryset.db, redacted)
    reader = pagination.chunks(
        queryset.values_list(*_READ),
        sort,
        CHUNK,
        read=_driver_rows,
        key=lambda row, name: row[_AT[name]],
    )
    connection = connections[queryset.db]
    connection.inc_thread_sharing()
    try:
        with ThreadPoolExecutor(
            1, initializer=_share, initargs=(queryset.db, connection)
        ) as ahead:
            chunk = next(reader, None)
            while chunk is not None:
                gone = records.learn(chunk)
                upcoming = ahead.submit(next, reader, None)
                yield records.build(chunk, gone)
                chunk = upcoming.result()
    finally:
        connection.dec_thread_sharing()


def _share(alias: str, connection) -> None:
    """Make `connection` the reading thread's connection of `alias`."""
    connections[alias] = connection


class _Records:
    """Turns an export's rows into records, remembering across chunks what it has read: the
    contexts' metadata, the users' keys, existing objects' names, and the tracked models.
    Only the rows that name a user or an object not seen yet go through
    `rows.load_names` (the pages' way of naming them); a deleted object is named from each
    of its events, as pages do."""

    def __init__(self, using: str, redacted: Redaction):
        self.using = using  # the database the events are read from
        self.redacted = redacted  # the columns of a model whose values are hidden
        self.metadata: dict = {}  # context id: metadata (of this chunk's events)
        self.users: dict = {}  # the metadata's user value: the user's key
        self.objects: dict = {}  # (tracked model label, object id): its name
        self.known: dict = {}  # load_names' own memory
        self.models: dict = {}  # tracked model label: the model (None if gone)
        self.shapes: dict = {}  # (label, a diff's columns): see _shape()

    def learn(self, chunk: list[tuple]) -> dict[int, str]:
        """Name the users and objects of a chunk that are not known yet (the queries);
        returns the names of deleted objects, by row (id)."""
        self.metadata.clear()  # (a context's events are close together in time)
        for memory in (self.users, self.objects, self.known):
            if len(memory) > KNOWN_NAMES:
                memory.clear()
        return self._learn([row for row in chunk if self._unknown(row)])

    def build(self, chunk: list[tuple], gone: dict[int, str]) -> list[tuple]:
        """The chunk's records, once `learn` has named what they show (no query)."""
        return [self._record(row, gone) for row in chunk]

    def _context(self, row) -> dict:
        context_id, raw = row[_AT["pgh_context_id"]], row[_AT["pgh_context"]]
        metadata = self.metadata.get(context_id) if context_id is not None else None
        if metadata is None:
            metadata = json.loads(raw) if raw else {}
            metadata = metadata if isinstance(metadata, dict) else {}
            if context_id is not None:
                self.metadata[context_id] = metadata
        return metadata

    def _unknown(self, row) -> bool:
        user = self._context(row).get("user")
        object_key = (row[_AT["pgh_obj_model"]], row[_AT["pgh_obj_id"]])
        return (user is not None and _user_key(user) not in self.users) or (
            object_key not in self.objects
        )

    def _learn(self, pending: list[tuple]) -> dict[int, str]:
        """Name the users and objects of `pending` rows; returns the names of deleted
        objects, by row (id)."""
        if not pending:
            return {}
        named = []
        for row in pending:
            metadata = self._context(row)
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
                    metadata=metadata,
                    user_id=metadata.get("user"),
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

    def _record(self, row: tuple, gone: dict[int, str]) -> tuple:
        """The row's values of `COLUMNS`, in that order."""
        created_at, _, _, label, object_id, event_label, diff, context_id, _ = row
        metadata = self._context(row)
        user = metadata.get("user")
        changes = json.loads(diff) if diff else None
        names, shown = self._shape(label, changes) if changes else ((), ())
        return (
            created_at.isoformat(),
            "" if user is None else self.users[_user_key(user)],
            event_label,
            label,
            object_id or "",
            gone[id(row)] if id(row) in gone else self.objects.get((label, object_id), ""),
            names,
            {
                name: [redact(value) for value in changes[column]] if hidden else changes[column]
                for name, column, hidden in shown
            },
            context_url(metadata),
            str(context_id) if context_id else "",
        )

    def _shape(self, label: str, changes: dict) -> tuple[list[str], list[tuple]]:
        """(changed field names, (name, column, redacted?) of each) of a diff with these
        columns, named, ordered and redacted as the pages do (`diffs.stored_fields`)."""
        key = (label, tuple(changes))
        shape = self.shapes.get(key)
        if shape is None:
            model = self._model(label)
            fields = stored_fields(
                model, frozenset(changes), self.redacted(model), retired.reading()
            )
            shape = (
                [name for _, name, _, _, _ in fields],
                [(name, column, hidden) for column, name, _, _, hidden in fields],
            )
            if len(self.shapes) > KNOWN_NAMES:
                self.shapes.clear()
            self.shapes[key] = shape
        return shape


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
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    for records in _chunks(queryset, sort, redacted):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(_csv_cells(record) for record in records)
        yield buffer.getvalue()


def jsonl_lines(queryset, sort: str, redacted: Redaction = redacted_columns) -> Iterable[str]:
    """One JSON object per event and line, in the order of `sort`."""
    for records in _chunks(queryset, sort, redacted):
        yield "".join(
            json.dumps(dict(zip(COLUMNS, record, strict=True)), ensure_ascii=False) + "\n"
            for record in records
        )


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
