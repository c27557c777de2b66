"""Event tables as the database holds them: the layer that `pghistory.maintenance` (backfill,
prune, stats) and `pghistory.partitions` stand on, neither of them using the other.

It holds the database's clock; what the catalog says of a table (its size, its columns, its
partitions, all that a rebuild carries over); the statements both layers run (counts, deletes
by `pgh_id`, locks that give up after a while); an event model's append-only protection and
how a maintenance transaction lifts it; `Unsupported`, which both raise; and the ages
(`12h`, `90d`, `4w`) their cutoffs are given in.
"""

from __future__ import annotations

import contextlib
import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pgtrigger
from django.db import DEFAULT_DB_ALIAS, connections, models

from pghistory.sql import literal, quote

#: The name of the trigger that makes an event model append-only (see `pghistory.core`).
APPEND_ONLY_TRIGGER = "append_only"

_DURATION = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")
_DURATION_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
_BOUNDS_RE = re.compile(r"^FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)$")


class Unsupported(Exception):
    """An event model that a maintenance or partition operation cannot handle; the message
    says why."""


def parse_duration(text: str) -> datetime.timedelta:
    """`12h`, `90d` or `4w` as a timedelta (hours, days or weeks; more than zero)."""
    match = _DURATION.match(text)
    if match is None or int(match.group(1)) == 0:
        raise ValueError(
            f'"{text}" is not a duration: give a whole number of hours, days or weeks,'
            " such as 12h, 90d or 4w."
        )
    return datetime.timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})


def database_now(using: str = DEFAULT_DB_ALIAS) -> datetime.datetime:
    """The database server's clock, which stamps `pgh_created_at`."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT NOW()")
        return cursor.fetchone()[0]


# -- what the catalog says of a table ---------------------------------------------------------


def table_sizes(tables: list[str], using: str = DEFAULT_DB_ALIAS) -> dict[str, tuple]:
    """(the planner's row estimate, bytes with indexes) of each table, by name: one query of
    the catalog, no count. The estimate is -1 for a table not analyzed yet. A partitioned
    table has no storage of its own, and autovacuum does not keep its estimate: its
    partitions' figures add up (the estimate of those analyzed; -1 when none is)."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, CASE WHEN max(p.reltuples) < 0 THEN -1"
            " ELSE sum(greatest(p.reltuples, 0)) END::float8,"
            " sum(pg_total_relation_size(p.oid))::bigint"
            " FROM pg_class c JOIN pg_class p ON (c.relkind = 'r' AND p.oid = c.oid)"
            " OR (c.relkind = 'p' AND p.oid IN"
            " (SELECT relid FROM pg_partition_tree(c.oid) WHERE isleaf))"
            " WHERE c.relkind IN ('r', 'p') AND c.relname = ANY(%s)"
            " AND pg_table_is_visible(c.oid) GROUP BY c.relname",
            [tables],
        )
        return {name: (reltuples, size) for name, reltuples, size in cursor.fetchall()}


def insertable_columns(cursor, table: str) -> str:
    """The columns an INSERT may write (not generated ones), quoted and comma-separated."""
    cursor.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0"
        " AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
        [quote(table)],
    )
    return ", ".join(quote(name) for (name,) in cursor.fetchall())


@dataclass(frozen=True)
class PartitionedTable:
    """What the catalog says of a partitioned table's partitions."""

    #: The DEFAULT partition's name and its comment (both None without one).
    default: str | None
    default_comment: str | None
    #: (name, start, end) of each partition `FOR VALUES FROM (start) TO (end)` over moments,
    #: in no particular order (not the DEFAULT partition, nor one bounded by MINVALUE, say).
    ranges: list[tuple[str, datetime.datetime, datetime.datetime]]


def read_partitioned(cursor, table: str) -> PartitionedTable | None:
    """The partitions of `table`, or None when it is not a partitioned table."""
    cursor.execute(
        "SELECT d.relname, obj_description(d.oid, 'pg_class') FROM pg_partitioned_table p"
        " LEFT JOIN pg_class d ON d.oid = p.partdefid WHERE p.partrelid = to_regclass(%s)",
        [quote(table)],
    )
    row = cursor.fetchone()
    if row is None:
        return None
    default, comment = row
    cursor.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)",
        [quote(table)],
    )
    ranges = []
    for name, bounds in cursor.fetchall():
        match = _BOUNDS_RE.match(bounds or "")
        if match:
            start, end = (datetime.datetime.fromisoformat(value) for value in match.groups())
            ranges.append((name, start, end))
    return PartitionedTable(default, comment, ranges)


