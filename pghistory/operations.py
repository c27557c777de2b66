"""Migration operations of pghistory. Migrations import them by this module's path, so it
stays where it is."""

from __future__ import annotations

import copy

from django.db import models
from django.db.migrations.exceptions import IrreversibleError
from django.db.migrations.operations.base import Operation
from django.db.migrations.operations.fields import FieldOperation

from pghistory import partitions, retired


class PartitionEventTable(Operation):
    """Rebuild an event model's table partitioned by `pgh_created_at` (see
    `pghistory.partitions`): one partition per `interval` ("month", or "day", "week",
    "year") for each period that has events, the current one and `ahead` more, and a DEFAULT
    partition. Add it to a migration of the event model's app, after the model's creation:

        operations = [
            ...,
            pghistory.operations.PartitionEventTable("OrderEvent"),
        ]

    Reversible: unapplied, the table is rebuilt as a plain one. It changes no model state, so
    `makemigrations` sees nothing to do.
    """

    reversible = True
    reduces_to_sql = False  # (its statements depend on the rows the table holds)

    def __init__(self, model_name: str, interval: str = "month", ahead: int = 1):
        partitions.interval(interval)  # a bad interval fails when the migration is loaded
        if ahead < 0:
            raise ValueError("ahead cannot be negative.")
        self.model_name = model_name
        self.interval = interval
        self.ahead = ahead

    def deconstruct(self):
        kwargs = {}
        if self.interval != "month":
            kwargs["interval"] = self.interval
        if self.ahead != 1:
            kwargs["ahead"] = self.ahead
        return type(self).__qualname__, [self.model_name], kwargs

    def state_forwards(self, app_label, state):
        pass

    def _table(self, app_label, schema_editor, state) -> str | None:
        model = state.apps.get_model(app_label, self.model_name)
        names = {field.name for field in model._meta.concrete_fields}
        if not {"pgh_id", partitions.KEY} <= names:
            raise ValueError(f"{model._meta.label} is not an event model.")
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return None
        return model._meta.db_table

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        table = self._table(app_label, schema_editor, to_state)
        if table is not None:
            partitions.partition_table(schema_editor, table, self.interval, ahead=self.ahead)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        table = self._table(app_label, schema_editor, from_state)
        if table is not None:
            partitions.unpartition_table(schema_editor, table)

    def describe(self) -> str:
        return f"Partition the table of {self.model_name} by {self.interval}"

    @property
    def migration_name_fragment(self) -> str:
        return f"partition_{self.model_name.lower()}"


class RetireField(FieldOperation):
    """`RemoveField` for an event model, keeping what its events recorded: the field leaves
    the model's state, and its column stays in the table, renamed `pgh_retired_<column>`,
    with every value in it (see `pghistory.retired`). Its values stay readable as
    `event.pgh_retired`, in `Events.pgh_data` and `pgh_diff`, and in the history UI.

    pghistory's `makemigrations` writes it where Django's would remove a field of an event
    model. Reversible: unapplied, the column takes its name back (the events written in the
    meantime have no value in it).
    """

    reversible = True

    def __init__(self, model_name: str, name: str):
        super().__init__(model_name, name)

    def deconstruct(self):
        return type(self).__qualname__, [], {"model_name": self.model_name, "name": self.name}

    def state_forwards(self, app_label, state):
        state.remove_field(app_label, self.model_name_lower, self.name)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            field = model._meta.get_field(self.name)
            retired.retire_column(
                schema_editor, model._meta.db_table, retired.describe(field, retired.REMOVED)
            )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            field = model._meta.get_field(self.name)
            retired.unretire_column(schema_editor, model._meta.db_table, field.column)

    def describe(self) -> str:
        return f"Retire field {self.name} from {self.model_name}, keeping its recorded values"

    @property
    def migration_name_fragment(self) -> str:
        return f"retire_{self.model_name_lower}_{self.name_lower}"


