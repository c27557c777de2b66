"""The trigger that copies a tracked row into its event table.

It runs at row level (one `INSERT` per changed row) or at statement level (one
`INSERT ... SELECT` over the statement's transition tables), and both write the same events.
Migrations import this module by path, so `pghistory.trigger.Event` must stay where it is.
"""

from __future__ import annotations

import re

import pgtrigger
from django.db import models
from pgtrigger import compiler

from pghistory import config
from pghistory.constants import CONTEXT_ID_SETTING, CONTEXT_METADATA_SETTING, New, Old
from pghistory.sql import literal, quote  # (pghistory_admin imports quote from here too)

# Transition table names of statement-level triggers, and the row each one holds.
_TRANSITION_TABLES = {New: "new_values", Old: "old_values"}


def default_trigger_name(label: str, operation: pgtrigger.Operation) -> str:
    """`<label>_<operation>`, with anything a trigger name cannot hold replaced by `_`."""
    return re.sub(r"[^a-zA-Z0-9_-]+", "_", f"{label}_{str(operation).lower()}")


def context_expressions(event_model: type[models.Model], per_row: bool = False) -> dict[str, str]:
    """SQL for the context columns of an event model, by field name.

    Each is an uncorrelated scalar subquery: Postgres evaluates it once per statement, when
    the first row needs it (never for a statement that writes no event), so a statement-level
    trigger writing N events attaches its context once, not N times. A row-level trigger
    (`per_row`) runs its statement once per row anyway; there the context table's id asks for
    the setting first, so that a row written outside any context calls no function.
    """
    fields = {field.name: field for field in event_model._meta.concrete_fields}
    context_id = f"NULLIF(current_setting({literal(CONTEXT_ID_SETTING)}, TRUE), '')::UUID"
    expressions = {}
    if "pgh_context" in fields:
        if isinstance(fields["pgh_context"], models.ForeignKey):
            expressions["pgh_context"] = (
                f"CASE WHEN current_setting({literal(CONTEXT_ID_SETTING)}, TRUE) <> ''"
                " THEN _pgh_attach_context() END"
                if per_row
                else "(SELECT _pgh_attach_context())"
            )
        else:
            metadata = f"NULLIF(current_setting({literal(CONTEXT_METADATA_SETTING)}, TRUE), '')"
            expressions["pgh_context"] = f"(SELECT {metadata}::JSONB)"
            if "pgh_context_id" in fields:
                expressions["pgh_context_id"] = f"(SELECT {context_id})"
    return expressions


class EventTriggerSql(compiler.UpsertTriggerSql):
    """The installation SQL of event triggers.

    pgtrigger's own template asks `pgtrigger.ignore` through a function with an exception
    block, a subtransaction on every row; this one reads the setting with `missing_ok`
    instead, so `pgtrigger.ignore()` still works and no row pays for a subtransaction.
    Migrations refer to this class by path, so it must stay where it is.
    """

    def get_template(self) -> str:
        return """
            CREATE OR REPLACE FUNCTION {pgid}()
            RETURNS TRIGGER AS $$
                {declare}
                BEGIN
                    IF TG_NAME = ANY(COALESCE(
                        NULLIF(current_setting('pgtrigger.ignore', TRUE), '')::TEXT[], '{{}}'
                    )) THEN
                        RETURN NULL;
                    END IF;
                    {func}
                END;
            $$ LANGUAGE plpgsql;

            DROP TRIGGER IF EXISTS {pgid} ON {table};
            CREATE {constraint} TRIGGER {pgid}
                {when} {operation} ON {table}
                {timing}
                {referencing}
                FOR EACH {level} {condition}
                EXECUTE PROCEDURE {execute};

            COMMENT ON TRIGGER {pgid} ON {table} IS '{hash}';
        """


class Event(pgtrigger.Trigger):
    """An AFTER trigger on a tracked model that stores the `NEW` or `OLD` row as an event."""

    when = pgtrigger.After

    def __init__(
        self,
        *,
        event_model: type[models.Model],
        label: str,
        row: str = New,
        name: str | None = None,
        operation: pgtrigger.Operation | None = None,
        condition: pgtrigger.Condition | None = None,
        level: pgtrigger.Level | None = None,
        **kwargs,
    ):
        if row not in (New, Old):
            raise ValueError(f'Invalid row "{row}": use pghistory.New or pghistory.Old.')
        self.event_model = event_model
        self.label = label
        self.row = row
        level = level or config.level()
        operation = operation or self.operation
        if level == pgtrigger.Statement:
            kwargs["referencing"] = _referencing(operation)
        super().__init__(
            name=name or default_trigger_name(label, operation),
            operation=operation,
            condition=condition,
            level=level,
            **kwargs,
        )

    def compile(self, model: type[models.Model]) -> compiler.Trigger:
        compiled = super().compile(model)
        return compiler.Trigger(name=compiled.name, sql=EventTriggerSql(**compiled.sql.kwargs))

    def render_condition(self, model: type[models.Model]) -> str:
        # A statement-level trigger filters its transition tables in the function instead.
        return "" if self.level == pgtrigger.Statement else super().render_condition(model)

    def get_func(self, model: type[models.Model]) -> pgtrigger.Func:
        """The `INSERT` that stores the row, for the (possibly historical) `model`, as a
        `pgtrigger.Func` that renders to it (its braces escaped from the template)."""
        sql = self._insert_sql(model)
        return pgtrigger.Func(sql.replace("{", "{{").replace("}", "}}"))

    def _insert_sql(self, model: type[models.Model]) -> str:
        statement = self.level == pgtrigger.Statement
        row_source = _TRANSITION_TABLES[self.row] if statement else self.row
        columns, values = event_values(self.event_model, model, self.label, row_source)
        insert = f"INSERT INTO {quote(self.event_model._meta.db_table)} ({', '.join(columns)})"
        select = f"SELECT {', '.join(values)}"
        joins = parent_joins(model, row_source)

        if statement:
            sources, where = _statement_sources(
                model, self.operation, self.row, self._condition_sql(model)
            )
            where = f" WHERE {where}" if where else ""
            return f"{insert} {select} FROM {sources}{joins}{where}; RETURN NULL;"
        if joins:
            return f"{insert} {select} FROM (SELECT 1) AS _pgh_row{joins}; RETURN NULL;"
        return f"{insert} VALUES ({', '.join(values)}); RETURN NULL;"

    def _condition_sql(self, model: type[models.Model]) -> str:
        condition = self.get_condition(model)
        resolved = condition.resolve(model).strip() if condition else ""
        return (
            resolved.replace("OLD.", f"{_TRANSITION_TABLES[Old]}.").replace(
                "NEW.", f"{_TRANSITION_TABLES[New]}."
            )
            if resolved
            else ""
        )


