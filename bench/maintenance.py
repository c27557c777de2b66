"""Throughput of the maintenance commands: `pghistory_backfill` and `pghistory_prune` over
1,000,000 rows (100,000 with --quick), and `pghistory_stats --exact` over the events.

`run.py --only maintenance` (and the full run) calls `run()`, which recreates a database of
its own (the bench database's name + `_maint`) and runs this file in a subprocess, on our side
only, with the write benchmark's `TrackedRow` model (insert, update and delete events):

    python bench/maintenance.py --rows N --out FILE

Each command runs once, through `call_command`, as an operator would run it:

  backfill         N rows filled with no trigger firing (no history), then one snapshot each
                   (batches of 10,000)
  backfill again   the same command again: it checks the N rows and writes nothing
  stats            `pghistory_stats --exact` over the N events
  prune by age     the N snapshots moved 100 days back, then `--older-than 90d` deletes them
                   all (batches of 5,000)
  prune keep-last  N events, 10 for each of N/10 objects (interleaved, as updates over time
                   are), then `--keep-last 1` deletes 9 in 10 (batches of 5,000)

The prunes' times include the count each does first (its progress bar's total). The event
table is vacuumed and analyzed before each timed command, as it would be in production, and a
checkpoint writes out what the preparation left in the WAL.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import benchutil
import ours
from benchutil import log

ROWS = 1_000_000
QUICK_ROWS = 100_000
EVENTS_PER_OBJECT = 10


# -- run.py's side (no Django here) -----------------------------------------------------------


def run(config, url: str, recreate, run_child, log) -> dict:
    """Measure in a fresh `<bench database>_maint` database; return the JSON results."""
    rows = QUICK_ROWS if config.quick else ROWS
    log(f"bench: maintenance commands over {rows:,} rows (one run each)")
    return benchutil.in_own_database(
        url, "_maint", recreate, run_child, "maintenance.py", ["--rows", str(rows)]
    )


def markdown(results: dict) -> str:
    """The maintenance section of the report ("" when the part did not run)."""
    maintenance = results.get("maintenance")
    if not maintenance:
        return ""
    rows = [
        [
            f"`{step['command']}`",
            step["what"],
            f"{step['rows']:,}",
            f"{step['seconds']:.2f}",
            f"{step['rows_per_s']:,}" if step.get("rows_per_s") else "–",
        ]
        for step in maintenance["steps"]
    ]
    return (
        "\n## Maintenance commands\n\n"
        f"Over {maintenance['rows']:,} rows of `benchapp.TrackedRow`, in the database"
        f" `{maintenance['database']}`; one run each, through `call_command` (see"
        " `bench/maintenance.py`).\n\n"
        + benchutil.table(["command", "what", "rows", "seconds", "rows/s"], rows)
    )


# -- the measuring subprocess -----------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    # The write benchmark's settings: they include benchapp, whose TrackedRow this measures.
    ours.setup("ours.settings", triggers=True)
    result = MaintenanceBench(args.rows).run()
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))


class MaintenanceBench:
    def __init__(self, rows: int):
        from benchapp.models import Account, TrackedRow

        self.rows = rows
        self.model = TrackedRow
        self.event_model = TrackedRow.pgh_event_model
        self.account = Account.objects.create(name="bench")
        self.steps: list[dict] = []

    def run(self) -> dict:
        self.fill()
        label = self.model._meta.label
        self.timed(
            "backfill", "a snapshot of each row", "pghistory_backfill", label, expect=self.rows
        )
        self.timed(
            "backfill", "again: every row checked, none written", "pghistory_backfill", label
        )
        self.timed("stats", "every event counted", "pghistory_stats", label, "--exact")

        self.sql(f"UPDATE {self.events} SET pgh_created_at = now() - interval '100 days'")
        self.timed(
            "prune",
            "every event (all 100 days old)",
            "pghistory_prune",
            label,
            "--older-than",
            "90d",
            expect=0,
        )

        objects = self.rows // EVENTS_PER_OBJECT
        self.sql(
            f"INSERT INTO {self.events} (pgh_created_at, pgh_label, id, number, text, amount,"
            " flag, moment, account_id, pgh_obj_id)"
            " SELECT now(), 'update', t.id, t.number + lap, t.text, t.amount, t.flag,"
            " t.moment, t.account_id, t.id"
            f" FROM generate_series(1, {EVENTS_PER_OBJECT}) AS lap"
            f" CROSS JOIN {self.table} t WHERE t.id <= {objects} ORDER BY lap, t.id"
        )
        self.timed(
            "prune",
            f"{EVENTS_PER_OBJECT - 1} of each object's {EVENTS_PER_OBJECT} events",
            "pghistory_prune",
            label,
            "--keep-last",
            "1",
            expect=objects,
        )
        return {"rows": self.rows, "steps": self.steps}

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    @property
    def events(self) -> str:
        return self.event_model._meta.db_table

    def sql(self, statement: str, params=None) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(statement, params)

    def fill(self) -> None:
        """The rows, with no trigger firing: rows that predate their tracking."""
        started = time.perf_counter()
        self.sql("SET session_replication_role = replica")
        self.sql(
            f"INSERT INTO {self.table} (number, text, amount, flag, moment, account_id)"
            " SELECT g, 'row ' || g, (g %% 1000) + 0.25, g %% 2 = 0,"
            " now() - g * interval '1 second', %s FROM generate_series(1, %s) AS g",
            [self.account.pk, self.rows],
        )
        self.sql("RESET session_replication_role")
        self.sql(f"VACUUM ANALYZE {self.table}")
        log(
            f"bench:   {self.rows:,} rows without history in {time.perf_counter() - started:.1f} s"
        )

    def count_events(self) -> int:
        return self.event_model.objects.count()

    def timed(self, name, what, command, *args, expect=None) -> None:
        """Run `command` once and record its time; `expect`: the events it must leave."""
        from django.core.management import call_command

        self.sql(f"VACUUM ANALYZE {self.events}")
        self.sql("CHECKPOINT")  # the WAL of what came before is not this command's to write
        before = self.count_events()
        out = io.StringIO()
        started = time.perf_counter()
        call_command(command, *args, stdout=out, stderr=io.StringIO())
        seconds = time.perf_counter() - started
        after = self.count_events()
        if expect is not None and after != expect:
            raise RuntimeError(f"{command} {args}: {after:,} events left, not {expect:,}")
        # Prunes: the events they deleted; the others: the rows or events they went through.
        rows = before - after if name == "prune" else self.rows
        step = {
            "name": name,
            "command": " ".join([command, *args]),
            "what": what,
            "rows": rows,
            "events_before": before,
            "events_after": after,
            "seconds": round(seconds, 3),
            "rows_per_s": round(rows / seconds) if seconds else None,
            "output": out.getvalue().splitlines()[-1],
        }
        self.steps.append(step)
        log(
            f"bench:   {step['command']}: {rows:,} rows in {seconds:.2f} s"
            f" ({step['rows_per_s']:,} rows/s)"
        )


if __name__ == "__main__":
    sys.exit(main())
