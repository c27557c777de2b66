"""The SQL behind the `Events` aggregate: one `UNION ALL` over the chosen event tables.

Each event table gets its own branch, and what narrows the result (the event models, the
tracked or referenced objects, exact filters on `pgh_model`, `pgh_obj_model` and
`pgh_obj_id`) is written into each branch with the column's own type, so every table's
indexes serve the query and branches that cannot match are left out entirely. Other filters
(time range, label, context id) are pushed down into the branches by Postgres itself.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import NamedTuple

from django.apps import apps
from django.core.exceptions import EmptyResultSet, FullResultSet, ValidationError
from django.db import models
from django.db.models.expressions import Col, OrderBy, RawSQL, Ref
from django.db.models.lookups import Exact, In
from django.db.models.sql.compiler import SQLCompiler
from django.db.models.sql.query import Query
from django.db.models.sql.where import AND, ExtraWhere, WhereNode

from pghistory import removed, retired
from pghistory.sql import literal, quote

# The aggregate's columns and their SQL types; every branch yields them in this order.
COLUMNS = {
    "pgh_slug": "TEXT",
    "pgh_model": "TEXT",
    "pgh_id": "BIGINT",
    "pgh_created_at": "TIMESTAMPTZ",
    "pgh_label": "TEXT",
    "pgh_data": "JSONB",
    "pgh_diff": "JSONB",
    "pgh_context_id": "UUID",
    "pgh_context": "JSONB",
    "pgh_obj_model": "TEXT",
    "pgh_obj_id": "TEXT",
}


@dataclass(frozen=True)
class Scope:
    """What an `Events` query is narrowed to before any SQL filter."""

    event_models: tuple[type[models.Model], ...] | None = None
    #: ("tracks" or "references", concrete model of the objects, their primary keys)
    objects: tuple[str, type[models.Model], tuple] | None = None


def event_models() -> list[type[models.Model]]:
    """Every concrete event model, in a stable order."""
    from pghistory.models import Event

    return sorted(
        (
            model
            for model in apps.get_models()
            if issubclass(model, Event) and not model._meta.proxy
        ),
        key=lambda model: model._meta.label,
    )


def resolve_event_model(model_or_label: type[models.Model] | str) -> type[models.Model]:
    from pghistory.models import Event

    model = model_or_label
    if isinstance(model_or_label, str):
        try:
            model = apps.get_model(model_or_label)
        except LookupError:
            labels = {m._meta.label_lower: m for m in removed.event_models()}
            model = labels.get(model_or_label.lower())
            if model is None:
                raise
    if not (isinstance(model, type) and issubclass(model, Event)) or model._meta.abstract:
        raise ValueError(f"{model_or_label!r} is not an event model.")
    return model._meta.concrete_model


def _json_path(path: list[str]) -> str:
    return "'{" + ",".join(part.replace("'", "''").replace(",", "") for part in path) + "}'"


def _proxy_sql(model_field: models.Field, context_sql: str, connection) -> str:
    """A proxy field over `pgh_context__<key>...` read from the context JSON."""
    path = proxy_path(model_field)
    parts = path.split("__")
    if parts[0] != "pgh_context" or len(parts) < 2:
        raise ValueError(
            f'Proxy field "{model_field.name}" must proxy "pgh_context__<key>", not "{path}".'
        )
    if parts[1] == "metadata":
        parts = parts[1:]
    return f"({context_sql} #>> {_json_path(parts[1:])})::{column_type(model_field, connection)}"


def column_type(model_field: models.Field, connection) -> str:
    """The SQL type of a field's column (a foreign key's is its target's)."""
    target = model_field.target_field if model_field.is_relation else model_field
    return target.db_type(connection)


def _stored_fields(event_model: type[models.Model]) -> list[models.Field]:
    """The event model's copies of the tracked fields (its columns other than pgh_*)."""
    return [f for f in event_model._meta.concrete_fields if not f.name.startswith("pgh_")]


