"""Property tests: the history of a tracked table is complete and exact.

Hypothesis writes random programs against `RowModel` (row-level triggers) and
`StatementModel` (statement-level triggers): ORM creates, saves, deletes, `bulk_create`,
`bulk_update`, `QuerySet.update` and `QuerySet.delete`, hand-written `INSERT`, `UPDATE` and
`DELETE` statements, statements that fail half-way, and nested `transaction.atomic()` blocks
that commit or roll back, any of them inside a `pghistory.context`.

While a program runs, `Program` keeps its own model of the table and of the events each
committed write must leave, following the documented semantics:

- an insert or a delete stores one event per row;
- an update stores one event per row whose values changed (Postgres equality: `1.5` and
  `1.50`, `0.0` and `-0.0`, or the JSON numbers `1` and `1.0` are no change), at row and at
  statement level alike; a row a statement leaves as it was stores nothing;
- work rolled back (a savepoint, a transaction, a failed statement) stores nothing;
- an event carries the context active when its statement was sent or, inside a
  transaction, the last context a statement of that transaction was sent with (the context
  is a transaction-local setting, so a rolled-back savepoint restores the previous one).

After each program, three things must hold exactly: the table is what the model says;
replaying the events (inserts and updates as snapshots, in `pgh_id` order, removing rows on
deletes) rebuilds the table's `values()`; and each object's events, in order, are the ones the
model predicted, with their values and context ids. Context rows exist for exactly the
contexts of committed events.

The examples are derandomized, so every run replays the same programs and
`test_replaying_the_history_rebuilds_the_table` prints the same totals; set
`PGHISTORY_HYPOTHESIS_RANDOM=1` to explore new programs instead.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import Counter, defaultdict
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pghistory
from pghistory.models import Context
from tests.test_tracking import EMPTY_VALUES
from tests.testapp.models import RowModel, StatementModel

#: Programs per tracked model.
EXAMPLES = 100

#: The tracked fields of both models, the primary key included.
VALUE_FIELDS = [
    "int_field",
    "big_int_field",
    "decimal_field",
    "float_field",
    "bool_field",
    "char_field",
    "text_field",
    "date_field",
    "datetime_field",
    "time_field",
    "duration_field",
    "uuid_field",
    "json_field",
    "binary_field",
    "file_field",
]
FIELDS = ["id", *VALUE_FIELDS]


# Values


def _text(max_size):
    # Postgres text holds neither NUL nor lone surrogates.
    return st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        max_size=max_size,
    )


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text(6),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(_text(4), children, max_size=3)
    ),
    max_leaves=6,
)

VALUES = {
    "int_field": st.none() | st.integers(-(2**31), 2**31 - 1),
    "big_int_field": st.none() | st.integers(-(2**63), 2**63 - 1),
    "decimal_field": st.none()
    | st.decimals(
        min_value=Decimal("-9999999999.99"),
        max_value=Decimal("9999999999.99"),
        places=2,
        allow_nan=False,
        allow_infinity=False,
    ),
    "float_field": st.none() | st.floats(allow_nan=False, allow_infinity=False),
    "bool_field": st.booleans(),
    "char_field": st.sampled_from(["", "s", "l"]),
    "text_field": _text(12),
    "date_field": st.none() | st.dates(),
    "datetime_field": st.none()
    | st.datetimes(
        min_value=dt.datetime(1000, 1, 1),
        max_value=dt.datetime(9000, 1, 1),
        timezones=st.just(dt.UTC),
    ),
    "time_field": st.none() | st.times(),
    "duration_field": st.none()
    | st.timedeltas(min_value=dt.timedelta(days=-3650), max_value=dt.timedelta(days=3650)),
    "uuid_field": st.none() | st.uuids(),
    "json_field": _json,
    "binary_field": st.none() | st.binary(max_size=8),
    "file_field": st.sampled_from(["", "a.txt", "uploads/b.pdf"]),
}

_field_sets = st.sets(st.sampled_from(VALUE_FIELDS), min_size=1, max_size=4).map(sorted)


def _values_of(names):
    return st.fixed_dictionaries({name: VALUES[name] for name in names})


#: Values of some fields, for a create or an update.
partial_values = _field_sets.flatmap(_values_of)
#: Values of every field, for a hand-written INSERT.
full_values = _values_of(VALUE_FIELDS)
#: Which existing rows a statement targets: positions among the current rows, a filter on
#: `bool_field`, or the whole table.
targets = st.one_of(
    st.tuples(st.just("rows"), st.lists(st.integers(0, 30), min_size=1, max_size=3)),
    st.tuples(st.just("bool"), st.booleans()),
    st.just(("all",)),
)
_bulk_update = _field_sets.flatmap(
    lambda names: st.tuples(
        st.just(tuple(names)),
        st.lists(st.tuples(st.integers(0, 30), _values_of(names)), min_size=1, max_size=3),
    )
)


def _op(kind, *args):
    """An operation: (kind, inside its own `pghistory.context`?, *arguments)."""
    return st.tuples(st.just(kind), st.booleans(), *args)


#: The arguments of each kind of operation (a method of `Program`).
LEAF_ARGUMENTS = {
    "create": [partial_values],
    "save": [st.integers(0, 30), partial_values],
    "save_unchanged": [st.integers(0, 30)],
    "delete": [st.integers(0, 30)],
    "bulk_create": [st.lists(partial_values, min_size=1, max_size=3)],
    "bulk_update": [_bulk_update],
    "queryset_update": [targets, partial_values],
    "queryset_touch": [targets],
    "queryset_delete": [targets],
    "raw_insert": [st.lists(full_values, min_size=1, max_size=3)],
    "raw_update": [targets, partial_values],
    "raw_delete": [targets],
    "failing_statement": [st.sampled_from(["insert", "update"])],
}
leaf_operations = st.one_of([_op(kind, *args) for kind, args in LEAF_ARGUMENTS.items()])


def operations(depth):
    """An operation, or an atomic block (committed or rolled back) nesting up to `depth`."""
    if depth == 0:
        return leaf_operations
    block = _op(
        "atomic",
        st.integers(0, 9).map(lambda n: "commit" if n < 3 else "raise"),
        st.lists(operations(depth - 1), min_size=2, max_size=4),
    )
    return st.integers(0, 3).flatmap(lambda n: leaf_operations if n else block)


#: A program: a `bulk_create` that seeds the table, then 4 to 8 operations or blocks.
programs = st.tuples(
    _op("bulk_create", st.lists(partial_values, min_size=2, max_size=5)),
    st.lists(operations(3), min_size=4, max_size=8),
).map(lambda program: [program[0], *program[1]])


# Comparing values as Postgres does


def _canon_json(value):
    """A JSON value as jsonb compares it: numbers by value, booleans apart from numbers."""
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", Decimal(repr(value)) if isinstance(value, float) else Decimal(value))
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, list):
        return ("array", tuple(_canon_json(item) for item in value))
    return ("object", frozenset((key, _canon_json(item)) for key, item in value.items()))


def canon(row):
    """A row's values (every tracked field present in `row`) in a form whose equality is
    Postgres's: SQL NULL is None, memoryviews are bytes, JSON compares as jsonb."""
    result = {}
    for name, value in row.items():
        if name not in FIELDS:
            continue
        if isinstance(value, memoryview):
            value = bytes(value)
        elif name == "json_field" and value is not None:
            value = _canon_json(value)
        result[name] = value
    return result