def _referencing(operation: pgtrigger.Operation) -> pgtrigger.Referencing:
    tables = {
        str(pgtrigger.Insert): {"new": _TRANSITION_TABLES[New]},
        str(pgtrigger.Update): {"old": _TRANSITION_TABLES[Old], "new": _TRANSITION_TABLES[New]},
        str(pgtrigger.Delete): {"old": _TRANSITION_TABLES[Old]},
    }
    if str(operation) not in tables:
        raise ValueError(
            f'Statement-level event triggers need a single operation, not "{operation}".'
        )
    return pgtrigger.Referencing(**tables[str(operation)])


def event_values(
    event_model: type[models.Model], model: type[models.Model], label: str, row_source: str
) -> tuple[list[str], list[str]]:
    """The event table's columns and the SQL expression that fills each one, reading the
    tracked row from `row_source` (the trigger's NEW or OLD row, a transition table, or the
    alias of the tracked table in a backfill's SELECT)."""
    tracked = {field.name: field for field in model._meta.concrete_fields}
    concrete_model = model._meta.concrete_model
    context = context_expressions(event_model, per_row=row_source in (New, Old))
    columns, values = [], []
    for field in event_model._meta.concrete_fields:
        if field.name == "pgh_id":
            continue
        if field.name == "pgh_created_at":
            value = config.created_at_function()
        elif field.name == "pgh_label":
            value = literal(label)
        elif field.name == "pgh_obj":
            target = model._meta.get_field(field.target_field.name)
            value = f"{row_source}.{quote(target.column)}"
        elif field.name in context:
            value = context[field.name]
        elif field.name in tracked:
            source = tracked[field.name]
            owner = source.model._meta.concrete_model
            alias = row_source if owner is concrete_model else _parent_alias(owner)
            value = f"{alias}.{quote(source.column)}"
        else:
            continue
        columns.append(quote(field.column))
        values.append(value)
    return columns, values


def _parent_alias(parent: type[models.Model]) -> str:
    return quote(f"_pgh_{parent._meta.db_table}")


def parent_joins(model: type[models.Model], row_source: str) -> str:
    """Joins to the tables of multi-table inheritance parents, whose rows share the pk."""
    pk_column = quote(model._meta.pk.column)
    return "".join(
        f" LEFT JOIN {quote(parent._meta.db_table)} AS {_parent_alias(parent)}"
        f" ON {_parent_alias(parent)}.{quote(parent._meta.pk.column)} = {row_source}.{pk_column}"
        for parent in model._meta.concrete_model._meta.get_parent_list()
    )


def _statement_sources(
    model: type[models.Model], operation: pgtrigger.Operation, row: str, condition: str
) -> tuple[str, str]:
    """The transition tables an event statement reads (its FROM), and the condition on them
    (its WHERE, "" for none).

    An update's condition compares the old and new rows, so it joins them by primary key.
    When it is that the row changed at all (`AnyChange` over every column, the default), the
    rows stored are those without an equal row of the same key in the other table: an anti
    join comparing column by column, which reads the stored rows in their order and builds
    no whole-row values.
    """
    stored = _TRANSITION_TABLES[row]
    if str(operation) != str(pgtrigger.Update) or not condition:
        return stored, condition
    pk_column = quote(model._meta.pk.column)
    old, new = _TRANSITION_TABLES[Old], _TRANSITION_TABLES[New]
    other = old if stored == new else new
    if condition == f"{old}.* IS DISTINCT FROM {new}.*":
        same = "".join(
            f" AND {other}.{column} IS NOT DISTINCT FROM {stored}.{column}"
            for column in (
                quote(field.column)
                for field in model._meta.concrete_model._meta.local_concrete_fields
            )
        )
        return stored, (
            f"NOT EXISTS (SELECT FROM {other}"
            f" WHERE {other}.{pk_column} = {stored}.{pk_column}{same})"
        )
    return f"{stored} JOIN {other} ON {old}.{pk_column} = {new}.{pk_column}", condition
