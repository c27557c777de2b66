"""Recorded values that outlive the tracked model's schema.

When a field leaves a tracked model (removed, or changed to a type its old values may not fit),
the event tables keep the column that holds its recorded values: `retire_column()` renames it
to `pgh_retired_<column>`, lets it take NULL, drops its default, its foreign key constraint and
its single-column indexes, and records in the column's comment (JSON) what it held: the field's
name, verbose name and column (the key `pgh_data` gives it), why it was retired, and from
which *generation* on events no longer record it. Every statement is a change of the catalog:
no row is read, written or rewritten, so retiring takes as long as the lock it waits for.

The generation is a column `pgh_generation` that the first retirement adds to the event table
(`NOT NULL DEFAULT 0`: the rows already there read 0 without being rewritten) and whose default
each retirement raises by one. Triggers and the ORM never write it, so every new event takes
the default: an event recorded a retired column if its generation is below the one the column
was retired at. A column added in place of a retired one (a type change) is marked with the
generation it is recorded from.

`history(table)` reads what an event table holds (one catalog query for every event table, kept
until the next migration in this process); `pghistory.aggregation` builds `pgh_data` and
`pgh_diff` from it, and `recorded_values()` is `Event.pgh_retired`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models

from pghistory.sql import literal, quote

#: The column that says which generation of the event table's columns an event was written in.
GENERATION = "pgh_generation"
#: Retired columns are renamed with this prefix.
PREFIX = "pgh_retired_"
#: Postgres' longest identifier, in bytes.
_MAX_NAME = 63
#: The key of the JSON comments this module writes on columns.
_MARK = "pghistory"

REMOVED = "removed"
TYPE_CHANGED = "type changed"


@dataclasses.dataclass(frozen=True)
class StoredColumn:
    """A column of an event table that holds a field's values for part of the events."""

    #: The key of the values in `pgh_data`: the column name the field had.
    key: str
    #: The column that holds them now.
    column: str
    #: Events of this generation on recorded it.
    since: int = 0
    #: Events of this generation on no longer record it; None while they still do.
    until: int | None = None
    name: str = ""
    verbose_name: str = ""
    #: Why it was retired: REMOVED or TYPE_CHANGED ("" for a column still written).
    reason: str = ""
    #: The label of the model a retired foreign key pointed to.
    related_model: str | None = None
    #: The (value, label) choices a retired field had.
    choices: tuple | None = None
    #: When it was retired (the database's clock, ISO 8601).
    retired_at: str = ""

    @property
    def retired(self) -> bool:
        return self.until is not None

    def recorded(self, generation: str) -> str | None:
        """SQL true for the events that recorded this column, given the SQL of their
        generation; None when every event did."""
        conditions = []
        if self.since:
            conditions.append(f"{generation} >= {self.since}")
        if self.until is not None:
            conditions.append(f"{generation} < {self.until}")
        return " AND ".join(conditions) or None

    def records(self, generation: int) -> bool:
        """Whether an event of `generation` recorded this column."""
        return self.since <= generation and (self.until is None or generation < self.until)

    def comment(self) -> str:
        described = {
            _MARK: "retired" if self.retired else "stored",
            **{
                name: value
                for name, value in dataclasses.asdict(self).items()
                if name != "column" and value not in (None, "", 0)
            },
        }
        return json.dumps(described, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_comment(cls, column: str, comment: str) -> StoredColumn | None:
        try:
            described = json.loads(comment)
        except ValueError:
            return None
        if not isinstance(described, dict) or _MARK not in described:
            return None
        names = {field.name for field in dataclasses.fields(cls)}
        values = {name: value for name, value in described.items() if name in names}
        if "choices" in values:
            values["choices"] = tuple(tuple(choice) for choice in values["choices"])
        values.setdefault("key", column)
        return cls(column=column, **values)


@dataclasses.dataclass(frozen=True)
class TableHistory:
    """What an event table holds beyond its model's fields."""

    #: Whether the table has the generation column (it had a column retired).
    generational: bool = False
    #: Its retired columns, and the columns recorded only from some generation on.
    columns: tuple[StoredColumn, ...] = ()

    @property
    def retired(self) -> tuple[StoredColumn, ...]:
        return tuple(column for column in self.columns if column.retired)

    def live(self, column: str) -> StoredColumn | None:
        """The marks of a column the model still writes (None: every event recorded it)."""
        for stored in self.columns:
            if stored.column == column and not stored.retired:
                return stored
        return None

    def generation_sql(self, alias: str) -> str:
        return f"{alias}.{quote(GENERATION)}" if self.generational else "0"


_PLAIN = TableHistory()

#: {database alias: {table: TableHistory}}, read once per migration.
_known: dict[str, dict[str, TableHistory]] = {}
#: {database alias: {table: RetiredModel}}, read once per migration.
_retired_tables: dict[str, dict[str, RetiredModel]] = {}
#: How many times the catalog was forgotten: what a cache of what it says is keyed by.
_readings = 0


def forget() -> None:
    """Read the catalog again next time (after a migration changed it)."""
    global _readings
    _known.clear()
    _retired_tables.clear()
    _readings += 1


def reading() -> int:
    """A number that changes whenever what `history()` says may have changed."""
    return _readings


def forget_after_migrate(plan=None, **kwargs) -> None:
    """`post_migrate` receiver: a migration may have retired columns (a `flush`, which sends
    the signal without a plan, changes no table's columns)."""
    if plan:
        forget()


def history(table: str, using: str = DEFAULT_DB_ALIAS) -> TableHistory:
    """What the event table `table` holds beyond its model's fields."""
    if using not in _known:
        _load(using)
    tables = _known[using]
    if table not in tables:  # (not an event model's table: read on its own)
        with connections[using].cursor() as cursor:
            tables.update(_read(cursor, [table])[0])
    return tables[table]


def _load(using: str) -> None:
    """Read, in one query, what every event table and every retired table holds."""
    from pghistory.aggregation import event_models

    names = sorted({model._meta.db_table for model in event_models()})
    with connections[using].cursor() as cursor:
        _known[using], _retired_tables[using] = _read(cursor, names, retired_tables=True)


def retired_fields(
    tracked_model: type[models.Model], using: str = DEFAULT_DB_ALIAS
) -> dict[str, StoredColumn]:
    """The retired columns of `tracked_model`'s event tables, by the column the field had
    (the key of its values in `pgh_data`)."""
    from pghistory.removed import all_event_models

    found = {}
    for event_model in all_event_models(using):
        tracked = event_model.pgh_tracked_model
        if tracked is not None and tracked._meta.concrete_model is tracked_model:
            for column in history(event_model._meta.db_table, using).retired:
                found.setdefault(column.key, column)
    return found


def _read(
    cursor, tables: list[str], retired_tables: bool = False
) -> tuple[dict[str, TableHistory], dict[str, RetiredModel]]:
    """What `tables` hold beyond their models' fields and, with `retired_tables`, which
    tables are retired event tables (and what those hold): one query of the catalog."""
    cursor.execute(
        "WITH retired AS (SELECT c.oid, c.relname, obj_description(c.oid, 'pg_class') AS comment"
        " FROM pg_class c WHERE %s AND c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid)"
        " AND obj_description(c.oid, 'pg_class') LIKE %s),"
        " chosen AS (SELECT c.oid, c.relname FROM pg_class c WHERE c.relname = ANY(%s)"
        " AND c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid)"
        " UNION SELECT oid, relname FROM retired)"
        " SELECT t.relname, a.attname, col_description(t.oid, a.attnum), r.comment"
        " FROM chosen t LEFT JOIN retired r ON r.oid = t.oid"
        " LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped"
        " AND (a.attname = %s OR col_description(t.oid, a.attnum) LIKE %s)"
        " ORDER BY t.relname, a.attnum",
        [
            retired_tables,
            _MODEL_MARK.replace("%", "\\%").replace("_", "\\_") + "%",
            tables,
            GENERATION,
            "{%" + _MARK + "%",
        ],
    )
    found: dict[str, dict] = {table: {"generational": False, "columns": []} for table in tables}
    models_found: dict[str, RetiredModel] = {}
    for table, column, comment, table_comment in cursor.fetchall():
        shape = found.setdefault(table, {"generational": False, "columns": []})
        if table_comment is not None and table not in models_found:
            described = _retired_model(table, table_comment)
            if described is not None:
                models_found[table] = described
        if column == GENERATION:
            shape["generational"] = True
        stored = StoredColumn.from_comment(column, comment) if comment else None
        if stored is not None:
            shape["columns"].append(stored)
    histories = {
        table: TableHistory(shape["generational"], tuple(shape["columns"]))
        if shape["generational"] or shape["columns"]
        else _PLAIN
        for table, shape in found.items()
    }
    return histories, models_found


# -- retiring -----------------------------------------------------------------------------------


def describe(field: models.Field, reason: str) -> StoredColumn:
    """The marks of `field`'s column (of an event model) once retired for `reason`."""
    related = field.related_model if field.is_relation else None
    choices = None
    if field.choices:
        choices = tuple((value, str(label)) for value, label in field.flatchoices)
    return StoredColumn(
        key=field.column,
        column=field.column,
        name=field.name,
        verbose_name=str(field.verbose_name),
        reason=reason,
        related_model=related._meta.label_lower if isinstance(related, type) else None,
        choices=choices,
    )


_INTEGERS = ("smallint", "integer", "bigint")
_VARCHAR = re.compile(r"varchar\((\d+)\)")
_NUMERIC = re.compile(r"numeric\((\d+), ?(\d+)\)")


def keeps_values(old: models.Field, new: models.Field, connection) -> bool:
    """Whether `new`'s column holds every value of `old`'s exactly: the same type, or one
    that widens it (a longer integer, varchar or text, more digits on both sides of the
    point)."""
    before = (old.db_parameters(connection)["type"] or "").lower()
    after = (new.db_parameters(connection)["type"] or "").lower()
    if before == after:
        return True
    if before in _INTEGERS and after in _INTEGERS:
        return _INTEGERS.index(before) <= _INTEGERS.index(after)
    varchar = _VARCHAR.fullmatch(before)
    if varchar and (after == "text" or _VARCHAR.fullmatch(after)):
        return after == "text" or int(varchar[1]) <= int(_VARCHAR.fullmatch(after)[1])
    numeric, wider = _NUMERIC.fullmatch(before), _NUMERIC.fullmatch(after)
    if numeric and wider:
        digits, scale = int(numeric[1]), int(numeric[2])
        new_digits, new_scale = int(wider[1]), int(wider[2])
        return new_scale >= scale and new_digits - new_scale >= digits - scale
    return False


def retire_column(schema_editor, table: str, described: StoredColumn) -> StoredColumn:
    """Retire the column `described.column` of the event table `table`: it keeps every value
    it holds, new events no longer write it (see the module's docstring). Returns it as now
    stored."""
    with schema_editor.connection.cursor() as cursor:
        current = _read(cursor, [table])[0][table]
        generation = _next_generation(schema_editor, cursor, table)
        number = _attnum(cursor, table, described.column)
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'"
            " AND conkey = ARRAY[%s]::smallint[]",
            [quote(table), number],
        )
        constraints = [name for (name,) in cursor.fetchall()]
        cursor.execute(
            "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
            " WHERE x.indrelid = %s::regclass AND x.indnatts = 1 AND x.indkey[0] = %s"
            " AND NOT x.indisprimary AND x.indexprs IS NULL AND x.indpred IS NULL",
            [quote(table), number],
        )
        indexes = [name for (name,) in cursor.fetchall()]
        name = _free_name(cursor, table, PREFIX + described.column)
        cursor.execute("SELECT NOW()")
        (now,) = cursor.fetchone()
    live = current.live(described.column)
    retired = dataclasses.replace(
        described,
        column=name,
        since=live.since if live else 0,
        until=generation,
        retired_at=now.isoformat(),
    )
    for constraint in constraints:
        schema_editor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(constraint)}")
    for index in indexes:
        schema_editor.execute(f"DROP INDEX {quote(index)}")
    schema_editor.execute(
        f"ALTER TABLE {quote(table)} RENAME COLUMN {quote(described.column)} TO {quote(name)}"
    )
    schema_editor.execute(
        f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(name)} DROP NOT NULL,"
        f" ALTER COLUMN {quote(name)} DROP DEFAULT"
    )
    _comment(schema_editor, table, name, retired.comment())
    forget()
    return retired


