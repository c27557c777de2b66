"""`manage.py pghistory_export`: every event the filters keep, one line each, as JSON Lines or
CSV, to standard output or a file, streamed with PostgreSQL's COPY."""

from __future__ import annotations

import datetime
import io
import os
import uuid

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from pghistory import bulk_export
from pghistory.management.base import MaintenanceCommand


class Command(MaintenanceCommand):
    help = (
        "Export events, one line each (the stored row and its diff as JSON, ids instead of"
        " names), as JSON Lines (default) or CSV, filtered as the event browser filters."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--label", action="append", default=[], help="events with this label (repeatable)"
        )
        parser.add_argument("--user", help="events in contexts of this user (user name, or id)")
        parser.add_argument(
            "--since", help="events from this moment on (ISO date or date and time)"
        )
        parser.add_argument(
            "--until", help="events before this moment (a date alone: up to its end)"
        )
        parser.add_argument("--context", help="the events of one context (its uuid)")
        parser.add_argument("--format", default="jsonl", help="jsonl (default) or csv")
        parser.add_argument("--gzip", action="store_true", help="compress the output (gzip)")
        parser.add_argument(
            "--output",
            metavar="FILE",
            help="write to FILE, in full or not at all (standard output when omitted)",
        )

    def handle(self, *args, models, database, output, **options):
        format = options["format"]
        if format not in bulk_export.FORMATS:
            raise CommandError(
                f'Unknown format "{format}": use {" or ".join(bulk_export.FORMATS)}.'
            )
        selection = self.selection(models, database, options)
        if output is None:
            self.to_stdout(selection, format, options["gzip"], database)
            return
        try:
            target = bulk_export.Output(output)
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror or exc}.") from None
        try:
            written = self.write(target.file, selection, format, options["gzip"], database)
            target.commit()
        except OSError as exc:
            target.discard()
            raise CommandError(f"Cannot write {output}: {exc.strerror or exc}.") from None
        except BaseException:
            target.discard()
            raise
        self.stderr.write(f"{written} event{'s' * (written != 1)} written to {output}.")

    def to_stdout(self, selection, format, compress, database) -> None:
        stream = getattr(self.stdout, "_out", self.stdout)
        binary = getattr(stream, "buffer", None)
        if compress and stream.isatty():
            raise CommandError("Not writing gzip to a terminal: use --output FILE or a pipe.")
        if binary is None:  # a text stream (call_command's StringIO)
            if compress:
                raise CommandError("--gzip needs --output FILE or a binary standard output.")
            buffer = io.BytesIO()
            self.write(buffer, selection, format, False, database)
            stream.write(buffer.getvalue().decode())
            return
        try:
            stream.flush()
            self.write(binary, selection, format, compress, database)
            binary.flush()
        except BrokenPipeError:
            # The reader went away (`| head`). Python's own flush at exit would fail on the
            # closed pipe too, so standard output goes nowhere from now on.
            os.dup2(os.open(os.devnull, os.O_WRONLY), binary.fileno())
            raise CommandError("Standard output was closed before the export ended.") from None

    def write(self, out, selection, format, compress, database) -> int:
        """Write the export to `out`; the number of events."""
        progress = None
        stream = getattr(self.stderr, "_out", self.stderr)
        if stream.isatty():  # a bar on a terminal only: a log gets nothing but the summary
            progress = self.progress(bulk_export.count(selection, database), "exporting")
        with bulk_export.compressed(out, compress) as out:
            out.write(bulk_export.header(format))
            if progress is None:
                return bulk_export.write_events(out, selection, format=format, using=database)
            with progress:
                return bulk_export.write_events(
                    out, selection, format=format, using=database, on_rows=progress.advance
                )

    def selection(self, models, database, options) -> bulk_export.Selection:
        try:
            chosen = bulk_export.event_models_named(models, database)
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        return bulk_export.Selection(
            event_models=chosen,
            labels=tuple(options["label"]),
            user=self.user(options["user"]),
            since=self.moment("--since", options["since"]),
            until=self.moment("--until", options["until"], end_of_day=True),
            context=self.context(options["context"]),
        )

    @staticmethod
    def user(value):
        """A user's primary key, by user name or by id (of a user since deleted, too)."""
        if value is None:
            return None
        user_model = get_user_model()
        user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: value}).first()
        if user is not None:
            return user.pk
        try:
            return user_model._meta.pk.clean(value, None)
        except (ValidationError, TypeError, ValueError):
            raise CommandError(f'There is no user "{value}".') from None

    @staticmethod
    def moment(option, value, end_of_day=False) -> datetime.datetime | None:
        """An ISO date or date and time (in the current time zone unless it names one); a
        date alone is the start of that day, or with `end_of_day` of the next."""
        if value is None:
            return None
        try:
            day = parse_date(value)
            moment = parse_datetime(value) if day is None else None
        except ValueError:
            day = moment = None
        if day is not None:
            moment = datetime.datetime.combine(day, datetime.time())
            if end_of_day and day < datetime.date.max:
                moment += datetime.timedelta(days=1)
        if moment is None:
            raise CommandError(
                f'{option} "{value}" is not a date or a date and time'
                " (2026-11-27 or 2026-11-27T14:30)."
            )
        return timezone.make_aware(moment) if timezone.is_naive(moment) else moment

    @staticmethod
    def context(value) -> uuid.UUID | None:
        if value is None:
            return None
        try:
            return uuid.UUID(value)
        except ValueError:
            raise CommandError(f'--context "{value}" is not a uuid.') from None