@dataclass(frozen=True)
class _Source:
    """A column whose values `pgh_data` holds under `key`: a stored field's, or a retired
    one's (`pghistory.retired`), which holds them for some of the events only."""

    key: str
    column: str
    #: The event model's field (None for a retired column).
    field: models.Field | None = None
    #: The generations that recorded it (None: every event did).
    stored: retired.StoredColumn | None = None

    def recorded(self, alias: str, history: retired.TableHistory) -> str | None:
        if self.stored is None:
            return None
        return self.stored.recorded(history.generation_sql(alias))


def data_sources(event_model: type[models.Model], history: retired.TableHistory) -> list[_Source]:
    """The columns whose values `pgh_data` holds: the stored fields', then the retired ones'."""
    sources = []
    for field in _stored_fields(event_model):
        live = history.live(field.column)
        stored = live if live is not None and live.since else None
        sources.append(_Source(field.column, field.column, field, stored))
    # (A retired pgh_* column, such as the object of a model no longer linked, is not data.)
    sources += [
        _Source(column.key, column.column, None, column)
        for column in history.retired
        if not column.key.startswith("pgh_")
    ]
    return sources


def _type_changes(sources: list[_Source]) -> list[tuple[_Source, _Source]]:
    """(old, new) sources of one key where a change of type retired the old column at the
    generation the new one is recorded from."""
    return [
        (old, new)
        for old in sources
        for new in sources
        if old.key == new.key
        and old.stored is not None
        and new.stored is not None
        and old.stored.until is not None
        and old.stored.until == new.stored.since
    ]


def _change_sql(key: str, condition: str, before: str, after: str) -> str:
    """`|| {key: [previous value, value]}` when `condition` holds (else `|| {}`)."""
    return (
        f" || CASE WHEN {condition} THEN jsonb_build_object({literal(key)},"
        f" jsonb_build_array(to_jsonb(prev.{before}), to_jsonb(e.{after}))) ELSE '{{}}' END"
    )


def stored_row_sql(alias: str, sources: list[_Source], history: retired.TableHistory) -> str:
    """The stored row as JSON: each source's value under its key, for the events that
    recorded it (a later source of the same key, recorded by other events, comes after)."""
    pairs = ", ".join(
        f"{literal(source.key)}, {alias}.{quote(source.column)}"
        for source in sources
        if source.stored is None
    )
    sql = f"jsonb_build_object({pairs})"
    for source in sources:
        recorded = source.recorded(alias, history)
        if recorded is not None:
            sql += (
                f" || CASE WHEN {recorded} THEN jsonb_build_object({literal(source.key)},"
                f" {alias}.{quote(source.column)}) ELSE '{{}}' END"
            )
    return sql


#: Column types whose own equality is the equality of their JSON (`to_jsonb`) values, and
#: never a JSON null: such columns are compared as they are, which is cheaper.
_PLAIN_TYPE = re.compile(
    r"(smallint|integer|bigint|boolean|text|uuid|date|double precision|real"
    r"|timestamp with time zone|varchar(\(\d+\))?|numeric(\(\d+, ?\d+\))?)",
)


def value_differs(field: models.Field | None, column: str, connection) -> str:
    """SQL that is true when the previous event's value of `column` is not the event's own,
    as JSON (an SQL NULL reads as JSON null); `field` is None for a retired column."""
    target = field.target_field if field is not None and field.is_relation else field
    if (
        target is not None
        and getattr(target, "db_collation", None) is None
        and _PLAIN_TYPE.fullmatch(column_type(field, connection) or "")
    ):
        return f"prev.{column} IS DISTINCT FROM e.{column}"
    return (
        f"COALESCE(to_jsonb(prev.{column}), 'null')"
        f" IS DISTINCT FROM COALESCE(to_jsonb(e.{column}), 'null')"
    )


