"""What the maintenance commands share: choosing event models, the database and progress."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from pghistory import maintenance
from pghistory.progress import Progress


class MaintenanceCommand(BaseCommand):
    """A command over event models, named by the tracked or event models' labels."""

    def add_arguments(self, parser):
        parser.add_argument(
            "models",
            nargs="*",
            metavar="app_label.Model",
            help="tracked models (all their event models) or event models; default: all",
        )
        parser.add_argument(
            "--database", default=DEFAULT_DB_ALIAS, help='the database alias ("default")'
        )

    def event_models(self, labels) -> list:
        try:
            return maintenance.select_event_models(labels)
        except LookupError as exc:
            raise CommandError(str(exc)) from None

    def progress(self, total: int, label: str) -> Progress:
        """A bar on a terminal, plain lines elsewhere, on the command's standard error."""
        stream = getattr(self.stderr, "_out", self.stderr)  # unwrapped, to draw with \r
        return Progress(total=total, label=label, stream=stream)

    @staticmethod
    def positive(value: str) -> int:
        number = int(value)
        if number < 1:
            raise ValueError(value)
        return number
