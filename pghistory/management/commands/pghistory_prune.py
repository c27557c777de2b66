"""`manage.py pghistory_prune`: delete events older than an age, or all but each object's
newest few, optionally archiving them to a file first."""

from __future__ import annotations

from django.core.management.base import CommandError

from pghistory import bulk_export, maintenance, tables
from pghistory.management.base import MaintenanceCommand


class Command(MaintenanceCommand):
    help = (
        "Delete events older than an age (--older-than 90d) or all but the newest N of each"
        " object (--keep-last N), in short batches. Events written while it runs are kept."
        " Append-only event models are refused unless --allow-append-only is given."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        rule = parser.add_mutually_exclusive_group(required=True)
        rule.add_argument(
            "--older-than",
            metavar="AGE",
            help="delete events older than AGE: hours, days or weeks (12h, 90d, 4w)",
        )
        rule.add_argument(
            "--keep-last",
            metavar="N",
            type=self.positive,
            help="keep the N newest events of each object, delete the others",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would go, delete nothing"
        )
        parser.add_argument(
            "--batch-size",
            type=self.positive,
            default=5_000,
            help="events per batch, each in its own transaction (5000)",
        )
        parser.add_argument(
            "--archive",
            metavar="FILE",
            help="first write the events to delete to FILE, as pghistory_export's JSON Lines"
            " (gzip if FILE ends in .gz), flushed to disk; nothing is deleted unless all of"
            " them are written",
        )
        parser.add_argument(
            "--allow-append-only",
            action="store_true",
            help="delete from append-only event models too, lifting their protection for"
            " this command's own transactions only",
        )

    def handle(
        self,
        *args,
        models,
        older_than,
        keep_last,
        dry_run,
        batch_size,
        allow_append_only,
        archive,
        database,
        **options,
    ):
        if archive is not None and dry_run:
            raise CommandError(
                "--dry-run deletes nothing and --archive archives what it deletes: choose one."
            )
        event_models = self.event_models(models)
        protected = [m._meta.label for m in event_models if tables.is_append_only(m)]
        if protected and not allow_append_only:
            raise CommandError(
                f"{', '.join(protected)}: append-only event model{'s' * (len(protected) > 1)},"
                " whose events are kept on purpose. Nothing was deleted. Name the other models,"
                " or pass --allow-append-only to delete from these too."
            )
        rule = self.rule(older_than, keep_last, database)
        if archive is not None:
            self.archive_and_prune(
                archive, event_models, rule, batch_size, allow_append_only, database
            )
            return

        total = 0
        verb = "would delete" if dry_run else "deleted"
        for event_model in self.prunable(event_models, rule):
            name = event_model._meta.label
            count = rule.count(event_model, database)
            if not dry_run and count:
                with self.progress(count, name) as progress:
                    count = maintenance.prune(
                        event_model,
                        rule,
                        batch_size=batch_size,
                        using=database,
                        allow_append_only=allow_append_only,
                        on_batch=progress.advance,
                    )
            total += count
            self.stdout.write(f"{name}: {verb} {count} event{'s' * (count != 1)}")
        self.stdout.write(
            f"{'Would delete' if dry_run else 'Deleted'} {total} event{'s' * (total != 1)}"
            f" in all{' (dry run: nothing was deleted)' if dry_run else ''}."
        )

    def prunable(self, event_models, rule) -> list:
        """The event models the rule applies to (the others said to be skipped)."""
        chosen = []
        for event_model in event_models:
            try:
                rule.check(event_model)
            except tables.Unsupported as exc:
                self.stderr.write(f"{event_model._meta.label}: skipped, {exc}.")
            else:
                chosen.append(event_model)
        return chosen

    def archive_and_prune(
        self, path, event_models, rule, batch_size, allow_append_only, database
    ) -> None:
        """Write every event to delete to `path`, flushed to disk, then delete exactly those:
        if the archive cannot be written in full, nothing is deleted."""
        try:
            target = bulk_export.Output(path, exclusive=True)
        except OSError as exc:
            raise CommandError(
                f"Cannot write the archive {path}: {exc.strerror or exc}. Nothing was deleted."
            ) from None
        selected, archived = {}, 0
        try:
            with bulk_export.compressed(target.file, str(path).endswith(".gz")) as out:
                for event_model in self.prunable(event_models, rule):
                    count = rule.count(event_model, database)
                    name = event_model._meta.label
                    with self.progress(count, f"{name} (archiving)") as progress:

                        def write(pgh_ids, event_model=event_model):
                            only = bulk_export.Selection(
                                event_models=(event_model,), pgh_ids=tuple(pgh_ids)
                            )
                            progress.advance(bulk_export.write_events(out, only, using=database))

                        selected[event_model] = maintenance.select_pruned(
                            event_model,
                            rule,
                            batch_size=batch_size,
                            using=database,
                            allow_append_only=allow_append_only,
                            on_batch=write,
                        )
                    archived += sum(map(len, selected[event_model]))
            target.commit()
        except OSError as exc:
            target.discard()
            raise CommandError(
                f"Cannot write the archive {path}: {exc.strerror or exc}. Nothing was deleted."
            ) from None
        except BaseException:
            target.discard()
            raise
        self.stdout.write(f"Archived {archived} event{'s' * (archived != 1)} to {path}.")

        total = 0
        for event_model, batches in selected.items():
            name = event_model._meta.label
            with self.progress(sum(map(len, batches)), name) as progress:
                count = maintenance.delete_selected(
                    event_model,
                    batches,
                    using=database,
                    allow_append_only=allow_append_only,
                    on_batch=progress.advance,
                )
            total += count
            self.stdout.write(f"{name}: deleted {count} event{'s' * (count != 1)}")
        self.stdout.write(f"Deleted {total} event{'s' * (total != 1)} in all.")

    def rule(self, older_than, keep_last, database) -> maintenance.PruneRule:
        if keep_last is not None:
            self.stdout.write(f"Events beyond the {keep_last} newest of each object:")
            return maintenance.KeepLast(keep_last)
        try:
            age = tables.parse_duration(older_than)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        cutoff = tables.database_now(database) - age
        self.stdout.write(f"Events older than {older_than}, written before {cutoff.isoformat()}:")
        return maintenance.OlderThan(cutoff)
