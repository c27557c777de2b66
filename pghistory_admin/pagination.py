"""Keyset pagination: pages are found by the sort key of a neighbouring row, never by counting.

A page link carries a cursor, the sort key of the row it continues from: `after` for the next
page, `before` for the previous one, and `last` for the final page (read in reverse order).
A cursor is opaque to people, checked on the way in, and tied to the sort it was made for.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from pghistory.maintenance import table_sizes
from pghistory_admin.conf import history_database

#: The sorts people can choose, as (field, descending) keys; the last keys make each unique.
SORTS: dict[str, list[tuple[str, bool]]] = {
    "-time": [("pgh_created_at", True), ("pgh_model", True), ("pgh_id", True)],
    "time": [("pgh_created_at", False), ("pgh_model", False), ("pgh_id", False)],
    "model": [
        ("pgh_obj_model", False),
        ("pgh_created_at", True),
        ("pgh_model", True),
        ("pgh_id", True),
    ],
    "-model": [
        ("pgh_obj_model", True),
        ("pgh_created_at", True),
        ("pgh_model", True),
        ("pgh_id", True),
    ],
}
DEFAULT_SORT = "-time"
PER_PAGE = 50


class InvalidCursor(ValueError):
    """A page link that was altered, truncated or made for another sort."""


@dataclass
class Page:
    rows: list
    sort: str
    newer: str | None  # cursor of the previous page (`before=`), None on the first page
    older: str | None  # cursor of the next page (`after=`), None on the last page

    @property
    def is_first(self) -> bool:
        return self.newer is None

    @property
    def is_last(self) -> bool:
        return self.older is None


def page(queryset: QuerySet, sort: str, params, per_page: int = PER_PAGE) -> Page:
    """The page of `queryset` that `params` (a QueryDict) asks for; raises `InvalidCursor`."""
    keys = SORTS[sort]
    if params.get("last"):
        rows = _fetch(queryset, keys, None, reverse=True, limit=per_page + 1)
        more = len(rows) > per_page
        rows = rows[:per_page][::-1]
        return Page(rows, sort, _cursor(sort, keys, rows[0]) if more else None, None)
    if params.get("before"):
        values = decode(sort, params["before"])
        rows = _fetch(queryset, keys, values, reverse=True, limit=per_page + 1)
        more = len(rows) > per_page
        rows = rows[:per_page][::-1]
        newer = _cursor(sort, keys, rows[0]) if more and rows else None
        older = _cursor(sort, keys, rows[-1]) if rows else None
        return Page(rows, sort, newer, older)
    values = decode(sort, params["after"]) if params.get("after") else None
    rows = _fetch(queryset, keys, values, reverse=False, limit=per_page + 1)
    more = len(rows) > per_page
    rows = rows[:per_page]
    newer = _cursor(sort, keys, rows[0]) if values is not None and rows else None
    older = _cursor(sort, keys, rows[-1]) if more else None
    return Page(rows, sort, newer, older)


def ordered(queryset: QuerySet, sort: str) -> QuerySet:
    """`queryset` in the order of `sort`."""
    return queryset.order_by(*_ordering(SORTS[sort], reverse=False))


def chunks(
    queryset: QuerySet,
    sort: str,
    size: int,
    *,
    read: Callable[[QuerySet], list] = list,
    key: Callable[[Any, str], Any] = getattr,
) -> Iterator[list]:
    """All of `queryset` in the order of `sort`, `size` rows at a time: each chunk is one
    keyset query, like a page, so the first rows come at once however many follow, and no
    transaction or cursor stays open in between. `read(sliced_queryset)` gives a chunk's
    rows, and `key(row, name)` a row's value of a sort key."""
    keys = SORTS[sort]
    values = None
    while True:
        rows = read(_sliced(queryset, keys, values, reverse=False, limit=size))
        if rows:
            yield rows
        if len(rows) < size:
            return
        values = [key(rows[-1], name) for name, _ in keys]


def _ordering(keys, reverse: bool) -> list[str]:
    return [f"-{name}" if descending != reverse else name for name, descending in keys]


def _fetch(queryset, keys, values, *, reverse: bool, limit: int) -> list:
    return list(_sliced(queryset, keys, values, reverse=reverse, limit=limit))


def _sliced(queryset, keys, values, *, reverse: bool, limit: int) -> QuerySet:
    if values is not None:
        queryset = queryset.filter(_beyond(keys, values, reverse))
    return queryset.order_by(*_ordering(keys, reverse))[:limit]


def _beyond(keys, values, reverse: bool) -> Q:
    """Rows strictly after `values` in the order of `keys` (before it when `reverse`)."""
    condition = Q(pk__in=[])
    for position, (name, descending) in enumerate(keys):
        equal = {keys[i][0]: values[i] for i in range(position)}
        lookup = "lt" if descending != reverse else "gt"
        condition |= Q(**equal, **{f"{name}__{lookup}": values[position]})
    # The same bound on the first key alone, which an index on that key can seek to.
    (first, descending), *_ = keys
    return Q(**{f"{first}__{'lte' if descending != reverse else 'gte'}": values[0]}) & condition


def _cursor(sort: str, keys, row) -> str:
    values = [getattr(row, name) for name, _ in keys]
    encoded = [
        value.isoformat() if isinstance(value, datetime.datetime) else value for value in values
    ]
    raw = json.dumps([sort, *encoded], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_TYPES = {
    "pgh_created_at": datetime.datetime,
    "pgh_model": str,
    "pgh_obj_model": str,
    "pgh_id": int,
}


def decode(sort: str, cursor: str) -> list:
    """The sort key values in `cursor`; raises `InvalidCursor` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        made_for, *values = parsed = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise InvalidCursor("This page link is not valid.") from None
    if not isinstance(parsed, list):
        raise InvalidCursor("This page link is not valid.")
    keys = SORTS[sort]
    if made_for != sort or len(values) != len(keys):
        raise InvalidCursor("This page link was made for another sort order.")
    decoded = []
    for (name, _), value in zip(keys, values):
        kind = _TYPES[name]
        if kind is datetime.datetime:
            try:
                value = datetime.datetime.fromisoformat(value)
            except (TypeError, ValueError):
                raise InvalidCursor("This page link is not valid.") from None
            if timezone.is_naive(value):
                raise InvalidCursor("This page link is not valid.")
        elif kind is int:
            if type(value) is not int or not -(2**63) <= value < 2**63:
                raise InvalidCursor("This page link is not valid.")
        elif not isinstance(value, str) or "\x00" in value:
            raise InvalidCursor("This page link is not valid.")
        decoded.append(value)
    return decoded


def estimated_total(event_models, using: str | None = None) -> int | None:
    """The planner's row estimate for these event tables (no count), or None if unknown."""
    tables = [model._meta.db_table for model in event_models]
    if not tables:
        return 0
    estimates = [rows for rows, _ in table_sizes(tables, using or history_database()).values()]
    if not estimates or min(estimates) < 0:  # -1: a table not analyzed yet
        return None
    return int(sum(estimates))