class AlterEventField(FieldOperation):
    """`AlterField` for an event model, never failing on or losing a recorded value.

    When the new column type holds every old value as it is (the same type, or a wider one:
    `smallint` to `integer` to `bigint`, a longer `varchar` or `text`, a `numeric` with at
    least the old digits on each side of the point), the column is altered as Django would,
    except that it never becomes NOT NULL (events written before may hold NULL, and filling
    them in would rewrite history). Otherwise the old column is retired with its values
    (`pghistory.retired`), and a new, empty column of the new type takes the field's name:
    old events read their values as they were recorded, new events write the new type.

    pghistory's `makemigrations` writes it where Django would alter a field of an event model.
    Unapplying a type change that retired a column is refused: the values new events wrote in
    the new type would have no column to go back to.
    """

    reversible = True

    def __init__(self, model_name: str, name: str, field: models.Field):
        self.field = field
        super().__init__(model_name, name, field)

    def deconstruct(self):
        kwargs = {"model_name": self.model_name, "name": self.name, "field": self.field}
        return type(self).__qualname__, [], kwargs

    def state_forwards(self, app_label, state):
        state.alter_field(app_label, self.model_name_lower, self.name, self.field, True)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        to_model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, to_model):
            return
        from_model = from_state.apps.get_model(app_label, self.model_name)
        old = from_model._meta.get_field(self.name)
        new = to_model._meta.get_field(self.name)
        table = to_model._meta.db_table
        if retired.keeps_values(old, new, schema_editor.connection):
            schema_editor.alter_field(from_model, old, _never_stricter(new, old))
            return
        retired.retire_column(schema_editor, table, retired.describe(old, retired.TYPE_CHANGED))
        schema_editor.add_field(to_model, _empty_copy(new))
        retired.record_from_now(schema_editor, table, new.column, new)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        to_model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, to_model):
            return
        from_model = from_state.apps.get_model(app_label, self.model_name)
        old = to_model._meta.get_field(self.name)
        new = from_model._meta.get_field(self.name)
        if not retired.keeps_values(old, new, schema_editor.connection):
            raise IrreversibleError(
                f"{self.describe()} retired the old column: unapplying it would leave the"
                " values written since in the new type without a column. Write a migration"
                " that changes the field back instead."
            )
        schema_editor.alter_field(from_model, new, _never_stricter(old, new))

    def describe(self) -> str:
        return f"Alter field {self.name} on {self.model_name}, keeping its recorded values"

    @property
    def migration_name_fragment(self) -> str:
        return f"alter_{self.model_name_lower}_{self.name_lower}"


def _never_stricter(field: models.Field, before: models.Field) -> models.Field:
    """`field`, taking NULL if the column it replaces did."""
    if field.null or not before.null:
        return field
    relaxed = copy.copy(field)
    relaxed.null = True
    return relaxed


def _empty_copy(field: models.Field) -> models.Field:
    """`field` as a column added to a table of old events: NULL in every row already there
    (no default fills them in)."""
    empty = copy.copy(field)
    empty.null = True
    empty.default = models.NOT_PROVIDED
    if hasattr(empty, "db_default"):
        empty.db_default = models.NOT_PROVIDED
    return empty


class RetireEventModel(Operation):
    """`DeleteModel` for an event model whose tracked model is deleted, keeping its events:
    the model leaves the project's state, and its table stays, renamed
    `pgh_retired_<table>`, with every event in it and a comment saying what it held (see
    `pghistory.retired.retire_table`). `Events` and the history UI read it as the history of
    "<the model> (removed)"; `manage.py pghistory_retired --drop app_label.ModelEvent`
    deletes it on purpose.

    pghistory's `makemigrations` writes it where Django would delete an event model.
    Reversible: unapplied, the table takes its name back.
    """

    reversible = True
    reduces_to_sql = False

    def __init__(self, name: str):
        self.name = name

    @property
    def name_lower(self) -> str:
        return self.name.lower()

    def deconstruct(self):
        return type(self).__qualname__, [], {"name": self.name}

    def state_forwards(self, app_label, state):
        state.remove_model(app_label, self.name_lower)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            retired.retire_table(schema_editor, model)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            retired.unretire_table(schema_editor, model)

    def references_model(self, name, app_label):
        return name.lower() == self.name_lower

    def describe(self) -> str:
        return f"Retire the event model {self.name}, keeping its table and events"

    @property
    def migration_name_fragment(self) -> str:
        return f"retire_{self.name_lower}"
