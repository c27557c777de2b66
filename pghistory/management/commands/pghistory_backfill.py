"""`manage.py pghistory_backfill`: a snapshot event of every row that has no history yet."""

from __future__ import annotations

import json

from django.core.management.base import CommandError

import pghistory
from pghistory import maintenance, tables
from pghistory.management.base import MaintenanceCommand


class Command(MaintenanceCommand):
    help = (
        "Record one event (label 'snapshot') of each row of tracked models that has no event"
        " yet, so that its history has a starting point. Rows with history get nothing, and"
        " running it again adds nothing. Every event of one run shares one context."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--label", default=maintenance.SNAPSHOT_LABEL, help='the events\' label ("snapshot")'
        )
        parser.add_argument(
            "--context",
            default='{"reason": "backfill"}',
            help='the context metadata, a JSON object (\'{"reason": "backfill"}\')',
        )
        parser.add_argument(
            "--batch-size",
            type=self.positive,
            default=10_000,
            help="rows per batch, each in its own transaction (10000)",
        )

    def handle(self, *args, models, label, context, batch_size, database, **options):
        try:
            metadata = json.loads(context)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--context is not JSON: {exc}") from None
        if not isinstance(metadata, dict):
            raise CommandError('--context must be a JSON object, such as \'{"reason": "x"}\'.')
        if not label.strip():
            raise CommandError("--label cannot be empty.")

        written = 0
        with pghistory.context(**metadata) as active:
            for event_model in self.event_models(models):
                name = event_model._meta.label
                try:
                    maintenance.check_backfill(event_model)
                except tables.Unsupported as exc:
                    self.stderr.write(f"{name}: skipped, {exc}.")
                    continue
                total = maintenance.tracked_rows(event_model, database)
                with self.progress(total, name) as progress:
                    done = maintenance.backfill(
                        event_model,
                        label=label,
                        batch_size=batch_size,
                        using=database,
                        on_batch=progress.advance,
                    )
                written += done.written
                self.stdout.write(
                    f"{name}: {done.written} {label} event{'s' * (done.written != 1)} written,"
                    f" {done.checked - done.written} of {done.checked} rows had history already"
                )
        if written:
            self.stdout.write(f"{written} events written, in context {active.id}.")
        else:
            self.stdout.write("Nothing to backfill: every row has history already.")
