"""Event tables partitioned by `pgh_created_at`, with Postgres declarative range partitioning.

`pghistory.operations.PartitionEventTable`, added to a migration, rebuilds an event model's
table as a partitioned one (`partition_table`); `manage.py pghistory_partitions` then keeps it:
it creates the coming periods' partitions and drops the partitions older than a cutoff, which
takes a moment whatever their size (`plan` and `apply`).

The layout of a partitioned event table:

- one partition per period (a month by default; or a day, a week, a year), named
  `<table>_p2026_01` (`_p2026_01_12` for days and weeks, `_p2026` for years), over
  `[start, next start)` in UTC;
- a DEFAULT partition, `<table>_default`, that takes any event no other partition covers, so
  an insert never fails for want of a partition. Its comment names the period
  (`pghistory: partitioned by month`): that is how the command knows the table is ours;
- the primary key `(pgh_id, pgh_created_at)`, as Postgres wants the partition key in every
  unique constraint (Django still treats `pgh_id` as the primary key: its values come from one
  identity sequence, so they stay unique), and every index of the table, which Postgres keeps
  on each partition.

Foreign keys to a partitioned event table cannot exist (`pgh_id` alone is unique in no
constraint); the conversion refuses a table that has any.

It stands on `pghistory.tables` (the catalog, counts, locks, append-only protection), as
`pghistory.maintenance` does; the two do not use each other.
"""

from __future__ import annotations

import calendar
import datetime
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction

from pghistory import tables
from pghistory.sql import literal, quote

UTC = datetime.UTC
#: The partition key of every partitioned event table.
KEY = "pgh_created_at"
#: Postgres' longest identifier (NAMEDATALEN - 1).
MAX_IDENTIFIER = 63
#: How long the command waits to lock a table before it gives up a step (writes to the
#: tracked tables queue behind a waiting lock).
LOCK_TIMEOUT = "10s"

_MARKER = "pghistory: partitioned by {}"
_MARKER_RE = re.compile(r"^pghistory: partitioned by (\w+)$")
_AGE_RE = re.compile(r"^\s*(\d+)\s*([my])\s*$")


# -- periods ----------------------------------------------------------------------------------


def _midnight(moment: datetime.datetime) -> datetime.datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _add_months(start: datetime.datetime, months: int) -> datetime.datetime:
    years, month = divmod(start.month - 1 + months, 12)
    return start.replace(year=start.year + years, month=month + 1)


@dataclass(frozen=True)
class Interval:
    """A partition's period: where the one holding a moment starts, and the next ones."""

    name: str
    floor: Callable[[datetime.datetime], datetime.datetime]
    shift: Callable[[datetime.datetime, int], datetime.datetime]
    #: The partition name's suffix after `_p`, from the period's start.
    suffix: str

    def starts(self, first: datetime.datetime, count: int) -> list[datetime.datetime]:
        """`count` consecutive periods' starts, from the period holding `first`."""
        start = self.floor(first)
        return [self.shift(start, n) for n in range(count)]


INTERVALS = {
    interval.name: interval
    for interval in (
        Interval(
            "day", _midnight, lambda start, n: start + datetime.timedelta(days=n), "%Y_%m_%d"
        ),
        Interval(
            "week",
            lambda moment: _midnight(moment) - datetime.timedelta(days=moment.weekday()),
            lambda start, n: start + datetime.timedelta(weeks=n),
            "%Y_%m_%d",
        ),
        Interval("month", lambda moment: _midnight(moment).replace(day=1), _add_months, "%Y_%m"),
        Interval(
            "year",
            lambda moment: _midnight(moment).replace(month=1, day=1),
            lambda start, n: start.replace(year=start.year + n),
            "%Y",
        ),
    )
}


def interval(name: str) -> Interval:
    """The `Interval` called `name` (day, week, month or year)."""
    try:
        return INTERVALS[name]
    except KeyError:
        raise ValueError(
            f'"{name}" is not a partition interval: use {", ".join(INTERVALS)}.'
        ) from None


def age_cutoff(age: str, now: datetime.datetime) -> datetime.datetime:
    """The moment `age` before `now`: months (`12m`) and years (`1y`) by the calendar (the
    same day of the month, or the month's last day when it is shorter), or hours, days and
    weeks (`12h`, `90d`, `4w`)."""
    match = _AGE_RE.match(age)
    if match and int(match.group(1)):
        months = int(match.group(1)) * (12 if match.group(2) == "y" else 1)
        moment = now.astimezone(UTC)
        first = _add_months(moment.replace(day=1), -months)
        last_day = calendar.monthrange(first.year, first.month)[1]
        return first.replace(day=min(moment.day, last_day))
    try:
        return now - tables.parse_duration(age)
    except ValueError:
        raise ValueError(
            f'"{age}" is not an age: give a whole number of months or years (12m, 1y),'
            " or of hours, days or weeks (12h, 90d, 4w)."
        ) from None


