"""A tracked model's table as it was at a moment, read from its history.

`pghistory.as_of(Model, moment)` gives `TableAsOf`: the rows of `Model` that existed at
`moment`, each with the values its latest event at or before then stored (rows deleted since
included, rows created after absent), as unsaved model instances in primary key order, a
keyset page at a time. It needs an event model that records every change of every field: an
insert, an update and a delete tracker without conditions (the update's may be the default,
any change of a stored field), storing all of the model's fields, with `pgh_obj`; for any
other model `complete_event_model()` raises `Incomplete`, saying what is missing, rather
than return a guess.

Each page is one query: a skip scan of the event table's `(pgh_obj_id, pgh_id)` index finds
the next objects in order, and for each the newest event at or before the moment is read from
the same index; an object whose newest event then was a delete is passed over.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator
from typing import Any

import pgtrigger
from django.db import DEFAULT_DB_ALIAS, models

from pghistory.sql import literal, quote

#: Rows a page gives by default, and iteration reads at a time.
PAGE = 50
CHUNK = 1000


class Incomplete(Exception):
    """The model's history does not record every change: its table at a moment cannot be
    rebuilt from it (the message says why)."""


def complete_event_model(model: type[models.Model]) -> type[models.Model]:
    """The event model of `model` that records every change of every field, or `Incomplete`."""
    from pghistory.core import event_models

    candidates = event_models(tracks_model=model)
    if not candidates:
        raise Incomplete(f"{model._meta.label} has no event model with pgh_obj.")
    reasons = []
    for event_model in candidates:
        missing = _missing(event_model)
        if not missing:
            return event_model
        reasons.append(f"{event_model._meta.label} {missing}")
    raise Incomplete(
        f"The history of {model._meta.label} does not record every change: "
        + "; ".join(reasons)
        + "."
    )


def _missing(event_model: type[models.Model]) -> str:
    tracked = event_model.pgh_tracked_model._meta.concrete_fields
    if len(event_model.pgh_tracked_fields()) != len(tracked):
        return "does not store every field"
    kinds = {}
    for tracker in event_model.pgh_trackers or ():
        operation = getattr(tracker, "operation", None)
        if operation is None:
            continue
        for name, kind in (
            ("insert", pgtrigger.Insert),
            ("update", pgtrigger.Update),
            ("delete", pgtrigger.Delete),
        ):
            if str(operation) == str(kind) and _records_every(name, tracker):
                kinds[name] = tracker
    lacking = [name for name in ("insert", "update", "delete") if name not in kinds]
    if lacking:
        return f"has no tracker recording every {' / '.join(lacking)}"
    return ""


def _records_every(kind: str, tracker) -> bool:
    """Whether the tracker writes an event for every row its operation touches (for an
    update, every one that changes a stored field), storing the row after it (before it, for
    a delete)."""
    wanted_row = "OLD" if kind == "delete" else "NEW"
    if str(tracker.row).upper() != wanted_row:
        return False
    condition = tracker.condition
    if condition is None:
        return True
    return (
        kind == "update"
        and type(condition) is pgtrigger.AnyChange
        and not condition.fields
        and not condition.exclude
        and not condition.exclude_auto
    )


def delete_labels(event_model: type[models.Model]) -> list[str]:
    """The labels of the event model's delete trackers."""
    return [
        tracker.label
        for tracker in event_model.pgh_trackers or ()
        if str(getattr(tracker, "operation", None)) == str(pgtrigger.Delete)
    ]