def previous_event_join(
    event_model: type[models.Model], sources: list[_Source], history: retired.TableHistory
) -> str:
    """The join of each event's (`e`) previous event of the same object as `prev` (its
    `pgh_id` and the columns of `sources`), passing over a sibling: an event of another
    tracker that the same change wrote (same time, same values), so that both show what
    changed."""
    table = quote(event_model._meta.db_table)
    columns = [quote(source.column) for source in sources]
    if history.generational:
        columns.append(quote(retired.GENERATION))
    row = ", ".join(['p."pgh_id"', *(f"p.{column}" for column in columns)])
    same_values = (
        f"{stored_row_sql('p', sources, history)} = {stored_row_sql('e', sources, history)}"
    )
    return (
        f" LEFT JOIN LATERAL (SELECT {row} FROM {table} p"
        ' WHERE p."pgh_obj_id" = e."pgh_obj_id" AND p."pgh_id" < e."pgh_id"'
        ' AND NOT (p."pgh_created_at" = e."pgh_created_at"'
        f' AND p."pgh_label" <> e."pgh_label" AND {same_values})'
        ' ORDER BY p."pgh_id" DESC LIMIT 1) prev ON TRUE'
    )


def _object_filter(
    event_model: type[models.Model], scope: Scope, hints: dict[str, set]
) -> tuple[list[str], list] | None:
    """Branch conditions for the objects in scope, or None when no row can match."""
    conditions, params = [], []
    fields = {f.name: f for f in event_model._meta.concrete_fields}
    if scope.objects is not None:
        kind, target_model, pks = scope.objects
        if kind == "tracks":
            candidates = [fields["pgh_obj"]] if "pgh_obj" in fields else []
        else:
            candidates = [f for f in fields.values() if f.is_relation]
        candidates = [
            f for f in candidates if f.related_model._meta.concrete_model is target_model
        ]
        if not candidates or not pks:
            return None
        placeholders = ", ".join(["%s"] * len(pks))
        conditions.append(
            "(" + " OR ".join(f"e.{quote(f.column)} IN ({placeholders})" for f in candidates) + ")"
        )
        params.extend(list(pks) * len(candidates))

    if "pgh_obj_id" in hints:
        if "pgh_obj" not in fields:
            return None
        target = fields["pgh_obj"].target_field
        values = []
        for value in hints["pgh_obj_id"]:
            try:
                # clean() also rejects values out of the column's range
                values.append(target.clean(value, None))
            except (ValidationError, TypeError, ValueError):
                continue
        if not values:
            return None
        conditions.append(f'e."pgh_obj_id" IN ({", ".join(["%s"] * len(values))})')
        params.extend(values)
    return conditions, params


