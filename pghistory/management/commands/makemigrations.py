"""Django's `makemigrations`, keeping what event models recorded.

The migrations it writes are Django's, except for the operations on event models that would
delete recorded values: those become pghistory's (see `pghistory.safekeeping`), and the
command says which.
"""

from django.apps import apps
from django.core.management.commands import makemigrations
from django.db.migrations.loader import MigrationLoader

from pghistory import safekeeping


class Command(makemigrations.Command):
    help = (
        f"{makemigrations.Command.help} An event model's removed or altered field keeps the"
        " values its events recorded (pghistory)."
    )

    def write_migration_files(self, changes, *args, **kwargs):
        from_state = MigrationLoader(None, ignore_no_migrations=True).project_state()
        for line in safekeeping.keep_history(changes, from_state, apps):
            if self.verbosity >= 1:
                self.stdout.write(f"pghistory: {line}")
        super().write_migration_files(changes, *args, **kwargs)