def record_from_now(schema_editor, table: str, column: str, field: models.Field) -> None:
    """Mark `column`, added in place of a retired one, as recorded by the events of the
    table's current generation on."""
    with schema_editor.connection.cursor() as cursor:
        generation = _current_generation(cursor, table) or 0
    stored = StoredColumn(key=column, column=column, since=generation, name=field.name)
    _comment(schema_editor, table, column, stored.comment())
    forget()


def unretire_column(schema_editor, table: str, key: str) -> None:
    """Undo the last `retire_column()` of the column that had the name `key`: it takes its
    name back, and new events write it again (the events written while it was retired have
    no value in it). The generation stays: it only ever grows."""
    with schema_editor.connection.cursor() as cursor:
        retired = [
            column for column in _read(cursor, [table])[0][table].retired if column.key == key
        ]
    if not retired:
        raise ValueError(f'"{table}" has no retired column "{key}".')
    last = max(retired, key=lambda column: column.until)
    schema_editor.execute(
        f"ALTER TABLE {quote(table)} RENAME COLUMN {quote(last.column)} TO {quote(key)}"
    )
    restored = dataclasses.replace(last, column=key, until=None, reason="")
    _comment(schema_editor, table, key, restored.comment() if restored.since else None)
    forget()


def recorded_values(event: models.Model) -> dict[str, Any]:
    """`Event.pgh_retired`: {column the field had: value} of the retired columns `event`
    recorded (one query; none when its table has none)."""
    retired = history(type(event)._meta.db_table, event._state.db or DEFAULT_DB_ALIAS).retired
    row = _event_row(event, retired)
    if row is None:
        return {}
    generation, *values = row
    return {
        column.key: value
        for column, value in zip(retired, values, strict=True)
        if column.records(generation)
    }


