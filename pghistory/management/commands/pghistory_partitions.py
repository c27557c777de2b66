"""`manage.py pghistory_partitions`: create the coming partitions of partitioned event tables
and drop the expired ones."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.db import OperationalError

from pghistory import partitions, tables
from pghistory.management.base import MaintenanceCommand


def _events(count: int) -> str:
    return f"{count:,} event{'s' * (count != 1)}"


class Command(MaintenanceCommand):
    help = (
        "For event tables partitioned by pghistory.operations.PartitionEventTable: create the"
        " partitions of the current period and the next --ahead ones (moving their events out"
        " of the DEFAULT partition), and with --drop-older-than, drop the partitions that end"
        " before that age, at once. Running it again changes nothing. Append-only event models"
        " are refused a drop unless --allow-append-only is given."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--ahead",
            type=int,
            default=3,
            metavar="N",
            help="create the partitions of the current period and the N next (3)",
        )
        parser.add_argument(
            "--drop-older-than",
            metavar="AGE",
            help="drop the partitions whose events are all older than AGE: months or years"
            " (12m, 1y), or hours, days or weeks (12h, 90d, 4w)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would be done, change nothing"
        )
        parser.add_argument(
            "--allow-append-only",
            action="store_true",
            help="drop partitions of append-only event models too",
        )

    def handle(
        self,
        *args,
        models,
        ahead,
        drop_older_than,
        dry_run,
        allow_append_only,
        database,
        **options,
    ):
        if ahead < 0:
            raise CommandError("--ahead cannot be negative.")
        chosen = self.event_models(models)
        layouts = {}
        for event_model in chosen:
            try:
                layouts[event_model] = partitions.check(event_model, database)
            except tables.Unsupported as exc:
                if models:  # (with none named, plain event tables are simply not concerned)
                    self.stderr.write(f"{event_model._meta.label}: skipped, {exc}.")
        if not layouts:
            self.stdout.write("No partitioned event tables.")
            return

        now = tables.database_now(database)
        drop_before = None
        if drop_older_than is not None:
            try:
                drop_before = partitions.age_cutoff(drop_older_than, now)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            protected = [m._meta.label for m in layouts if tables.is_append_only(m)]
            if protected and not allow_append_only:
                raise CommandError(
                    f"{', '.join(protected)}: append-only event model"
                    f"{'s' * (len(protected) > 1)}, whose events are kept on purpose. Nothing"
                    " was changed. Name the other models, or pass --allow-append-only to drop"
                    " their partitions too."
                )
            self.stdout.write(
                f"Partitions whose events are all older than {drop_older_than}"
                f" (before {drop_before.isoformat()}) go."
            )

        created = dropped = 0
        for event_model in layouts:
            plan = partitions.plan(
                event_model, ahead=ahead, drop_before=drop_before, now=now, using=database
            )
            if not dry_run:
                try:
                    plan = partitions.apply(
                        plan, using=database, allow_append_only=allow_append_only
                    )
                except OperationalError as exc:
                    raise CommandError(
                        f"{event_model._meta.label}: {str(exc).strip()}. The steps done until"
                        " then stay done; run the command again for the others."
                    ) from None
            self.report(plan, dry_run)
            created += len(plan.create)
            dropped += len(plan.drop)
        self.stdout.write(
            f"{'Would create' if dry_run else 'Created'} {created} and"
            f" {'would drop' if dry_run else 'dropped'} {dropped}"
            f" partition{'s' * (dropped != 1)}"
            f"{' (dry run: nothing was changed)' if dry_run else ''}."
        )

    def report(self, plan: partitions.Plan, dry_run: bool) -> None:
        label = plan.event_model._meta.label
        if not plan.create and not plan.drop:
            self.stdout.write(f"{label}: up to date")
        for creation in plan.create:
            partition = creation.partition
            moved = ""
            if creation.moved:
                verb = "moving" if dry_run else "moved"
                moved = f", {verb} {_events(creation.moved)} out of the DEFAULT partition"
            self.stdout.write(
                f"{label}: {'would create' if dry_run else 'created'} {partition.name}"
                f" ({partition.start.date()} to {partition.end.date()}){moved}"
            )
        for dropping in plan.drop:
            self.stdout.write(
                f"{label}: {'would drop' if dry_run else 'dropped'} {dropping.partition.name}"
                f" ({_events(dropping.events)})"
            )
