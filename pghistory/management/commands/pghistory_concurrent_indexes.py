"""Split a migration that `makemigrations` wrote so that its index builds do not hold up writes.

The migration that upgrading to this package generates (from django-pghistory 3.9, or when
event models gain indexes) replaces triggers, alters `pgh_obj` and adds indexes, all in one
transaction: writes to the tracked tables wait while the indexes are built. This command
rewrites it as two migrations:

1. `<number>_history_indexes_concurrently`, with `atomic = False`: the `AddIndex` operations
   as `AddIndexConcurrently` (same definitions and names), then, unless `--keep-index-drops`,
   a `DROP INDEX CONCURRENTLY` of each index that an `AlterField` of the migration drops;
2. the generated migration, numbered after it and depending on it, with every other operation.
   Those stay in one transaction: a trigger dropped and created again outside one would let
   writes through untracked in between.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.postgres.operations import AddIndexConcurrently
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections, migrations
from django.db.migrations.exceptions import AmbiguityError
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.writer import MigrationWriter


class Command(BaseCommand):
    help = (
        "Split a generated migration in two: its index builds, concurrently and first, then the"
        " rest (triggers, field changes) in one transaction."
    )

    def add_arguments(self, parser):
        parser.add_argument("app_label", help="the app of the migration")
        parser.add_argument("migration_name", help='the migration, e.g. "0002_remove_..."')
        parser.add_argument(
            "--keep-index-drops",
            action="store_true",
            help="leave the dropping of old indexes to the AlterFields (in the transaction)",
        )
        parser.add_argument(
            "--database", default=DEFAULT_DB_ALIAS, help='whose SQL names indexes ("default")'
        )

    def handle(self, app_label, migration_name, keep_index_drops, database, **options):
        loader = MigrationLoader(None, ignore_no_migrations=True)
        try:
            generated = loader.get_migration_by_prefix(app_label, migration_name)
        except (AmbiguityError, KeyError) as exc:
            raise CommandError(exc.args[0] if exc.args else str(exc)) from None
        builds = [op for op in generated.operations if type(op) is migrations.AddIndex]
        others = [op for op in generated.operations if type(op) is not migrations.AddIndex]
        if not builds:
            raise CommandError(f"{app_label}.{generated.name} adds no index.")
        if loader.graph.leaf_nodes(app_label) != [(app_label, generated.name)]:
            raise CommandError(f"{app_label}.{generated.name} is not the app's last migration.")

        number, _, rest = generated.name.partition("_")
        if not number.isdigit():
            raise CommandError(f'"{generated.name}" does not start with a number.')
        concurrent = migrations.Migration(f"{number}_history_indexes_concurrently", app_label)
        concurrent.dependencies = list(generated.dependencies)
        concurrent.operations = [
            AddIndexConcurrently(model_name=op.model_name, index=op.index) for op in builds
        ]
        if not keep_index_drops:
            before = loader.project_state((app_label, generated.name), at_end=False).apps
            concurrent.operations += self._index_drops(
                before, app_label, others, connections[database]
            )
        atomic = migrations.Migration(f"{int(number) + 1:04d}_{rest}", app_label)
        atomic.dependencies = [(app_label, concurrent.name)]
        atomic.operations = others

        generated_path = Path(MigrationWriter(generated).path)
        self._write(concurrent, generated_path.parent, non_atomic=True)
        self._write(atomic, generated_path.parent)
        generated_path.unlink()
        self.stdout.write(
            f"{app_label}.{concurrent.name}: {len(builds)} indexes built concurrently"
            f" ({len(concurrent.operations) - len(builds)} old ones dropped concurrently),"
            f" not in a transaction\n"
            f"{app_label}.{atomic.name}: the other {len(others)} operations, in one transaction"
        )

    @staticmethod
    def _index_drops(before, app_label, operations, connection) -> list:
        """`DROP INDEX CONCURRENTLY` of the single-column index that each `AlterField` that
        turns `db_index` off drops (the `AlterField` then finds none to drop)."""
        drops = []
        for op in operations:
            if type(op) is not migrations.AlterField or op.field.db_index:
                continue
            old = before.get_model(app_label, op.model_name)._meta.get_field(op.name)
            if not old.db_index:
                continue
            table = old.model._meta.db_table
            with connection.schema_editor(collect_sql=True, atomic=False) as editor:
                name = editor._create_index_name(table, [old.column], suffix="")
            quote = connection.ops.quote_name
            drops.append(
                migrations.RunSQL(
                    f"DROP INDEX CONCURRENTLY IF EXISTS {quote(name)}",
                    reverse_sql=(
                        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {quote(name)}"
                        f" ON {quote(table)} ({quote(old.column)})"
                    ),
                )
            )
        return drops

    @staticmethod
    def _write(migration, directory: Path, non_atomic: bool = False) -> None:
        text = MigrationWriter(migration).as_string()
        if non_atomic:
            header = "class Migration(migrations.Migration):\n"
            text = text.replace(
                header,
                header + "    # Concurrent index builds cannot run in a transaction.\n"
                "    atomic = False\n\n",
                1,
            )
        (directory / f"{migration.name}.py").write_text(text)
