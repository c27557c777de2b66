"""Split the migration that `makemigrations` wrote for an upgraded project in two, the way the
README tells a user to edit it for an upgrade that does not hold up writes (see upgrade.py):

1. a new migration, `atomic = False`, with the generated `AddIndex` operations rewritten as
   `AddIndexConcurrently` (the same index definitions and names), depending on what the
   generated migration depended on;
2. the generated migration, renumbered after it and depending on it, with every other
   operation (the trigger replacements, the `AlterField`s) and without its `AddIndex`es.
   Those stay in one atomic migration: dropping and re-adding a trigger outside a
   transaction would let writes through untracked in between.

    python bench/upgrade_split.py PROJECT_DIR APP MIGRATION_NAME [--drop-old-indexes-concurrently]

With `--drop-old-indexes-concurrently`, the first migration also drops the old single-column
`pgh_obj` indexes the `AlterField`s drop, with `RunSQL("DROP INDEX CONCURRENTLY IF EXISTS
...")` after the new indexes are built; the `AlterField`s stay in the atomic migration (for
Django's state), where they then find no index to drop. (A variant the bench measures with
a long read open: the atomic migration's plain `DROP INDEX` waits for that read with the
tracked table already locked by `DROP TRIGGER`.)

Runs in the project with our library (Django set up with its settings), loads the generated
migration with Django's loader, writes both files with Django's `MigrationWriter` and removes
the generated file. Prints the two new migrations' names as JSON.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main() -> None:
    project, app, name = sys.argv[1:4]
    drop_concurrently = "--drop-old-indexes-concurrently" in sys.argv[4:]
    sys.path.insert(0, project)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()

    from django.contrib.postgres.operations import AddIndexConcurrently
    from django.db import connection, migrations
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.writer import MigrationWriter

    loader = MigrationLoader(None, ignore_no_migrations=True)
    generated = loader.disk_migrations[(app, name)]
    add_indexes = [op for op in generated.operations if type(op) is migrations.AddIndex]
    others = [op for op in generated.operations if type(op) is not migrations.AddIndex]
    if not add_indexes:
        raise SystemExit(f"{app}.{name} has no AddIndex operation to build concurrently")

    number, _, rest = name.partition("_")
    indexes_name = f"{number}_history_indexes_concurrently"
    atomic_name = f"{int(number) + 1:04d}_{rest}"

    first = migrations.Migration(indexes_name, app)
    first.dependencies = list(generated.dependencies)
    first.operations = [
        AddIndexConcurrently(model_name=op.model_name, index=op.index) for op in add_indexes
    ]
    dropped = []
    if drop_concurrently:
        before = loader.project_state((app, name), at_end=False).apps
        for op in others:
            if type(op) is not migrations.AlterField or op.field.db_index:
                continue
            old = before.get_model(app, op.model_name)._meta.get_field(op.name)
            if not old.db_index:
                continue
            table = old.model._meta.db_table
            index = connection.schema_editor()._create_index_name(table, [old.column], suffix="")
            dropped.append(index)
            first.operations.append(
                migrations.RunSQL(
                    f'DROP INDEX CONCURRENTLY IF EXISTS "{index}"',
                    reverse_sql=f'CREATE INDEX CONCURRENTLY "{index}" ON "{table}" ("{old.column}")',
                )
            )
    second = migrations.Migration(atomic_name, app)
    second.dependencies = [(app, indexes_name)]
    second.operations = others

    directory = Path(MigrationWriter(generated).path).parent
    first_text = MigrationWriter(first).as_string()
    marker = "class Migration(migrations.Migration):\n"
    if marker not in first_text:
        raise SystemExit("unexpected MigrationWriter output: no Migration class line")
    first_text = first_text.replace(
        marker,
        marker
        + "    # Concurrent index builds cannot run in a transaction.\n    atomic = False\n",
        1,
    )
    (directory / f"{indexes_name}.py").write_text(first_text)
    (directory / f"{atomic_name}.py").write_text(MigrationWriter(second).as_string())
    (directory / f"{name}.py").unlink()
    print(
        json.dumps(
            {
                "concurrent": indexes_name,
                "atomic": atomic_name,
                "indexes": len(add_indexes),
                "other_operations": [type(op).__name__ for op in others],
                "dropped_concurrently": dropped,
            }
        )
    )


if __name__ == "__main__":
    main()