@dataclass
class TableShape:
    """What a table has beside its columns, read from the catalog before it is rebuilt, to
    build again (see `pghistory.partitions`)."""

    partitioned: bool
    columns: str
    primary_key: tuple[str, list[str]] | None
    constraints: list[tuple[str, str]]
    indexes: list[str]
    triggers: list[tuple[str, str, str | None, str]]
    comment: str | None
    grants: list[str]
    #: The sequence of `pgh_id`, and whether it is an identity (else a serial's).
    sequence: tuple[str, bool] | None
    referenced_by: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, cursor, table: str) -> TableShape | None:
        """The shape of `table`, or None when there is no such table."""
        cursor.execute(
            "SELECT oid, relkind = 'p', obj_description(oid, 'pg_class') FROM pg_class"
            " WHERE oid = to_regclass(%s)",
            [quote(table)],
        )
        row = cursor.fetchone()
        if row is None:
            return None
        oid, partitioned, comment = row
        cursor.execute(
            "SELECT conname, contype, pg_get_constraintdef(oid),"
            " ARRAY(SELECT a.attname FROM unnest(conkey) WITH ORDINALITY AS k(attnum, n)"
            " JOIN pg_attribute a ON a.attrelid = conrelid AND a.attnum = k.attnum"
            " ORDER BY k.n)"
            " FROM pg_constraint WHERE conrelid = %s AND contype IN ('p', 'u', 'f', 'x')"
            " ORDER BY conname",
            [oid],
        )
        primary_key, constraints = None, []
        for name, kind, definition, columns in cursor.fetchall():
            if kind == "p":
                primary_key = (name, list(columns))
            else:
                constraints.append((name, definition))
        cursor.execute(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = %s"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid"
            " AND c.conrelid = i.indrelid) ORDER BY i.indexrelid",
            [oid],
        )
        # An index of a partitioned table reads "ON ONLY <table>"; built again, it is not.
        indexes = [definition.replace(" ON ONLY ", " ON ", 1) for (definition,) in cursor]
        cursor.execute(
            "SELECT tgname, pg_get_triggerdef(oid), obj_description(oid, 'pg_trigger'),"
            " tgenabled FROM pg_trigger WHERE tgrelid = %s AND NOT tgisinternal ORDER BY tgname",
            [oid],
        )
        triggers = list(cursor.fetchall())
        cursor.execute(
            "SELECT privilege_type, is_grantable, CASE WHEN grantee = 0 THEN 'PUBLIC'"
            " ELSE quote_ident(pg_get_userbyid(grantee)) END"
            " FROM pg_class, aclexplode(relacl) WHERE oid = %s AND grantee <> relowner",
            [oid],
        )
        grants = [
            f"GRANT {privilege} ON {quote(table)} TO {grantee}"
            + (" WITH GRANT OPTION" if grantable else "")
            for privilege, grantable, grantee in cursor.fetchall()
        ]
        cursor.execute(
            "SELECT pg_get_serial_sequence(%s, 'pgh_id'), (SELECT attidentity <> ''"
            " FROM pg_attribute WHERE attrelid = %s AND attname = 'pgh_id')",
            [quote(table), oid],
        )
        sequence, identity = cursor.fetchone()
        cursor.execute(
            "SELECT conrelid::regclass::text || '.' || conname FROM pg_constraint"
            " WHERE confrelid = %s AND contype = 'f' AND conparentid = 0",
            [oid],
        )
        referenced_by = [name for (name,) in cursor.fetchall()]
        return cls(
            partitioned=partitioned,
            columns=insertable_columns(cursor, table),
            primary_key=primary_key,
            constraints=constraints,
            indexes=indexes,
            triggers=triggers,
            comment=comment,
            grants=grants,
            sequence=(sequence, identity) if sequence else None,
            referenced_by=referenced_by,
        )


# -- statements -------------------------------------------------------------------------------


def count_rows(cursor, table: str, where: str = "", params: Sequence | None = None) -> int:
    """How many rows `table` holds: all of them, or those of `where` (" WHERE ...", with
    placeholders for `params`)."""
    cursor.execute(f"SELECT count(*) FROM {quote(table)}{where}", params)
    return cursor.fetchone()[0]


def earliest(cursor, table: str, column: str, at_or_after: datetime.datetime | None = None):
    """The smallest `column` of `table`'s rows (of those at or after `at_or_after`, if given):
    one probe of an index on it, not a scan. None when there is none."""
    where = "" if at_or_after is None else f" WHERE {column} >= %s"
    cursor.execute(
        f"SELECT min({column}) FROM {quote(table)}{where}",
        [] if at_or_after is None else [at_or_after],
    )
    return cursor.fetchone()[0]


def max_pgh_id(cursor, table: str) -> int | None:
    """The largest `pgh_id` of an event table, None when it is empty."""
    cursor.execute(f"SELECT max(pgh_id) FROM {quote(table)}")
    return cursor.fetchone()[0]


def delete_events(cursor, table: str, pgh_ids: list[int]) -> int:
    """Delete the events of `table` with these `pgh_id`s (one batch); how many went."""
    cursor.execute(f"DELETE FROM {quote(table)} WHERE pgh_id = ANY(%s)", [pgh_ids])
    return cursor.rowcount


# -- locks ------------------------------------------------------------------------------------


def exclusive_lock_sql(table: str) -> str:
    """The statement that locks `table` (and its partitions) against every other use until
    the transaction ends."""
    return f"LOCK TABLE {quote(table)} IN ACCESS EXCLUSIVE MODE"


def lock_table(cursor, table: str, timeout: str) -> None:
    """Lock `table` as `exclusive_lock_sql` does, waiting `timeout` (a Postgres interval such
    as "10s") at most: then the statement fails with `OperationalError` rather than keep the
    writes queued behind the waiting lock."""
    cursor.execute(f"SET LOCAL lock_timeout = {literal(timeout)}")
    cursor.execute(exclusive_lock_sql(table))


def advisory_lock(cursor, name: str) -> None:
    """Wait for the advisory lock called `name`, then hold it until the transaction ends: how
    two runs of one step take turns."""
    cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [name])


# -- append-only protection -------------------------------------------------------------------


def is_append_only(event_model: type[models.Model]) -> bool:
    """True when a trigger refuses updates and deletes of `event_model`'s events."""
    return bool(getattr(event_model, "_pgh_append_only", False))


def append_only_lifted(event_model: type[models.Model], using: str = DEFAULT_DB_ALIAS):
    """A context manager: for an append-only event model, its protecting trigger is skipped
    in this thread (`pgtrigger.ignore`), so a transaction inside may delete its events while
    other connections stay refused. For any other event model, nothing."""
    if not is_append_only(event_model):
        return contextlib.nullcontext()
    return pgtrigger.ignore(f"{event_model._meta.label}:{APPEND_ONLY_TRIGGER}", databases=[using])