def unrecorded_columns(event: models.Model) -> list[str]:
    """The columns of `event`'s model that it holds no value for: added in place of a
    retired column after it was written (one query; none when its table has none)."""
    table = type(event)._meta.db_table
    marked = [
        column
        for column in history(table, event._state.db or DEFAULT_DB_ALIAS).columns
        if not column.retired and column.since
    ]
    if not marked:
        return []
    row = _event_row(event, ())
    if row is None:
        return []
    return [column.column for column in marked if not column.records(row[0])]


def _event_row(event: models.Model, columns) -> tuple | None:
    """(generation, *the values of `columns`) of `event`'s row, or None (no generation)."""
    table = type(event)._meta.db_table
    using = event._state.db or DEFAULT_DB_ALIAS
    if not history(table, using).generational:
        return None
    selected = ", ".join([quote(GENERATION), *(quote(column.column) for column in columns)])
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT {selected} FROM {quote(table)} WHERE pgh_id = %s", [event.pk])
        return cursor.fetchone()


def _comment(schema_editor, table: str, column: str, comment: str | None) -> None:
    text = "NULL" if comment is None else literal(comment)
    schema_editor.execute(f"COMMENT ON COLUMN {quote(table)}.{quote(column)} IS {text}")


def _current_generation(cursor, table: str) -> int | None:
    cursor.execute(
        "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a"
        " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
        " WHERE a.attrelid = %s::regclass AND a.attname = %s AND NOT a.attisdropped",
        [quote(table), GENERATION],
    )
    row = cursor.fetchone()
    return None if row is None else int(row[0])


