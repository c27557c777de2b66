"""`manage.py pghistory_stats`: the size and growth of every event table."""

from __future__ import annotations

import json

from django.template.defaultfilters import filesizeformat

from pghistory import maintenance
from pghistory.management.base import MaintenanceCommand

COLUMNS = (
    "event model",
    "tracked model",
    "events",
    "planner estimate",
    "size",
    "last 7 days (/day)",
    "last 30 days (/day)",
    "oldest",
    "newest",
)


class Command(MaintenanceCommand):
    help = (
        "Per event model: its events (counted, or the planner's estimate above"
        f" {maintenance.EXACT_COUNT_LIMIT:,} unless --exact), table and index size, events"
        " in the last 7 and 30 days, and the oldest and newest event."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--format", choices=("table", "json"), default="table")
        parser.add_argument(
            "--exact", action="store_true", help="count every table, however large"
        )

    def handle(self, *args, models, format, exact, database, **options):
        stats = maintenance.table_stats(
            self.event_models(models),
            exact_up_to=None if exact else maintenance.EXACT_COUNT_LIMIT,
            using=database,
        )
        if format == "json":
            self.stdout.write(json.dumps([table.as_json() for table in stats], indent=2))
            return
        rows = [COLUMNS, *(self.row(table) for table in stats)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
        for row in rows:
            line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths))
            self.stdout.write(line.rstrip())
        if any(table.estimated for table in stats):
            self.stdout.write("~ the planner's estimate: --exact counts those tables too.")

    @staticmethod
    def row(table: maintenance.TableStats) -> tuple[str, ...]:
        def moment(value):
            return value.isoformat(sep=" ", timespec="seconds") if value else "-"

        return (
            table.label,
            table.tracked_label,
            f"{'~' if table.estimated else ''}{table.events:,}",
            "-" if table.planner_estimate is None else f"{table.planner_estimate:,}",
            filesizeformat(table.total_bytes).replace("\xa0", " "),
            f"{table.last_7_days:,} ({table.per_day_7:,.1f})",
            f"{table.last_30_days:,} ({table.per_day_30:,.1f})",
            moment(table.oldest),
            moment(table.newest),
        )