# -- names and what the database holds --------------------------------------------------------


def _identifier(table: str, suffix: str) -> str:
    """`<table>_<suffix>`, the table name shortened (with a hash of it) to fit Postgres."""
    name = f"{table}_{suffix}"
    if len(name.encode()) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(table.encode()).hexdigest()[:8]
    keep = MAX_IDENTIFIER - len(suffix) - len(digest) - 2
    return f"{table.encode()[:keep].decode(errors='ignore')}_{digest}_{suffix}"


@dataclass(frozen=True)
class Partition:
    """One period's partition: events with `start <= pgh_created_at < end`."""

    name: str
    start: datetime.datetime
    end: datetime.datetime


def _partition(table: str, every: Interval, start: datetime.datetime) -> Partition:
    return Partition(
        _identifier(table, "p" + start.strftime(every.suffix)), start, every.shift(start, 1)
    )


@dataclass(frozen=True)
class Layout:
    """How an event table is partitioned."""

    table: str
    #: The period of its partitions; None when the table was not partitioned by pghistory.
    interval: Interval | None
    #: The DEFAULT partition's name, if it has one.
    default: str | None
    #: The partitions over a range of time, oldest first.
    partitions: tuple[Partition, ...]


def read_layout(cursor, table: str) -> Layout | None:
    """The layout of `table`, or None when it is not a partitioned table."""
    partitioned = tables.read_partitioned(cursor, table)
    if partitioned is None:
        return None
    marker = _MARKER_RE.match(partitioned.default_comment or "")
    found = [
        Partition(name, start.astimezone(UTC), end.astimezone(UTC))
        for name, start, end in partitioned.ranges
    ]
    return Layout(
        table=table,
        interval=INTERVALS.get(marker.group(1)) if marker else None,
        default=partitioned.default,
        partitions=tuple(sorted(found, key=lambda partition: partition.start)),
    )


def layout_of(table: str, using: str = DEFAULT_DB_ALIAS) -> Layout | None:
    """How `table` is partitioned, or None when it is a plain table."""
    with connections[using].cursor() as cursor:
        return read_layout(cursor, table)


def _period_starts_with_rows(cursor, table: str, every: Interval) -> list[datetime.datetime]:
    """The start of each period that has events in `table`: one probe of the
    `(pgh_created_at, pgh_id)` index per period, not a scan."""
    starts, after = [], None
    while True:
        first = tables.earliest(cursor, table, KEY, after)
        if first is None:
            return starts
        starts.append(every.floor(first))
        after = every.shift(starts[-1], 1)


def _count(cursor, table: str, partition: Partition | None = None) -> int:
    where, params = "", []
    if partition is not None:
        where, params = f" WHERE {KEY} >= %s AND {KEY} < %s", [partition.start, partition.end]
    return tables.count_rows(cursor, table, where, params)


def _create_sql(parent: str, partition: Partition) -> str:
    return (
        f"CREATE TABLE {quote(partition.name)} PARTITION OF {quote(parent)}"
        f" FOR VALUES FROM ({literal(partition.start.isoformat())})"
        f" TO ({literal(partition.end.isoformat())})"
    )


def _default_sql(parent: str, table: str, every: Interval) -> list[str]:
    name = quote(_identifier(table, "default"))
    return [
        f"CREATE TABLE {name} PARTITION OF {quote(parent)} DEFAULT",
        f"COMMENT ON TABLE {name} IS {literal(_MARKER.format(every.name))}",
    ]


# -- turning a table into a partitioned one, and back -----------------------------------------


def partition_table(schema_editor, table: str, every: str = "month", *, ahead: int = 1) -> None:
    """Rebuild `table`, an event table, as a table partitioned by `pgh_created_at`.

    Its events are copied into partitions of `every` period: one for each period that has
    events, one for the current period and `ahead` more, and the DEFAULT partition. Columns,
    defaults, the `pgh_id` sequence (which continues where it was), constraints, indexes,
    triggers (append-only protection included), comments and grants are carried over; the
    primary key becomes `(pgh_id, pgh_created_at)`. The table is locked against every other
    use until the transaction commits, so writes to the tracked tables wait, and none is lost.
    """
    _rebuild(schema_editor, table, interval(every), ahead)


def unpartition_table(schema_editor, table: str) -> None:
    """Rebuild a partitioned event table as a plain one (the reverse of `partition_table`):
    every event copied, the primary key `(pgh_id)` again."""
    _rebuild(schema_editor, table, None, 0)


