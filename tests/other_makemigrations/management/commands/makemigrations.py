"""Another app's `makemigrations`, as some projects install (for the check pghistory.W002)."""

from django.core.management.commands import makemigrations


class Command(makemigrations.Command):
    pass