def _branch(
    query_model: type[models.Model],
    event_model: type[models.Model],
    scope: Scope,
    hints: dict[str, set],
    connection,
    with_diff: bool = True,
    with_context: bool = True,
    with_data: bool = True,
) -> tuple[str, list] | None:
    label = event_model._meta.label
    tracked_label = event_model.pgh_tracked_model._meta.label
    if "pgh_model" in hints and label not in hints["pgh_model"]:
        return None
    if "pgh_obj_model" in hints and tracked_label not in hints["pgh_obj_model"]:
        return None
    object_filter = _object_filter(event_model, scope, hints)
    if object_filter is None:
        return None
    conditions, params = object_filter

    fields = {f.name: f for f in event_model._meta.concrete_fields}
    table = quote(event_model._meta.db_table)
    has_obj = "pgh_obj" in fields
    joins, context_sql, context_id_sql = context_join(event_model, "e", with_context)

    history = retired.history(event_model._meta.db_table, connection.alias)
    sources = data_sources(event_model, history)
    data = stored_row_sql("e", sources, history)
    diff = "NULL"
    if has_obj and with_diff:
        joins += previous_event_join(event_model, sources, history)
        # {column: [old, new]} of the columns whose values (as JSON, as pgh_data holds them:
        # an SQL NULL is JSON null) differ; NULL when none does. Column by column, without
        # building either row's JSON.
        # A column that some events did not record is compared where both did; across a
        # change of type (the old column retired, a new one recorded from then on), the two
        # values are compared as text.
        changed = ""
        for source in sources:
            c = quote(source.column)
            condition = value_differs(source.field, c, connection)
            recorded = [source.recorded(alias, history) for alias in ("prev", "e")]
            if recorded[0] is not None:
                condition = f"{recorded[0]} AND {recorded[1]} AND {condition}"
            changed += _change_sql(source.key, condition, c, c)
        for old, new in _type_changes(sources):
            before, after = quote(old.column), quote(new.column)
            condition = (
                f"{old.recorded('prev', history)} AND {new.recorded('e', history)}"
                f" AND prev.{before}::text IS DISTINCT FROM e.{after}::text"
            )
            changed += _change_sql(old.key, condition, before, after)
        diff = (
            'CASE WHEN prev."pgh_id" IS NULL THEN NULL'
            f" ELSE NULLIF('{{}}'::JSONB{changed}, '{{}}'::JSONB) END"
        )
    obj_id = 'e."pgh_obj_id"' if has_obj else "NULL"

    values = {
        "pgh_slug": f"'{label}:' || e.\"pgh_id\"",
        "pgh_model": f"'{label}'",
        "pgh_id": 'e."pgh_id"',
        "pgh_created_at": 'e."pgh_created_at"',
        "pgh_label": 'e."pgh_label"',
        "pgh_data": data if with_data else "NULL",
        "pgh_diff": diff,
        "pgh_context_id": context_id_sql,
        "pgh_context": context_sql,
        "pgh_obj_model": f"'{tracked_label}'",
        "pgh_obj_id": obj_id,
    }
    # pgh_id keeps its column's own type (integer or bigint; the union widens it), so that an
    # ORDER BY pgh_id inside the branch follows the table's indexes.
    select = [
        f"{sql} AS {quote(name)}"
        if name == "pgh_id"
        else f"({sql})::{COLUMNS[name]} AS {quote(name)}"
        for name, sql in values.items()
    ]
    select += [
        f"{_proxy_sql(f, context_sql, connection)} AS {quote(f.column)}"
        for f in _proxy_fields(query_model)
    ]
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT {', '.join(select)} FROM {table} e{joins}{where}", params


def context_join(
    event_model: type[models.Model], alias: str, with_context: bool = True
) -> tuple[str, str, str]:
    """The join that an event table's rows (as `alias`) need to read their context, and the
    SQL of the context's metadata and id."""
    fields = {f.name: f for f in event_model._meta.concrete_fields}
    context_field = fields.get("pgh_context")
    if isinstance(context_field, models.ForeignKey) and not with_context:
        # (Even a join that the planner drops keeps the table's column in the query, which
        # then cannot be answered from an index alone.)
        return "", "NULL::JSONB", f'{alias}."pgh_context_id"'
    if isinstance(context_field, models.ForeignKey):
        join = f' LEFT JOIN "pghistory_context" c ON c."id" = {alias}."pgh_context_id"'
        return join, 'c."metadata"', f'{alias}."pgh_context_id"'
    if context_field is not None:
        context_id = f'{alias}."pgh_context_id"' if "pgh_context_id" in fields else "NULL"
        return "", f'{alias}."pgh_context"', context_id
    return "", "NULL::JSONB", "NULL"


def proxy_path(field: models.Field) -> str:
    """What a proxy field reads: its `ProxyField` path, or, for a plain field that an
    `Events` proxy declares (django-pghistory 3.9's deprecated form), the context key of the
    field's name."""
    return getattr(field, "pgh_proxy", None) or f"pgh_context__{field.name}"


def _proxy_fields(model: type[models.Model]) -> list[models.Field]:
    """The fields of a proxy that are read through a path rather than stored: its
    `ProxyField`s, and the plain fields that an `Events` proxy declares beyond `Events`' own
    (with a `DeprecationWarning`, as in django-pghistory 3.9)."""
    proxied = []
    for field in model._meta.concrete_fields:
        if hasattr(field, "pgh_proxy"):
            proxied.append(field)
        elif (
            model._meta.proxy
            and field.model is not model._meta.concrete_model
            and field.name not in COLUMNS
        ):
            warnings.warn(
                f'Field "{field.name}" of {model._meta.label} is read from the context'
                f' key "{field.name}": declare it as pghistory.ProxyField("pgh_context__'
                f'{field.name}", ...) instead.',
                DeprecationWarning,
                stacklevel=2,
            )
            proxied.append(field)
    return proxied