def _rebuild(schema_editor, table: str, every: Interval | None, ahead: int) -> None:
    connection = schema_editor.connection
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        schema_editor.execute(tables.exclusive_lock_sql(table), None)
        shape = tables.TableShape.read(cursor, table)
        if shape is None:
            raise ValueError(f'There is no table "{table}".')
        if shape.partitioned == (every is not None):
            raise ValueError(
                f'"{table}" is {"already" if shape.partitioned else "not"} partitioned.'
            )
        if shape.referenced_by:
            raise ValueError(
                f'"{table}" cannot be rebuilt while foreign keys point to it:'
                f" {', '.join(shape.referenced_by)}."
            )
        now = tables.database_now(connection.alias)
        for statement in _rebuild_sql(cursor, table, shape, every, ahead, now):
            schema_editor.execute(statement, None)  # (None: the SQL is not a template)


def _rebuild_sql(
    cursor,
    table: str,
    shape: tables.TableShape,
    every: Interval | None,
    ahead: int,
    now: datetime.datetime,
):
    """The statements that rebuild `table` partitioned by `every` (None: as a plain table)."""
    new = _identifier(table, "pgh_rebuilt")
    yield (
        f"CREATE TABLE {quote(new)} (LIKE {quote(table)} INCLUDING ALL EXCLUDING INDEXES)"
        + (f" PARTITION BY RANGE ({KEY})" if every else "")
    )
    if every is not None:
        yield from _default_sql(new, table, every)
        starts = set(_period_starts_with_rows(cursor, table, every))
        starts.update(every.starts(now, ahead + 1))
        for start in sorted(starts):
            yield _create_sql(new, _partition(table, every, start))
    yield (
        f"INSERT INTO {quote(new)} ({shape.columns}) OVERRIDING SYSTEM VALUE"
        f" SELECT {shape.columns} FROM {quote(table)}"
    )
    if shape.sequence is not None:
        sequence, identity = shape.sequence
        if identity:  # the new table's identity continues from the old one's value
            yield (
                f"SELECT setval(pg_get_serial_sequence({literal(quote(new))}, 'pgh_id'),"
                f" old.last_value, old.is_called) FROM {sequence} AS old"
            )
        else:  # a serial's sequence: the new column's default uses it, so it moves along
            yield f"ALTER SEQUENCE {sequence} OWNED BY {quote(new)}.pgh_id"
    yield f"DROP TABLE {quote(table)}"
    yield f"ALTER TABLE {quote(new)} RENAME TO {quote(table)}"
    if shape.sequence is not None and shape.sequence[1]:
        old_name = shape.sequence[0].rsplit(".", 1)[-1].strip('"').replace('""', '"')
        yield (
            "DO $$ BEGIN EXECUTE format('ALTER SEQUENCE %s RENAME TO %I',"
            f" pg_get_serial_sequence({literal(quote(table))}, 'pgh_id'),"
            f" {literal(old_name)}); END $$"
        )
    if shape.primary_key is not None:
        name, columns = shape.primary_key
        columns = [column for column in columns if column != KEY]
        if every is not None:
            columns.append(KEY)
        yield (
            f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)}"
            f" PRIMARY KEY ({', '.join(map(quote, columns))})"
        )
    for name, definition in shape.constraints:
        yield f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}"
    yield from shape.indexes
    for name, definition, comment, enabled in shape.triggers:
        yield definition
        if comment is not None:
            yield f"COMMENT ON TRIGGER {quote(name)} ON {quote(table)} IS {literal(comment)}"
        if enabled == "D":
            yield f"ALTER TABLE {quote(table)} DISABLE TRIGGER {quote(name)}"
    if shape.comment is not None:
        yield f"COMMENT ON TABLE {quote(table)} IS {literal(shape.comment)}"
    yield from shape.grants
    yield f"ANALYZE {quote(table)}"


# -- keeping the partitions: what the command does --------------------------------------------


@dataclass
class Creation:
    """A partition to create, and how many events move into it from the DEFAULT partition."""

    partition: Partition
    moved: int


@dataclass
class Dropping:
    """A partition to drop, with its events."""

    partition: Partition
    events: int


@dataclass
class Plan:
    """What `apply` does to one partitioned event table."""

    event_model: type[models.Model]
    layout: Layout
    create: list[Creation]
    drop: list[Dropping]


def check(event_model: type[models.Model], using: str = DEFAULT_DB_ALIAS) -> Layout:
    """The layout of `event_model`'s table; `Unsupported` unless pghistory partitioned it."""
    found = layout_of(event_model._meta.db_table, using)
    if found is None:
        raise tables.Unsupported(
            "its table is not partitioned (see pghistory.operations.PartitionEventTable)"
        )
    if found.interval is None:
        raise tables.Unsupported(
            "its table was not partitioned by pghistory (its DEFAULT partition's comment"
            " does not name the period)"
        )
    return found