def _changed(old, new):
    return canon(old) != canon(new)


# Running a program against the database and the model at once


class Rollback(Exception):
    """Raised inside an atomic block to roll it back."""


class Program:
    def __init__(self, tracked_model):
        self.model = tracked_model
        self.table = connection.ops.quote_name(tracked_model._meta.db_table)
        self.rows = {}  # pk -> values of every field (the model of the table)
        self.events = []  # (label, pk, canonical values, context id) the history must hold
        self.depth = 0  # atomic blocks entered
        self.python_context = None  # id of the active pghistory.context
        self.transaction_context = None  # id the current transaction's statements set last
        self.stats = Counter()

    # The model

    def statement_context(self):
        """The context of the events of the write statement about to be sent."""
        if self.python_context is not None:
            if self.depth:
                self.transaction_context = self.python_context
            return self.python_context
        if self.depth and self.transaction_context is not None:
            self.stats["statements_after_a_context"] += 1
            return self.transaction_context
        return None

    def inserted(self, pk, values, context):
        row = {**EMPTY_VALUES, **values, "id": pk}  # (what a field not given holds)
        self.rows[pk] = row
        self.events.append(("insert", pk, canon(row), context))

    def updated(self, pk, values, context):
        old = self.rows[pk]
        new = {**old, **values}
        self.rows[pk] = new
        if _changed(old, new):
            self.events.append(("update", pk, canon(new), context))

    def deleted(self, pk, context):
        row = self.rows.pop(pk)
        self.events.append(("delete", pk, canon(row), context))

    def pick(self, position):
        """The current row at `position` (modulo their number), or None if there are none."""
        pks = sorted(self.rows)
        return pks[position % len(pks)] if pks else None

    def matching(self, target):
        """The primary keys a target matches now."""
        if target[0] == "rows":
            return sorted({self.pick(position) for position in target[1]} - {None})
        if target[0] == "bool":
            return sorted(pk for pk, row in self.rows.items() if row["bool_field"] is target[1])
        return sorted(self.rows)

    # The database

    def queryset(self, target):
        objects = self.model.objects
        if target[0] == "rows":
            return objects.filter(pk__in=self.matching(target))
        if target[0] == "bool":
            return objects.filter(bool_field=target[1])
        return objects.all()

    def where(self, target):
        """A WHERE clause for a target, and its parameters."""
        if target[0] == "rows":
            return " WHERE id = ANY(%s)", [self.matching(target)]
        if target[0] == "bool":
            return (" WHERE bool_field" if target[1] else " WHERE NOT bool_field"), []
        return "", []

    @staticmethod
    def sql_value(name, value):
        if name == "json_field":
            return "%s::jsonb", None if value is None else json.dumps(value)
        return "%s", value

    # Operations

    def run(self, operation):
        kind, in_context, *args = operation
        if not in_context:
            return getattr(self, kind)(*args)
        self.stats["in_context"] += 1
        with pghistory.context(step=self.stats["operations"]) as active:
            outer = self.python_context
            # Nested contexts share the outer one's id.
            assert outer is None or active.id == outer
            self.python_context = active.id
            try:
                return getattr(self, kind)(*args)
            finally:
                self.python_context = outer

    def count(self, kind):
        self.stats["operations"] += 1
        self.stats[kind] += 1

    def create(self, values):
        self.count("create")
        context = self.statement_context()
        obj = self.model.objects.create(**values)
        self.inserted(obj.pk, values, context)

    def save(self, position, values):
        pk = self.pick(position)
        if pk is None:
            return
        self.count("save")
        obj = self.model.objects.get(pk=pk)
        for name, value in values.items():
            setattr(obj, name, value)
        context = self.statement_context()
        obj.save()
        self.updated(pk, values, context)

    def save_unchanged(self, position):
        pk = self.pick(position)
        if pk is None:
            return
        self.count("save_unchanged")
        obj = self.model.objects.get(pk=pk)
        context = self.statement_context()
        obj.save()
        self.updated(pk, {}, context)

    def delete(self, position):
        pk = self.pick(position)
        if pk is None:
            return
        self.count("delete")
        obj = self.model.objects.get(pk=pk)
        context = self.statement_context()
        obj.delete()
        self.deleted(pk, context)

    def bulk_create(self, rows):
        self.count("bulk_create")
        context = self.statement_context()
        created = self.model.objects.bulk_create([self.model(**values) for values in rows])
        for obj, values in zip(created, rows, strict=True):
            self.inserted(obj.pk, values, context)

    def bulk_update(self, change):
        names, items = change
        changes = {}
        for position, values in items:
            pk = self.pick(position)
            if pk is not None:
                changes[pk] = values
        if not changes:
            return
        self.count("bulk_update")
        objs = self.model.objects.in_bulk(list(changes))
        for pk, values in changes.items():
            for name, value in values.items():
                setattr(objs[pk], name, value)
        context = self.statement_context()
        assert self.model.objects.bulk_update(objs.values(), fields=list(names)) == len(changes)
        for pk, values in changes.items():
            self.updated(pk, values, context)

    def queryset_update(self, target, values):
        matched = self.matching(target)
        if target[0] == "rows" and not matched:
            return
        self.count("queryset_update")
        context = self.statement_context()
        assert self.queryset(target).update(**values) == len(matched)
        for pk in matched:
            self.updated(pk, values, context)

    def queryset_touch(self, target):
        """An UPDATE that sets a column to itself: no row changes."""
        matched = self.matching(target)
        if target[0] == "rows" and not matched:
            return
        self.count("queryset_touch")
        context = self.statement_context()
        assert self.queryset(target).update(text_field=F("text_field")) == len(matched)
        for pk in matched:
            self.updated(pk, {}, context)

    def queryset_delete(self, target):
        matched = self.matching(target)
        if target[0] == "rows" and not matched:
            return
        self.count("queryset_delete")
        context = self.statement_context()
        deleted, _ = self.queryset(target).delete()
        assert deleted == len(matched)
        for pk in matched:
            self.deleted(pk, context)

    def raw_insert(self, rows):
        self.count("raw_insert")
        placeholders, params = [], []
        for values in rows:
            row_placeholders = []
            for name in VALUE_FIELDS:
                placeholder, param = self.sql_value(name, values[name])
                row_placeholders.append(placeholder)
                params.append(param)
            placeholders.append(f"({', '.join(row_placeholders)})")
        context = self.statement_context()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {self.table} ({', '.join(VALUE_FIELDS)})"
                f" VALUES {', '.join(placeholders)} RETURNING id",
                params,
            )
            pks = [pk for (pk,) in cursor.fetchall()]
        for pk, values in zip(pks, rows, strict=True):
            self.inserted(pk, values, context)

    def raw_update(self, target, values):
        matched = self.matching(target)
        if target[0] == "rows" and not matched:
            return
        self.count("raw_update")
        assignments, params = [], []
        for name, value in values.items():
            placeholder, param = self.sql_value(name, value)
            assignments.append(f"{name} = {placeholder}")
            params.append(param)
        where, where_params = self.where(target)
        context = self.statement_context()
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {self.table} SET {', '.join(assignments)}{where}",
                params + where_params,
            )
            assert cursor.rowcount == len(matched)
        for pk in matched:
            self.updated(pk, values, context)

    def raw_delete(self, target):
        matched = self.matching(target)
        if target[0] == "rows" and not matched:
            return
        self.count("raw_delete")
        where, params = self.where(target)
        context = self.statement_context()
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {self.table}{where}", params)
            assert cursor.rowcount == len(matched)
        for pk in matched:
            self.deleted(pk, context)

    def failing_statement(self, mode):
        """A statement that writes some rows, then fails on a later one (division by zero).

        Inside an atomic block the error rolls that block back; in autocommit mode it rolls
        back the statement's own transaction."""
        self.count("failing_statement")
        middle = self.pick(len(self.rows) // 2)
        if mode == "update" and middle is not None:
            sql = f"UPDATE {self.table} SET text_field = 'failed', int_field = 1 / (id - %s)"
            params = [middle]
        else:
            sql = (
                f"INSERT INTO {self.table} (int_field, bool_field, char_field, text_field,"
                " file_field) SELECT 1 / (n - 3), FALSE, '', 'failed', ''"
                " FROM generate_series(1, 3) AS n"
            )
            params = None
        self.statement_context()
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
        except DatabaseError:
            if self.depth:
                raise
        else:
            raise AssertionError("the failing statement did not fail")

    def atomic(self, outcome, children):
        self.stats["blocks"] += 1
        saved = dict(self.rows), len(self.events), self.transaction_context
        self.depth += 1
        try:
            with transaction.atomic():
                for child in children:
                    self.run(child)
                if outcome == "raise":
                    raise Rollback
        except (Rollback, DatabaseError):
            self.stats["rolled_back_blocks"] += 1
            self.rows, kept, self.transaction_context = saved
            del self.events[kept:]
        finally:
            self.depth -= 1
        if not self.depth:
            self.transaction_context = None

    # Checks

    def check(self):
        table = {row["id"]: canon(row) for row in self.model.objects.values(*FIELDS)}
        assert table == {pk: canon(row) for pk, row in self.rows.items()}, "the model drifted"

        events = list(
            self.model.pgh_event_model.objects.order_by("pgh_id").values(
                "pgh_label", "pgh_obj_id", "pgh_context_id", *FIELDS
            )
        )
        assert replay(events) == table

        history = defaultdict(list)
        for event in events:
            assert event["pgh_obj_id"] == event["id"]
            history[event["id"]].append(
                (event["pgh_label"], canon(event), event["pgh_context_id"])
            )
        expected = defaultdict(list)
        for label, pk, values, context in self.events:
            expected[pk].append((label, values, context))
        assert dict(history) == dict(expected)

        contexts = {context for *_, context in self.events if context is not None}
        assert set(Context.objects.values_list("id", flat=True)) == contexts

        self.stats["events"] += len(events)


def replay(events):
    """The table the events describe: each insert or update event is the row's new snapshot;
    a delete event removes the row, and holds the values the row had."""
    rows = {}
    for event in events:
        pk, label, values = event["pgh_obj_id"], event["pgh_label"], canon(event)
        if label == "insert":
            assert pk not in rows, f"insert event for existing row {pk}"
            rows[pk] = values
        elif label == "update":
            assert pk in rows, f"update event for missing row {pk}"
            rows[pk] = values
        else:
            assert label == "delete", label
            assert rows.pop(pk, None) == values, f"delete event of {pk} differs from history"
    return rows


def reset(tracked_model):
    """Empty the tracked table, its events and the contexts (TRUNCATE fires no triggers)."""
    tables = [
        tracked_model._meta.db_table,
        tracked_model.pgh_event_model._meta.db_table,
        Context._meta.db_table,
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"TRUNCATE {', '.join(map(connection.ops.quote_name, tables))}"
            " RESTART IDENTITY CASCADE"
        )


@pytest.mark.parametrize(
    "tracked_model", [RowModel, StatementModel], ids=["row-level", "statement-level"]
)
@pytest.mark.django_db(transaction=True)
def test_replaying_the_history_rebuilds_the_table(tracked_model):
    totals = Counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=not os.environ.get("PGHISTORY_HYPOTHESIS_RANDOM"),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(programs)
    def check_program(operations):
        reset(tracked_model)
        program = Program(tracked_model)
        for operation in operations:
            program.run(operation)
        assert program.depth == 0
        program.check()
        totals.update(program.stats)
        totals["examples"] += 1

    check_program()

    print(
        f"\n{tracked_model.__name__}: {totals['examples']} programs,"
        f" {totals['operations']} operations ({totals['blocks']} atomic blocks,"
        f" {totals['rolled_back_blocks']} rolled back), {totals['events']} events replayed,"
        f" {totals['in_context']} operations or blocks in their own context,"
        f" {totals['statements_after_a_context']} statements after a context in a transaction;"
        f" by kind: {', '.join(f'{kind} {totals[kind]}' for kind in LEAF_ARGUMENTS)}"
    )
    # Hypothesis may stop early when it runs out of new programs; it must not run out here.
    assert totals["examples"] >= EXAMPLES
    assert totals["operations"] >= 8 * EXAMPLES
    # Every kind of operation ran; blocks were rolled back; statements without a context of
    # their own ran in transactions that an earlier statement had sent a context with.
    for kind in LEAF_ARGUMENTS:
        assert totals[kind] > 0, kind
    assert totals["rolled_back_blocks"] > 0
    assert totals["statements_after_a_context"] > 0