class TableAsOf:
    """The rows of `model` as they were at `moment` (see the module's docstring).

    `page(after=pk)` gives the next rows in primary key order, `page(before=pk)` the ones
    before; iterating gives them all; `get(pk)` one, or `model.DoesNotExist`. Each instance is
    unsaved (`_state.adding` is False), with the event that stored it as `pgh_event`.
    """

    def __init__(
        self, model: type[models.Model], moment: datetime.datetime, using: str = DEFAULT_DB_ALIAS
    ):
        self.model = model
        self.moment = moment
        self.using = using
        self.event_model = complete_event_model(model)

    def page(self, *, after=None, before=None, size=PAGE, **filters) -> list[models.Model]:
        """Up to `size` rows after the primary key `after` (or before `before`), in primary
        key order; `filters` as `events()` takes them."""
        events = self.events(after=after, before=before, size=size, **filters)
        return [self.instance(event) for event in events]

    def events(
        self,
        *,
        after: Any = None,
        before: Any = None,
        size: int = PAGE,
        contains: str | None = None,
        hidden: Iterable[str] = (),
        user: Any = None,
    ) -> list:
        """The events that stored those rows (see `page()`), in the same order; each has the
        stored row as Postgres renders it to JSON (keyed by column) as `pgh_row`. With
        `contains`, only rows with a value whose text contains it (in no column of `hidden`);
        with `user` (a user's primary key), only rows last written in that user's context."""
        backwards = before is not None
        bound = before if backwards else after
        sql, params = self._sql(bound, backwards, size, contains, set(hidden), user)
        found = list(self.event_model.objects.using(self.using).raw(sql, params))
        return found[::-1] if backwards else found

    def get(self, pk: Any) -> models.Model:
        """The row `pk` as it was, or `model.DoesNotExist` if it did not exist then."""
        pk = self.model._meta.pk.to_python(pk)
        deleted = delete_labels(self.event_model)
        event = (
            self.event_model.objects.using(self.using)
            .filter(pgh_obj_id=pk, pgh_created_at__lte=self.moment)
            .order_by("-pgh_id")
            .first()
        )
        if event is None or event.pgh_label in deleted:
            raise self.model.DoesNotExist(
                f"No {self.model._meta.object_name} {pk!r} existed at {self.moment.isoformat()}."
            )
        return self.instance(event)

    def __iter__(self) -> Iterator[models.Model]:
        after = None
        while True:
            rows = self.page(after=after, size=CHUNK)
            yield from rows
            if len(rows) < CHUNK:
                return
            after = rows[-1].pk

    def instance(self, event) -> models.Model:
        """An unsaved instance of the model holding what `event` stored."""
        values = {
            field.attname: getattr(event, field.attname)
            for field in self.event_model.pgh_tracked_fields()
        }
        obj = self.model(**values)
        obj._state.adding = False
        obj._state.db = self.using
        obj.pgh_event = event
        return obj

    def _sql(self, bound, backwards, size, contains, hidden, user) -> tuple[str, list]:
        table = quote(self.event_model._meta.db_table)
        obj = quote(self.event_model._meta.get_field("pgh_obj").column)
        beyond, order = ("<", "DESC") if backwards else (">", "ASC")
        if bound is None:
            start, params = f"{obj} IS NOT NULL", []
        else:
            start, params = f"{obj} {beyond} %s", [self.model._meta.pk.to_python(bound)]
        conditions, filter_params = [], []
        deleted = ", ".join(literal(label) for label in delete_labels(self.event_model))
        if deleted:
            conditions.append(f"e.pgh_label NOT IN ({deleted})")
        if contains:
            columns = [
                f"e.{quote(field.column)}"
                for field in self.event_model.pgh_tracked_fields()
                if field.column not in hidden
            ]
            conditions.append(f"jsonb_build_array({', '.join(columns)})::text ILIKE %s")
            escaped = "".join(f"\\{char}" if char in "\\%_" else char for char in contains)
            filter_params.append(f"%{escaped}%")
        if user is not None:
            conditions.append(f"{self._context_user()} = %s")
            filter_params.append(str(user))
        gone = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        sql = (
            f"WITH RECURSIVE objects(id) AS ("
            f"(SELECT {obj} FROM {table} WHERE {start} ORDER BY {obj} {order} LIMIT 1)"
            f" UNION ALL SELECT (SELECT t.{obj} FROM {table} t WHERE t.{obj} {beyond} objects.id"
            f" ORDER BY t.{obj} {order} LIMIT 1) FROM objects WHERE objects.id IS NOT NULL)"
            f" SELECT e.*, to_jsonb(e) AS pgh_row FROM objects CROSS JOIN LATERAL (SELECT * FROM {table} s"
            f" WHERE s.{obj} = objects.id AND s.pgh_created_at <= %s"
            f" ORDER BY s.pgh_id DESC LIMIT 1) e{gone} LIMIT %s"
        )
        return sql, [*params, self.moment, *filter_params, size]

    def _context_user(self) -> str:
        """SQL of the user in the context of the event `e` (NULL without a context)."""
        fields = {field.name: field for field in self.event_model._meta.concrete_fields}
        context = fields.get("pgh_context")
        if context is None:
            return "NULL"
        if context.is_relation:
            return (
                "(SELECT c.metadata ->> 'user' FROM pghistory_context c"
                " WHERE c.id = e.pgh_context_id)"
            )
        return "(e.pgh_context ->> 'user')"


def as_of(
    model: type[models.Model], moment: datetime.datetime, using: str = DEFAULT_DB_ALIAS
) -> TableAsOf:
    """`model`'s rows as they were at `moment` (see `TableAsOf`); `Incomplete` if its history
    does not record every change."""
    return TableAsOf(model, moment, using)
