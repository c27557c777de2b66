"""Migration operations of pghistory. Migrations import them by this module's path, so it
stays where it is."""

from __future__ import annotations

from django.db.migrations.operations.base import Operation

from pghistory import partitions


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