def _where_hints(query: Query) -> dict[str, set]:
    """Exact and `in` filters on the identifying columns, ANDed at the top of the query."""
    hints: dict[str, set] = {}
    where = query.where
    if where.connector != AND or where.negated:
        return hints
    for child in where.children:
        if not isinstance(child, (Exact, In)) or not hasattr(child.lhs, "target"):
            continue
        name = child.lhs.target.name
        if name not in ("pgh_model", "pgh_obj_model", "pgh_obj_id"):
            continue
        values = [child.rhs] if isinstance(child, Exact) else child.rhs
        if not isinstance(values, (list, tuple, set)) or any(
            hasattr(value, "resolve_expression") for value in values
        ):
            continue  # an expression or a subquery: only Postgres knows its values
        values = set(values)
        hints[name] = hints[name] & values if name in hints else values
    return hints


def _references(expressions, name: str) -> bool:
    """True unless `expressions` (and everything inside them) surely leave the aggregate's
    column `name` alone: a subquery or raw SQL counts as a reference, since only its SQL
    knows what it reads."""
    stack = [e for e in expressions if e is not None]
    while stack:
        expression = stack.pop()
        if isinstance(expression, (Query, RawSQL, ExtraWhere)):
            return True
        if isinstance(expression, Col) and expression.target.name == name:
            return True
        if isinstance(expression, WhereNode):
            stack.extend(expression.children)
        elif hasattr(expression, "get_source_expressions"):
            stack.extend(e for e in expression.get_source_expressions() if e is not None)
    return False


class TopN(NamedTuple):
    """What every branch of a sliced, ordered query may apply to itself."""

    alias: str  # the union's alias, which the WHERE and ORDER BY name
    where: str  # the query's WHERE clause ("" for none)
    params: list  # its parameters
    order_limit: str  # "ORDER BY ... LIMIT n"
    where_reads_diff: bool  # whether the WHERE clause reads pgh_diff
    reads_context: bool  # whether the WHERE clause or the order reads the context
    key_columns: tuple[str, ...]  # the chosen rows' keys, and the columns the order reads

    @property
    def where_clause(self) -> str:
        return f" WHERE {self.where}" if self.where else ""


