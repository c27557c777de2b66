"""Upkeep of event tables: snapshot the rows that have no history yet, prune old events, and
measure each table's size and growth. The `pghistory_backfill`, `pghistory_prune` and
`pghistory_stats` management commands are thin shells over these functions.

History is evidence: a backfill only adds events, and pruning deletes only the events its rule
selects, in short batches, never touching what is written while it runs.

It stands on `pghistory.tables` (the SQL they share with `pghistory.partitions`), and names
`Unsupported`, `database_now`, `is_append_only` and `table_sizes` from there for its callers.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction

from pghistory.aggregation import event_models
from pghistory.sql import quote
from pghistory.tables import (
    Unsupported,
    advisory_lock,
    append_only_lifted,
    count_rows,
    database_now,
    delete_events,
    is_append_only,
    max_pgh_id,
    table_sizes,
)
from pghistory.trigger import event_values, parent_joins

#: The default label of backfilled events.
SNAPSHOT_LABEL = "snapshot"
#: Tables whose planner estimate is above this many events are not counted by `table_stats`.
EXACT_COUNT_LIMIT = 1_000_000
# The alias of the tracked table in a backfill statement, as the trigger's row source.
_ROW = "_pgh_tracked"


def select_event_models(labels: Iterable[str] = ()) -> list[type[models.Model]]:
    """The event models `labels` name, in a stable order: a tracked model's label
    ("app_label.Model") stands for all its event models, an event model's label for itself.
    No labels: every event model. Raises `LookupError` for a label that is neither."""
    every = event_models()
    labels = list(labels)
    if not labels:
        return every
    chosen = []
    for label in labels:
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            raise LookupError(f'"{label}" is not a model (use app_label.ModelName).') from None
        matches = [
            event_model
            for event_model in every
            if event_model is model or event_model.pgh_tracked_model is model
        ]
        if not matches:
            raise LookupError(f'"{label}" is neither a tracked model nor an event model.')
        chosen.extend(matches)
    return list(dict.fromkeys(chosen))


def _table(model: type[models.Model]) -> str:
    return quote(model._meta.db_table)


def _obj_field(event_model: type[models.Model]) -> models.ForeignKey | None:
    fields = {field.name: field for field in event_model._meta.concrete_fields}
    return fields.get("pgh_obj")


# -- backfill ---------------------------------------------------------------------------------


def tracked_rows(event_model: type[models.Model], using: str = DEFAULT_DB_ALIAS) -> int:
    """How many rows the tracked table of `event_model` holds (what a backfill checks)."""
    with connections[using].cursor() as cursor:
        return count_rows(cursor, event_model.pgh_tracked_model._meta.db_table)


class Backfilled(NamedTuple):
    """What a backfill did: rows of the tracked table it checked, events it wrote."""

    checked: int
    written: int


def check_backfill(event_model: type[models.Model]) -> None:
    """Raise `Unsupported` if `backfill` cannot handle `event_model`."""
    if _obj_field(event_model) is None:
        raise Unsupported(
            "it has no pgh_obj field, so there is no telling which rows already have history"
        )


def _backfill_sql(event_model: type[models.Model], label: str, first: bool) -> str:
    """One batch: the next rows of the tracked table in primary key order, and an
    `INSERT ... SELECT` of a `label` event for each of them that has no event yet. Yields
    (rows checked, the last primary key checked, events written)."""
    check_backfill(event_model)
    obj_field = _obj_field(event_model)
    tracked = event_model.pgh_tracked_model
    table, events = _table(tracked), _table(event_model)
    pk = quote(tracked._meta.pk.column)
    target = quote(tracked._meta.get_field(obj_field.target_field.name).column)
    # The same columns and values as the trigger's INSERT, reading the tracked table instead
    # of NEW (and joining multi-table inheritance parents the same way). Whether a row has
    # an event is a probe of the (pgh_obj_id, pgh_id) index per row, not NOT EXISTS: as an
    # anti join, with statistics that lag behind the table the backfill fills, the planner
    # sorted the whole event table for each batch (1M rows: 24 s instead of 9 s).
    columns, values = event_values(event_model, tracked, label, _ROW)
    after = "" if first else f"WHERE {pk} > %s"
    return (
        f"WITH batch AS (SELECT {pk} AS key FROM {table} {after} ORDER BY {pk} LIMIT %s),"
        f" written AS (INSERT INTO {events} ({', '.join(columns)})"
        f" SELECT {', '.join(values)} FROM {table} AS {_ROW}{parent_joins(tracked, _ROW)}"
        f" WHERE {_ROW}.{pk} IN (SELECT key FROM batch)"
        f" AND (SELECT 1 FROM {events} AS _pgh_event"
        f" WHERE _pgh_event.{quote(obj_field.column)} = {_ROW}.{target} LIMIT 1) IS NULL"
        f" ORDER BY {_ROW}.{pk} RETURNING 1)"
        " SELECT (SELECT count(*) FROM batch),"
        " (SELECT key FROM batch ORDER BY key DESC LIMIT 1),"
        " (SELECT count(*) FROM written)"
    )


def backfill(
    event_model: type[models.Model],
    *,
    label: str = SNAPSHOT_LABEL,
    batch_size: int = 10_000,
    using: str = DEFAULT_DB_ALIAS,
    on_batch: Callable[[int], Any] | None = None,
) -> Backfilled:
    """Write a `label` event of every row of the tracked table that has no event of
    `event_model` yet.

    A row with any event already (an insert, an update, an earlier snapshot) gets none: its
    history starts where it really starts, and running the backfill again adds nothing. Rows
    are read in primary key order, `batch_size` at a time, each batch one statement in a
    transaction of its own; the events carry the active `pghistory.context`, if any, and
    `on_batch` is called with the number of rows each batch checked. Raises `Unsupported`
    for an event model without `pgh_obj`.
    """
    first_sql = _backfill_sql(event_model, label, first=True)
    next_sql = _backfill_sql(event_model, label, first=False)
    lock = f"pghistory.backfill:{event_model._meta.db_table}"
    checked = written = 0
    last_key = None
    while True:
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            # Two backfills of one table take turns, so neither writes a second snapshot.
            advisory_lock(cursor, lock)
            if last_key is None:
                cursor.execute(first_sql, [batch_size])
            else:
                cursor.execute(next_sql, [last_key, batch_size])
            batch_checked, last_key, batch_written = cursor.fetchone()
        checked += batch_checked
        written += batch_written
        if on_batch is not None:
            on_batch(batch_checked)
        if batch_checked < batch_size:
            return Backfilled(checked, written)


# -- prune ------------------------------------------------------------------------------------


class PruneRule:
    """Which events a prune deletes. Subclasses select them batch by batch, in an order that
    an index of every generated event model serves."""

    def check(self, event_model: type[models.Model]) -> None:
        """Raise `Unsupported` if the rule cannot apply to `event_model`."""

    def count(self, event_model: type[models.Model], using: str = DEFAULT_DB_ALIAS) -> int:
        """How many events of `event_model` the rule selects now."""
        raise NotImplementedError

    def next_batch(
        self, cursor, event_model: type[models.Model], bound: int, after: tuple | None, size: int
    ) -> tuple[list[int], tuple | None]:
        """(the pgh_ids to delete, the key to continue after, or None when done) among the
        next `size` events with `pgh_id <= bound` after the key `after` (None: from the start)."""
        raise NotImplementedError


@dataclass(frozen=True)
class OlderThan(PruneRule):
    """Events written before `cutoff`, oldest first (the `(pgh_created_at, pgh_id)` index)."""

    cutoff: datetime.datetime

    def count(self, event_model, using=DEFAULT_DB_ALIAS) -> int:
        with connections[using].cursor() as cursor:
            return count_rows(
                cursor, event_model._meta.db_table, " WHERE pgh_created_at < %s", [self.cutoff]
            )

    def next_batch(self, cursor, event_model, bound, after, size):
        after_sql, params = "", [self.cutoff, bound]
        if after is not None:
            after_sql = " AND (pgh_created_at, pgh_id) > (%s, %s)"
            params += list(after)
        cursor.execute(
            f"SELECT pgh_created_at, pgh_id FROM {_table(event_model)}"
            f" WHERE pgh_created_at < %s AND pgh_id <= %s{after_sql}"
            " ORDER BY pgh_created_at, pgh_id LIMIT %s",
            [*params, size],
        )
        rows = cursor.fetchall()
        return [pgh_id for _, pgh_id in rows], (rows[-1] if len(rows) == size else None)


@dataclass(frozen=True)
class KeepLast(PruneRule):
    """Every event of an object but its `keep` newest (by `pgh_id`), object by object (the
    `(pgh_obj_id, pgh_id)` index). The newest are counted when each batch runs, so events
    written meanwhile count among them."""

    keep: int

    def __post_init__(self):
        if self.keep < 1:
            raise ValueError("Keep at least one event of each object.")

    def check(self, event_model):
        if _obj_field(event_model) is None:
            raise Unsupported("it has no pgh_obj field, so its events belong to no object")

    def count(self, event_model, using=DEFAULT_DB_ALIAS) -> int:
        self.check(event_model)
        with connections[using].cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM (SELECT row_number() OVER"
                " (PARTITION BY pgh_obj_id ORDER BY pgh_id DESC) AS newness"
                f" FROM {_table(event_model)} WHERE pgh_obj_id IS NOT NULL) AS ranked"
                " WHERE newness > %s",
                [self.keep],
            )
            return cursor.fetchone()[0]

    def next_batch(self, cursor, event_model, bound, after, size):
        table = _table(event_model)
        after_sql, params = "", [bound]
        if after is not None:
            after_sql = " AND (pgh_obj_id, pgh_id) > (%s, %s)"
            params += list(after)
        # For each object in the batch, the pgh_id of its keep-th newest event: any older
        # event of the object goes (an object with fewer events keeps them all).
        cursor.execute(
            "WITH scanned AS (SELECT pgh_obj_id AS obj, pgh_id FROM"
            f" {table} WHERE pgh_obj_id IS NOT NULL AND pgh_id <= %s{after_sql}"
            " ORDER BY pgh_obj_id, pgh_id LIMIT %s),"
            " kept_from AS (SELECT objects.obj, (SELECT newest.pgh_id"
            f" FROM {table} AS newest WHERE newest.pgh_obj_id = objects.obj"
            " ORDER BY newest.pgh_id DESC OFFSET %s LIMIT 1) AS pgh_id"
            " FROM (SELECT DISTINCT obj FROM scanned) AS objects)"
            " SELECT scanned.obj, scanned.pgh_id, scanned.pgh_id < kept_from.pgh_id"
            " FROM scanned JOIN kept_from USING (obj) ORDER BY scanned.obj, scanned.pgh_id",
            [*params, size, self.keep - 1],
        )
        rows = cursor.fetchall()
        doomed = [pgh_id for _, pgh_id, goes in rows if goes]
        return doomed, (rows[-1][:2] if len(rows) == size else None)


def _chosen(
    event_model: type[models.Model],
    rule: PruneRule,
    batch_size: int,
    using: str,
    allow_append_only: bool,
) -> Iterator[tuple[Any, list[int]]]:
    """(a cursor, the pgh_ids of a batch the rule selects), each batch selected in a short
    transaction of its own (the append-only protection lifted in it with
    `allow_append_only`), which the cursor is in while the caller has the batch. Only events
    up to the largest `pgh_id` when it starts are candidates."""
    rule.check(event_model)
    if is_append_only(event_model) and not allow_append_only:
        raise Unsupported("its events are append-only")
    table = event_model._meta.db_table
    with connections[using].cursor() as cursor:
        bound = max_pgh_id(cursor, table)
    if bound is None:
        return
    after = None
    while True:
        with _batch_transaction(event_model, using) as cursor:
            doomed, after = rule.next_batch(cursor, event_model, bound, after, batch_size)
            yield cursor, doomed
        if after is None:
            return


@contextlib.contextmanager
def _batch_transaction(event_model: type[models.Model], using: str):
    """A cursor in a short transaction of its own, with the append-only protection of
    `event_model` lifted in it (`append_only_lifted`)."""
    with (
        transaction.atomic(using=using),
        append_only_lifted(event_model, using),
        connections[using].cursor() as cursor,
    ):
        yield cursor


def prune(
    event_model: type[models.Model],
    rule: PruneRule,
    *,
    batch_size: int = 5_000,
    using: str = DEFAULT_DB_ALIAS,
    allow_append_only: bool = False,
    on_batch: Callable[[int], Any] | None = None,
) -> int:
    """Delete the events of `event_model` that `rule` selects and return how many went.

    Only events with a `pgh_id` up to the largest one when the prune starts are candidates,
    so whatever other connections write after it starts stays. Each batch is a short
    transaction that selects at most `batch_size` events by index and deletes them by
    `pgh_id`, so no lock is held for long; `on_batch` is called with the number each batch
    deleted. The protection of an append-only event model is lifted only with
    `allow_append_only`, for this thread and within each batch's transaction
    (`pgtrigger.ignore`): other connections stay refused.
    """
    table = event_model._meta.db_table
    deleted = 0
    batches = _chosen(event_model, rule, batch_size, using, allow_append_only)
    with contextlib.closing(batches):
        for cursor, doomed in batches:
            batch_deleted = delete_events(cursor, table, doomed) if doomed else 0
            deleted += batch_deleted
            if on_batch is not None:
                on_batch(batch_deleted)
    return deleted


def select_pruned(
    event_model: type[models.Model],
    rule: PruneRule,
    *,
    batch_size: int = 5_000,
    using: str = DEFAULT_DB_ALIAS,
    allow_append_only: bool = False,
    on_batch: Callable[[list[int]], Any] | None = None,
) -> list[list[int]]:
    """The batches of pgh_ids that `prune` would delete now, deleting nothing; `on_batch`
    is called with each batch's pgh_ids within the transaction that selected them (where
    an archive writes them)."""
    chosen = []
    batches = _chosen(event_model, rule, batch_size, using, allow_append_only)
    with contextlib.closing(batches):
        for _, doomed in batches:
            if doomed:
                chosen.append(doomed)
                if on_batch is not None:
                    on_batch(doomed)
    return chosen


def delete_selected(
    event_model: type[models.Model],
    batches: Iterable[list[int]],
    *,
    using: str = DEFAULT_DB_ALIAS,
    allow_append_only: bool = False,
    on_batch: Callable[[int], Any] | None = None,
) -> int:
    """Delete these batches of events of `event_model` (from `select_pruned`), each in a
    short transaction, and return how many went (fewer if some were deleted meanwhile)."""
    table = event_model._meta.db_table
    deleted = 0
    for doomed in batches:
        with _batch_transaction(event_model, using) as cursor:
            batch_deleted = delete_events(cursor, table, doomed)
        deleted += batch_deleted
        if on_batch is not None:
            on_batch(batch_deleted)
    return deleted


# -- stats ------------------------------------------------------------------------------------


@dataclass
class TableStats:
    """The size and growth of one event table."""

    event_model: type[models.Model]
    #: Events in the table: counted, or the planner's estimate when `estimated`.
    events: int
    estimated: bool
    #: The planner's estimate (`pg_class.reltuples`), None before the table is analyzed.
    planner_estimate: int | None
    #: The table with its indexes and TOAST, in bytes (`pg_total_relation_size`).
    total_bytes: int
    last_7_days: int
    last_30_days: int
    oldest: datetime.datetime | None
    newest: datetime.datetime | None

    @property
    def label(self) -> str:
        return self.event_model._meta.label

    @property
    def tracked_label(self) -> str:
        return self.event_model.pgh_tracked_model._meta.label

    @property
    def per_day_7(self) -> float:
        return self.last_7_days / 7

    @property
    def per_day_30(self) -> float:
        return self.last_30_days / 30

    def as_json(self) -> dict:
        return {
            "event_model": self.label,
            "tracked_model": self.tracked_label,
            "table": self.event_model._meta.db_table,
            "events": self.events,
            "events_estimated": self.estimated,
            "planner_estimate": self.planner_estimate,
            "total_bytes": self.total_bytes,
            "last_7_days": self.last_7_days,
            "last_30_days": self.last_30_days,
            "per_day_7": round(self.per_day_7, 2),
            "per_day_30": round(self.per_day_30, 2),
            "oldest": self.oldest.isoformat() if self.oldest else None,
            "newest": self.newest.isoformat() if self.newest else None,
        }


def table_stats(
    chosen: Iterable[type[models.Model]] | None = None,
    *,
    now: datetime.datetime | None = None,
    exact_up_to: int | None = EXACT_COUNT_LIMIT,
    using: str = DEFAULT_DB_ALIAS,
) -> list[TableStats]:
    """The size and growth of each event table (every event model's, by default).

    A table is counted exactly unless the planner estimates more than `exact_up_to` events
    in it (None: always count): then its estimate stands in, as counting would read the
    whole table. The 7- and 30-day counts (up to `now`, the database's clock by default) and
    the oldest and newest times read the `(pgh_created_at, pgh_id)` index.
    """
    chosen = list(event_models() if chosen is None else chosen)
    now = now or database_now(using)
    tables = table_sizes([model._meta.db_table for model in chosen], using)
    with connections[using].cursor() as cursor:
        found = []
        for event_model in chosen:
            reltuples, size = tables[event_model._meta.db_table]
            estimate = int(reltuples) if reltuples >= 0 else None  # -1: not analyzed yet
            count = exact_up_to is None or estimate is None or estimate <= exact_up_to
            table = _table(event_model)
            cursor.execute(
                f"SELECT {f'(SELECT count(*) FROM {table})' if count else 'NULL'},"
                f" (SELECT count(*) FROM {table} WHERE pgh_created_at >= %s),"
                f" (SELECT count(*) FROM {table} WHERE pgh_created_at >= %s),"
                f" (SELECT min(pgh_created_at) FROM {table}),"
                f" (SELECT max(pgh_created_at) FROM {table})",
                [now - datetime.timedelta(days=7), now - datetime.timedelta(days=30)],
            )
            total, last_7, last_30, oldest, newest = cursor.fetchone()
            found.append(
                TableStats(
                    event_model=event_model,
                    events=total if count else estimate,
                    estimated=not count,
                    planner_estimate=estimate,
                    total_bytes=size,
                    last_7_days=last_7,
                    last_30_days=last_30,
                    oldest=oldest,
                    newest=newest,
                )
            )
    return found
