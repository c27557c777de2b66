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
from collections.abc import Iterable, Iterator

from django.db.models.sql.constants import MULTI
from django.http import StreamingHttpResponse
from django.utils import timezone

from pghistory.config import redact, redacted_columns
from pghistory_admin import pagination
from pghistory_admin.diffs import fields_by_column, in_field_order
from pghistory_admin.rows import KNOWN_NAMES, EventRow, load_names, tracked_model

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


def _csv_cells(values: dict) -> list[str]:
    cells = []
    for name in COLUMNS:
        value = values[name]
        if name == "changed_fields":
            value = ", ".join(value)
        elif name == "diff":
            value = json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""
        cells.append(spreadsheet_safe(str(value)))
    return cells


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
    "pgh_data",
]
_AT = {name: position for position, name in enumerate(_READ)}


def _driver_rows(queryset) -> list[tuple]:
    """The rows of a `values_list()` queryset as the database driver gives them: no Django
    converters, JSON as text (parsed only where it is read)."""
    compiler = queryset.query.get_compiler(queryset.db)
    return [row for block in compiler.execute_sql(MULTI) for row in block]


def _chunks(queryset, sort: str) -> Iterator[list[dict]]:
    """The export's records (one dict of `COLUMNS` per event), a chunk at a time."""
    records = _Records()
    for chunk in pagination.chunks(
        queryset.values_list(*_READ),
        sort,
        CHUNK,
        read=_driver_rows,
        key=lambda row, name: row[_AT[name]],
    ):
        yield records.of(chunk)


class _Records:
    """Turns an export's rows into records, remembering across chunks what it has read: the
    contexts' metadata, the users' keys, existing objects' names, and the tracked models.
    Only the rows that name a user or an object not seen yet go through
    `rows.load_names` (the pages' way of naming them); a deleted object is named from each
    of its events, as pages do."""

    def __init__(self):
        self.metadata: dict = {}  # context id: metadata (of this chunk's events)
        self.users: dict = {}  # the metadata's user value: the user's key
        self.objects: dict = {}  # (tracked model label, object id): its name
        self.known: dict = {}  # load_names' own memory
        self.models: dict = {}  # tracked model label: the model (None if gone)

    def of(self, chunk: list[tuple]) -> list[dict]:
        self.metadata.clear()  # (a context's events are close together in time)
        for memory in (self.users, self.objects, self.known):
            if len(memory) > KNOWN_NAMES:
                memory.clear()
        gone = self._learn([row for row in chunk if self._unknown(row)])
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
                    data=json.loads(row[_AT["pgh_data"]] or "{}"),
                    context_id=row[_AT["pgh_context_id"]],
                    metadata=metadata,
                    user_id=metadata.get("user"),
                )
            )
        load_names(named, self.known)
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

    def _record(self, row: tuple, gone: dict[int, str]) -> dict:
        label = row[_AT["pgh_obj_model"]]
        object_id = row[_AT["pgh_obj_id"]]
        metadata = self._context(row)
        model = self._model(label)
        changes = json.loads(row[_AT["pgh_diff"]] or "{}")
        hidden = redacted_columns(model)
        by_column = fields_by_column(model)
        order = in_field_order(model, changes)
        names = [by_column[c].name if c in by_column else c for c in order]
        url = metadata.get("url")
        context_id = row[_AT["pgh_context_id"]]
        user = metadata.get("user")
        return {
            "time": row[_AT["pgh_created_at"]].isoformat(),
            "user": "" if user is None else self.users[_user_key(user)],
            "label": row[_AT["pgh_label"]],
            "model": label,
            "object_id": object_id or "",
            "object": gone[id(row)]
            if id(row) in gone
            else self.objects.get((label, object_id), ""),
            "changed_fields": names,
            "diff": {
                name: [redact(value) for value in changes[c]] if c in hidden else changes[c]
                for name, c in zip(names, order, strict=True)
            },
            "url": url if isinstance(url, str) else "",
            "context_id": str(context_id) if context_id else "",
        }


def _user_key(value):
    """The context's user value as a key of a dict (a number or a name, as a rule)."""
    return value if isinstance(value, (int, str)) else json.dumps(value, sort_keys=True)


def csv_lines(queryset, sort: str) -> Iterable[str]:
    """The CSV file of `queryset`'s events in the order of `sort`: a header, then a chunk of
    lines at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    for records in _chunks(queryset, sort):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(_csv_cells(record) for record in records)
        yield buffer.getvalue()


def jsonl_lines(queryset, sort: str) -> Iterable[str]:
    """One JSON object per event and line, in the order of `sort`."""
    for records in _chunks(queryset, sort):
        yield "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


FORMATS = {
    "csv": (csv_lines, "text/csv; charset=utf-8"),
    "jsonl": (jsonl_lines, "application/jsonl; charset=utf-8"),
}


def response(queryset, sort: str, fmt: str) -> StreamingHttpResponse:
    """A streamed download of `queryset`'s events, in the order of `sort`, in format `fmt`
    ("csv" or "jsonl")."""
    lines, content_type = FORMATS[fmt]
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    streamed = StreamingHttpResponse(lines(queryset, sort), content_type=content_type)
    streamed["Content-Disposition"] = f'attachment; filename="events-{stamp}.{fmt}"'
    return streamed
