"""Split the migration that `makemigrations` wrote for an upgraded project in two, the way the
README tells a user to edit it for an upgrade that does not hold up writes (see upgrade.py):

1. a new migration, `atomic = False`, with the generated `AddIndex` operations rewritten as
   `AddIndexConcurrently` (the same index definitions and names), depending on what the
   generated migration depended on;
2. the generated migration, renumbered after it and depending on it, with every other
   operation (the trigger replacements, the `AlterField`s) and without its `AddIndex`es.
   Those stay in one atomic migration: dropping and re-adding a trigger outside a
   transaction would let writes through untracked in between.

    python bench/upgrade_split.py PROJECT_DIR APP MIGRATION_NAME

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
    sys.path.insert(0, project)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()

    from django.contrib.postgres.operations import AddIndexConcurrently
    from django.db import migrations
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
            }
        )
    )


if __name__ == "__main__":
    main()
