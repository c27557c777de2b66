"""`manage.py pghistory_retired`: the recorded history that outlived its fields and models,
and the one way to delete it on purpose.

A field removed from a tracked model, or changed to a type its old values do not fit, leaves
its column in the event tables; a deleted tracked model leaves its event table (see
`pghistory.retired`). This command lists them; `--drop app_label.EventModel.field` deletes a
column and the values in it, `--drop app_label.EventModel` a deleted model's table and its
events, after asking (or at once with `--no-input`).
"""

from __future__ import annotations

from django.core.management.base import CommandError
from django.db import connections, transaction

from pghistory import retired
from pghistory.management.base import MaintenanceCommand
from pghistory.sql import quote


class Command(MaintenanceCommand):
    help = (
        "List the retired columns of event tables: the values events recorded for fields"
        " their model no longer has (or no longer has in that type). --drop deletes one."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--drop",
            action="append",
            default=[],
            metavar="app_label.EventModel[.field]",
            help="delete this retired field's column and every value in it, or this deleted"
            " model's event table and every event in it (repeatable)",
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="do not ask before dropping",
        )

    def handle(self, *args, models, drop, interactive, database, **options):
        tables = [] if models else retired.retired_models(database)
        found = [
            (event_model, column)
            for event_model in self.event_models(models)
            for column in retired.history(event_model._meta.db_table, database).retired
        ]
        if drop:
            for what, table, column in [self.named(found, tables, name) for name in drop]:
                self.drop(what, table, column, interactive, database)
            return
        if not found and not tables:
            self.stdout.write("No retired columns or tables.")
            return
        for table in tables:
            self.stdout.write(
                f"{table.label} (model deleted, {table.retired_at}): table {table.table}, the"
                f" events of {table.tracked}"
            )
        for event_model, column in found:
            self.stdout.write(
                f"{event_model._meta.label}.{column.name} ({column.reason}, {column.retired_at}):"
                f" column {column.column}, the values of {column.key} that events of"
                f" generation {column.since} to {column.until - 1} recorded"
            )

    @staticmethod
    def named(found, tables, name: str) -> tuple[str, str, str | None]:
        """(what it is, its table, its column: None for a whole table) of a `--drop` name."""
        for table in tables:
            if table.label.lower() == name.lower():
                return f"{table.label}: the events", table.table, None
        label, _, field = name.rpartition(".")
        for event_model, column in found:
            if event_model._meta.label_lower == label.lower() and field in (
                column.name,
                column.key,
            ):
                what = f"{event_model._meta.label}.{column.name}: the values"
                return what, event_model._meta.db_table, column.column
        names = [table.label for table in tables]
        names += [f"{m._meta.label}.{c.name}" for m, c in found]
        raise CommandError(
            f'"{name}" is neither a retired field nor a deleted model\'s events: give'
            " app_label.EventModel.field or app_label.EventModel, one of"
            f" {', '.join(names) or 'none'}."
        )

    def drop(self, what: str, table: str, column: str | None, interactive, database) -> None:
        connection = connections[database]
        with connection.cursor() as cursor:
            where = f" WHERE {quote(column)} IS NOT NULL" if column else ""
            cursor.execute(f"SELECT count(*) FROM {quote(table)}{where}")
            (count,) = cursor.fetchone()
        what = f"{what} ({count:,} recorded)"
        if interactive:
            answer = input(f"Delete {what}? This cannot be undone. [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                self.stdout.write(f"Kept {what}.")
                return
        if column:
            statement = f"ALTER TABLE {quote(table)} DROP COLUMN {quote(column)}"
        else:
            statement = f"DROP TABLE {quote(table)}"
        with transaction.atomic(using=database), connection.cursor() as cursor:
            cursor.execute(statement)
        retired.forget()
        self.stdout.write(f"Deleted {what}.")
