"""`manage.py pghistory_retired`: the recorded values that outlived their fields, and the one
way to delete them on purpose.

A field removed from a tracked model, or changed to a type its old values do not fit, leaves
its column in the event tables (see `pghistory.retired`). This command lists those columns;
`--drop app_label.EventModel.field` deletes one, and the values in it, after asking (or at
once with `--no-input`).
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
            metavar="app_label.EventModel.field",
            help="delete this retired field's column and every value in it (repeatable)",
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="do not ask before dropping",
        )

    def handle(self, *args, models, drop, interactive, database, **options):
        found = [
            (event_model, column)
            for event_model in self.event_models(models)
            for column in retired.history(event_model._meta.db_table, database).retired
        ]
        if drop:
            self.drop([self.named(found, name) for name in drop], interactive, database)
            return
        if not found:
            self.stdout.write("No retired columns.")
            return
        for event_model, column in found:
            self.stdout.write(
                f"{event_model._meta.label}.{column.name} ({column.reason}, {column.retired_at}):"
                f" column {column.column}, the values of {column.key} that events of"
                f" generation {column.since} to {column.until - 1} recorded"
            )

    @staticmethod
    def named(found, name: str):
        label, _, field = name.rpartition(".")
        for event_model, column in found:
            if event_model._meta.label_lower == label.lower() and field in (
                column.name,
                column.key,
            ):
                return event_model, column
        raise CommandError(
            f'"{name}" is not a retired field: give app_label.EventModel.field, one of'
            f" {', '.join(f'{m._meta.label}.{c.name}' for m, c in found) or 'none'}."
        )

    def drop(self, chosen, interactive: bool, database: str) -> None:
        connection = connections[database]
        for event_model, column in chosen:
            table = event_model._meta.db_table
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT count(*) FROM {quote(table)} WHERE {quote(column.column)} IS NOT NULL"
                )
                (values,) = cursor.fetchone()
            what = f"{event_model._meta.label}.{column.name}: {values:,} recorded values"
            if interactive:
                answer = input(f"Delete {what}? This cannot be undone. [y/N] ")
                if answer.strip().lower() not in ("y", "yes"):
                    self.stdout.write(f"Kept {what}.")
                    continue
            with transaction.atomic(using=database), connection.cursor() as cursor:
                cursor.execute(f"ALTER TABLE {quote(table)} DROP COLUMN {quote(column.column)}")
            retired.forget()
            self.stdout.write(f"Deleted {what}.")
