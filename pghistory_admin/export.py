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

from django.http import StreamingHttpResponse
from django.utils import timezone

from pghistory_admin import pagination
from pghistory_admin.rows import EventRow, event_rows

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


def record(row: EventRow) -> dict:
    """One event as the export's columns."""
    return {
        "time": row.created_at.isoformat(),
        "user": row.user_key or "",
        "label": row.label,
        "model": row.model_label,
        "object_id": row.object_id or "",
        "object": row.object_name,
        "changed_fields": [change.name for change in row.changes],
        "diff": {change.name: [change.old, change.new] for change in row.changes},
        "url": row.url,
        "context_id": str(row.context_id) if row.context_id else "",
    }


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


def _chunks(queryset, sort: str) -> Iterator[list[EventRow]]:
    # Named rows rather than model instances: the export reads each event once.
    fields = [field.attname for field in queryset.model._meta.concrete_fields]
    known: dict = {}  # users and objects named by earlier chunks
    for chunk in pagination.chunks(queryset.values_list(*fields, named=True), sort, CHUNK):
        yield event_rows(chunk, known)


def csv_lines(queryset, sort: str) -> Iterable[str]:
    """The CSV file of `queryset`'s events in the order of `sort`: a header, then a chunk of
    lines at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    for rows in _chunks(queryset, sort):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(_csv_cells(record(row)) for row in rows)
        yield buffer.getvalue()


def jsonl_lines(queryset, sort: str) -> Iterable[str]:
    """One JSON object per event and line, in the order of `sort`."""
    for rows in _chunks(queryset, sort):
        yield "".join(json.dumps(record(row), ensure_ascii=False) + "\n" for row in rows)


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