def _next_generation(schema_editor, cursor, table: str) -> int:
    """Raise the generation of new events by one (adding the column at the first time);
    returns the new one."""
    current = _current_generation(cursor, table)
    if current is None:
        schema_editor.execute(
            f"ALTER TABLE {quote(table)} ADD COLUMN {quote(GENERATION)} integer NOT NULL DEFAULT 0"
        )
        _comment(
            schema_editor,
            table,
            GENERATION,
            "pghistory: the generation of this table's columns an event was written in"
            " (see the comments of its pgh_retired_ columns)",
        )
        current = 0
    generation = current + 1
    schema_editor.execute(
        f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(GENERATION)} SET DEFAULT {generation}"
    )
    return generation


def _attnum(cursor, table: str, column: str) -> int:
    cursor.execute(
        "SELECT attnum FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s"
        " AND NOT attisdropped",
        [quote(table), column],
    )
    row = cursor.fetchone()
    if row is None:
        raise ValueError(f'"{table}" has no column "{column}".')
    return row[0]


def _free_name(cursor, table: str, wanted: str) -> str:
    """`wanted`, or with a number after it, shortened to fit: a name no column of `table`
    has."""
    cursor.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND NOT attisdropped",
        [quote(table)],
    )
    return _free(wanted, {name for (name,) in cursor.fetchall()})


def _free(wanted: str, taken: set[str]) -> str:
    number = 1
    name = wanted.encode()[:_MAX_NAME].decode(errors="ignore")
    while name in taken:
        number += 1
        suffix = f"_{number}"
        name = wanted.encode()[: _MAX_NAME - len(suffix)].decode(errors="ignore") + suffix
    return name


# -- retired event models ---------------------------------------------------------------------

#: A retired event table's comment starts with this.
_MODEL_MARK = '{"pghistory": "retired model"'