def events_sql(
    query: Query,
    connection,
    top_n: TopN | None = None,
    with_diff: bool = True,
    with_data: bool = True,
):
    """The derived table that stands for `Events` in `query`.

    With `top_n`, the query's first rows are chosen before any diff is computed: each table
    gives its first rows through its indexes (without diffs, unless the WHERE clause reads
    them), the union of those keeps the first rows overall, and then each table reads just
    those rows, by primary key, with their diffs. A page of newest events, an export chunk or
    one busy object's timeline then costs about a page of rows, however long the history.
    Without `with_diff`, `pgh_diff` is NULL and no branch looks up previous events (a count,
    or a query that reads other columns only); without `with_data`, `pgh_data` is NULL (the
    union's branches compute every column they have, read or not: an export that reads the
    diffs only would build each row's JSON for nothing).
    """
    scope: Scope = query.pgh_scope
    hints = _where_hints(query)
    chosen = scope.event_models
    if chosen is None:  # every event model, and the kept tables of deleted ones
        chosen = event_models() + removed.event_models(connection.alias)
    branches, params, keys, keys_params = [], [], [], []
    for event_model in chosen:
        branch = _branch(
            query.model, event_model, scope, hints, connection, with_diff, with_data=with_data
        )
        if branch is None:
            continue
        branch_sql, branch_params = branch
        if top_n is not None:
            # The branch that chooses rows computes diffs and reads contexts only if the
            # choice depends on them.
            light = (with_diff and top_n.where_reads_diff, top_n.reads_context)
            if light != (with_diff, True):
                branch = _branch(query.model, event_model, scope, hints, connection, *light)
            light_sql, light_params = branch
            # (Only the columns the choice needs, so that an index that holds them all
            # answers it without reading the table.)
            key_select = ", ".join(f"{top_n.alias}.{quote(c)}" for c in top_n.key_columns)
            keys.append(
                f"(SELECT {key_select} FROM ({light_sql}) {top_n.alias}{top_n.where_clause}"
                f" {top_n.order_limit})"
            )
            keys_params.extend([*light_params, *top_n.params])
            branch_sql = f"SELECT * FROM ({branch_sql}) {top_n.alias} WHERE " + " AND ".join(
                f"{top_n.alias}.{quote(column)} = ANY(ARRAY(SELECT {quote(column)}"
                f' FROM {_KEYS} WHERE "pgh_model" = {literal(event_model._meta.label)}))'
                for column in ("pgh_id", "pgh_created_at")
            )
        branches.append(f"({branch_sql})")
        params.extend(branch_params)
    if not branches:
        select = [f"NULL::{sql_type} AS {quote(name)}" for name, sql_type in COLUMNS.items()]
        select += [
            f"NULL::{column_type(f, connection)} AS {quote(f.column)}"
            for f in _proxy_fields(query.model)
        ]
        return f"SELECT {', '.join(select)} WHERE FALSE", []
    union = " UNION ALL ".join(branches)
    if top_n is None:
        return union, params
    # The chosen rows' keys, once for every branch: each branch's first rows, then the
    # first rows of them all. (The times go with the ids, so that a table partitioned by
    # time is read in the partitions that hold them only.)
    alias = top_n.alias
    chosen_keys = (
        f'SELECT {alias}."pgh_model", {alias}."pgh_id", {alias}."pgh_created_at"'
        f" FROM ({' UNION ALL '.join(keys)}) {alias}"
        f" {top_n.order_limit}"
    )
    return f"WITH {_KEYS} AS MATERIALIZED ({chosen_keys}) {union}", [*keys_params, *params]


#: The name of the chosen rows' keys in a cut query (see `events_sql`).
_KEYS = '"pgh_chosen"'


def _names_column(order: OrderBy) -> bool:
    """Whether an ORDER BY term that refers to a selected column (as `values()` queries
    order) names one of the aggregate's own columns, which every branch has by that name."""
    ref = order.expression
    return isinstance(ref, Ref) and isinstance(ref.source, Col) and ref.refs in COLUMNS


def _column_order(order: OrderBy) -> str:
    """An ORDER BY term on a selected aggregate column, by the column's name (the query
    itself may name it by its position in the SELECT list, which a branch does not share)."""
    sql = f"{quote(order.expression.refs)} {'DESC' if order.descending else 'ASC'}"
    if order.nulls_first:
        sql += " NULLS FIRST"
    elif order.nulls_last:
        sql += " NULLS LAST"
    return sql


class _DerivedTableCompiler(SQLCompiler):
    """A compiler that reads a derived table, `derived_table()`, in place of the query's
    base table."""

    @classmethod
    def of(cls, query: Query, using=None, connection=None, elide_empty=True):
        """This compiler for `query`, as `Query.get_compiler` makes its own."""
        if connection is None:
            from django.db import connections

            connection = connections[using]
        return cls(query, connection, using, elide_empty)

    def derived_table(self) -> tuple[str, list]:
        raise NotImplementedError

    def get_from_clause(self):
        from_clause, params = super().get_from_clause()
        base_alias = self.query.base_table
        base_sql, _ = self.compile(self.query.alias_map[base_alias])
        derived_sql, derived_params = self.derived_table()
        # The base table comes first in the FROM clause, so its parameters come first too.
        assert from_clause[0] == base_sql
        from_clause[0] = f"({derived_sql}) {self.quote_name_unless_alias(base_alias)}"
        return from_clause, [*derived_params, *params]