def plan(
    event_model: type[models.Model],
    *,
    ahead: int = 3,
    drop_before: datetime.datetime | None = None,
    now: datetime.datetime | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> Plan:
    """What keeping `event_model`'s partitions takes now: the partitions to create (the
    current period's and `ahead` more, and one for each period that the DEFAULT partition has
    events of, so that they can move out of it) and those to drop (every partition that ends
    by `drop_before`). Changes nothing. `Unsupported` unless pghistory partitioned the table."""
    found = check(event_model, using)
    every = found.interval
    now = now or tables.database_now(using)
    with connections[using].cursor() as cursor:
        starts = set(every.starts(now, ahead + 1))
        if found.default:
            starts.update(_period_starts_with_rows(cursor, found.default, every))
        create = []
        for start in sorted(starts):
            partition = _partition(found.table, every, start)
            if _covered(found, partition):
                continue
            moved = _count(cursor, found.default, partition) if found.default else 0
            create.append(Creation(partition, moved))
        drop = []
        if drop_before is not None:
            drop = [
                Dropping(partition, _count(cursor, partition.name))
                for partition in found.partitions
                if partition.end <= drop_before
            ]
            drop += [
                Dropping(creation.partition, creation.moved)
                for creation in create
                if creation.partition.end <= drop_before
            ]
            drop.sort(key=lambda dropping: dropping.partition.start)
    return Plan(event_model, found, create, drop)


def apply(plan: Plan, *, using: str = DEFAULT_DB_ALIAS, allow_append_only: bool = False) -> Plan:
    """Create and drop the partitions `plan` names, each in a short transaction of its own,
    and return what was done (with the events moved, or dropped as counted by `plan`).

    Each step locks the table, waiting for it `LOCK_TIMEOUT` at most (so a long read such as
    an export never makes the tracked tables' writes queue behind it; the step fails with
    `OperationalError` instead, and running again does the rest), and checks the table again:
    a partition is created only if its period still has none, and dropped only if it is still
    there, so two runs at once, or a run again, do nothing twice. Events of a created
    partition's period in the DEFAULT partition move into it in the same transaction.
    Dropping detaches the partition and drops the table: no event is deleted one by one. The
    events of an append-only event model are dropped only with `allow_append_only`
    (`Unsupported` otherwise, before anything changes); moving them out of the DEFAULT
    partition lifts their protection for this command's own transactions only.
    """
    event_model = plan.event_model
    if plan.drop and tables.is_append_only(event_model) and not allow_append_only:
        raise tables.Unsupported("its events are append-only")
    done = Plan(event_model, plan.layout, [], [])
    for creation in plan.create:
        with (
            transaction.atomic(using=using),
            tables.append_only_lifted(event_model, using),
            connections[using].cursor() as cursor,
        ):
            current = _lock(cursor, plan.layout.table)
            if _covered(current, creation.partition):
                continue
            moved = _create_partition(cursor, current, creation.partition)
        done.create.append(Creation(creation.partition, moved))
    for dropping in plan.drop:
        name = quote(dropping.partition.name)
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            if dropping.partition not in _lock(cursor, plan.layout.table).partitions:
                continue
            cursor.execute(f"ALTER TABLE {quote(plan.layout.table)} DETACH PARTITION {name}")
            cursor.execute(f"DROP TABLE {name}")
        done.drop.append(dropping)
    return done


def _lock(cursor, table: str) -> Layout:
    """Lock `table` (and its partitions) for this transaction; its layout then."""
    tables.lock_table(cursor, table, LOCK_TIMEOUT)
    return read_layout(cursor, table)


def _covered(layout: Layout, partition: Partition) -> bool:
    """True when a partition of `layout` overlaps `partition`'s period."""
    return any(
        other.start < partition.end and partition.start < other.end for other in layout.partitions
    )


def _create_partition(cursor, current: Layout, partition: Partition) -> int:
    """Create `partition` of a locked table; its period's events in the DEFAULT partition
    (which Postgres would refuse to create it over) move into it. Returns how many moved."""
    moved = _count(cursor, current.default, partition) if current.default else 0
    if moved:
        where = f"{KEY} >= %s AND {KEY} < %s"
        bounds = [partition.start, partition.end]
        columns = tables.insertable_columns(cursor, current.table)
        default = quote(current.default)
        cursor.execute(
            f"CREATE TEMPORARY TABLE _pgh_moving ON COMMIT DROP AS SELECT {columns}"
            f" FROM {default} WHERE {where}",
            bounds,
        )
        cursor.execute(f"DELETE FROM {default} WHERE {where}", bounds)
    cursor.execute(_create_sql(current.table, partition))
    if moved:
        cursor.execute(
            f"INSERT INTO {quote(current.table)} ({columns}) OVERRIDING SYSTEM VALUE"
            f" SELECT {columns} FROM _pgh_moving"
        )
        cursor.execute("DROP TABLE _pgh_moving")
    return moved