@dataclasses.dataclass(frozen=True)
class RetiredModel:
    """An event table kept after its tracked model was deleted (`retire_table()`), and
    what its comment says it held."""

    #: The table it is now.
    table: str
    #: The event model's label ("app_label.ModelEvent") and the tracked model's.
    label: str
    tracked: str
    verbose_name: str
    verbose_name_plural: str
    #: The stored fields: {"name", "column", "verbose_name", "type", "related_model",
    #: "choices", "max_digits", "decimal_places"} each.
    fields: tuple = ()
    #: The name of the tracked model's primary key.
    pk_name: str = "id"
    #: "fk" (a foreign key to pghistory.Context), "json" (denormalized) or "".
    context: str = ""
    has_obj: bool = True
    has_context_id: bool = False
    retired_at: str = ""

    def comment(self) -> str:
        described = dataclasses.asdict(self)
        del described["table"]
        return json.dumps({"pghistory": "retired model", **described}, ensure_ascii=False)


def retire_table(schema_editor, model: type[models.Model]) -> RetiredModel:
    """Keep the table of the event model `model` (of a migration's state) after the model
    leaves the project: renamed `pgh_retired_<table>`, its comment saying what it holds, every
    event in it. Returns it as retired."""
    fields = {field.name: field for field in model._meta.concrete_fields}
    obj = fields.get("pgh_obj")
    tracked = obj.related_model if obj is not None else None
    context = fields.get("pgh_context")
    stored = [field for name, field in fields.items() if not name.startswith("pgh_")]
    pk_name = tracked._meta.pk.name if tracked is not None else "id"
    with schema_editor.connection.cursor() as cursor:
        name = _free_table_name(cursor, PREFIX + model._meta.db_table)
        cursor.execute("SELECT NOW()")
        (now,) = cursor.fetchone()
    tracked_meta = tracked._meta if tracked is not None else model._meta
    described = RetiredModel(
        table=name,
        label=model._meta.label,
        tracked=tracked_meta.label,
        verbose_name=str(tracked_meta.verbose_name),
        verbose_name_plural=str(tracked_meta.verbose_name_plural),
        fields=tuple(_describe_stored(field) for field in stored),
        pk_name=pk_name,
        context=("" if context is None else "fk" if context.is_relation else "json"),
        has_obj=obj is not None,
        has_context_id="pgh_context_id" in fields,
        retired_at=now.isoformat(),
    )
    old = quote(model._meta.db_table)
    schema_editor.execute(f"ALTER TABLE {old} RENAME TO {quote(name)}")
    schema_editor.execute(f"COMMENT ON TABLE {quote(name)} IS {literal(described.comment())}")
    forget()
    return described


def unretire_table(schema_editor, model: type[models.Model]) -> None:
    """Undo `retire_table()` of the event model `model` (of a migration's state)."""
    label = model._meta.label
    found = [
        table for table in retired_models(schema_editor.connection.alias) if table.label == label
    ]
    if not found:
        raise ValueError(f"No table of the event model {label} is retired.")
    table = quote(found[0].table)
    schema_editor.execute(f"COMMENT ON TABLE {table} IS NULL")
    schema_editor.execute(f"ALTER TABLE {table} RENAME TO {quote(model._meta.db_table)}")
    forget()


def retired_models(using: str = DEFAULT_DB_ALIAS) -> list[RetiredModel]:
    """The retired event tables of the database `using`, by label (read with `history()`'s
    catalog, once per migration)."""
    if using not in _retired_tables:
        _load(using)
    return sorted(_retired_tables[using].values(), key=lambda table: table.label)


def _retired_model(table: str, comment: str) -> RetiredModel | None:
    try:
        described = json.loads(comment)
    except ValueError:
        return None
    names = {field.name for field in dataclasses.fields(RetiredModel)} - {"table"}
    values = {name: value for name, value in described.items() if name in names}
    try:
        return RetiredModel(table=table, **{**values, "fields": tuple(values.get("fields", ()))})
    except TypeError:
        return None


def _describe_stored(field: models.Field) -> dict:
    described = dataclasses.asdict(describe(field, REMOVED))
    related = described["related_model"]
    return {
        "name": field.name,
        "column": field.column,
        "verbose_name": described["verbose_name"],
        "type": field.get_internal_type(),
        "related_model": related,
        "choices": [list(choice) for choice in described["choices"] or ()] or None,
        "max_digits": getattr(field, "max_digits", None),
        "decimal_places": getattr(field, "decimal_places", None),
    }


def _free_table_name(cursor, wanted: str) -> str:
    cursor.execute(
        "SELECT relname FROM pg_class WHERE relname LIKE %s", [PREFIX.replace("_", "\\_") + "%"]
    )
    taken = {name for (name,) in cursor.fetchall()}
    return _free(wanted, taken)