class EventsCompiler(_DerivedTableCompiler):
    """Compiles `Events` queries with the union in place of a table."""

    def derived_table(self) -> tuple[str, list]:
        return events_sql(
            self.query,
            self.connection,
            self._top_n(),
            self._reads("pgh_diff"),
            self._reads("pgh_data"),
        )

    def _reads(self, name: str) -> bool:
        """Whether the query reads the aggregate's column `name` anywhere (its SELECT,
        WHERE, HAVING, ORDER BY, GROUP BY or annotations); raw `extra()` SQL may read
        anything."""
        query = self.query
        if query.extra or query.extra_tables:
            return True
        group_by = query.group_by if isinstance(query.group_by, tuple) else ()
        return _references(
            [
                *(expression for expression, _, _ in self.select),
                *(expression for expression, _ in self.get_order_by()),
                self.where,
                getattr(self, "having", None),
                getattr(self, "qualify", None),
                *group_by,
                *query.annotations.values(),
            ],
            name,
        )

    def _top_n(self) -> TopN | None:
        """The WHERE, ORDER BY and LIMIT that every branch may apply to itself: those of a
        sliced, ordered query on the union alone (no joins, grouping or distinct)."""
        query = self.query
        if (
            query.high_mark is None
            or query.distinct
            or query.group_by is not None
            or query.combinator
            or len(query.alias_map) != 1
        ):
            return None
        order_by = self.get_order_by()
        if not order_by or any(
            params or (is_ref and not _names_column(expression))
            for expression, (_, params, is_ref) in order_by
        ):
            return None
        try:
            where_sql, where_params = self.compile(self.where)
        except FullResultSet:
            where_sql, where_params = "", []
        except EmptyResultSet:
            return None
        ordering = ", ".join(
            _column_order(expression) if is_ref else sql
            for expression, (sql, _, is_ref) in order_by
        )
        ordered = [expression for expression, _ in order_by]
        key_columns = dict.fromkeys(("pgh_model", "pgh_id", "pgh_created_at"))
        key_columns.update(
            dict.fromkeys(
                field.column
                for field in query.model._meta.concrete_fields
                if _references(ordered, field.name)
            )
        )
        return TopN(
            self.quote_name_unless_alias(query.base_table),
            where_sql,
            list(where_params),
            f"ORDER BY {ordering} LIMIT {int(query.high_mark)}",
            _references([self.where], "pgh_diff"),
            any(
                _references([self.where, *ordered], name)
                for name in ["pgh_context", *(f.name for f in _proxy_fields(query.model))]
            ),
            tuple(key_columns),
        )


class EventsQuery(Query):
    """A query over `Events` that carries its scope."""

    def __init__(self, model, *args, **kwargs):
        super().__init__(model, *args, **kwargs)
        self.pgh_scope = Scope()

    def get_compiler(self, using=None, connection=None, elide_empty=True):
        return EventsCompiler.of(self, using, connection, elide_empty)


class EventCompiler(_DerivedTableCompiler):
    """Compiles queries of an event model's proxy that declares `ProxyField`s: its table is
    read with each proxy field's column computed beside the stored ones."""

    def derived_table(self) -> tuple[str, list]:
        model = self.query.model
        joins, context_sql, _ = context_join(model, "e")
        proxies = "".join(
            f", {_proxy_sql(f, context_sql, self.connection)} AS {quote(f.column)}"
            for f in _proxy_fields(model)
        )
        return f"SELECT e.*{proxies} FROM {quote(model._meta.db_table)} e{joins}", []


class EventQuery(Query):
    """A query over one event model; a proxy of it may declare `ProxyField`s."""

    def get_compiler(self, using=None, connection=None, elide_empty=True):
        if not _proxy_fields(self.model):
            return super().get_compiler(using, connection, elide_empty)
        return EventCompiler.of(self, using, connection, elide_empty)
