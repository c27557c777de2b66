"""Throughput of `pghistory_export` (and so of `pghistory_prune --archive`, which writes
through it) over 1,000,000 events (100,000 with --quick): rows/s of each format, beside the
floors that show where the time goes.

`run.py --only bulk-export` (and the full run) calls `run()`, which recreates a database of
its own (the bench database's name + `_bulk`) and runs this file in a subprocess, on our side
only, with the write benchmark's `TrackedRow` model:

    python bench/bulk_export.py --events N --repeat R --out FILE

The history: N/10 rows with 10 events each (an insert, then 9 updates of two columns),
interleaved as updates over time are, each in one of 1,000 contexts (a user and a URL).
Each step writes every event to a file in a temporary directory and is timed R times, in
turns (step 1, 2, ... then again), and the median is kept:

  COPY table      `COPY <event table> TO STDOUT` (Postgres' own text rows: no JSON, no
                  context, no diff), through the same loop: the floor of any export
  rows, no diff   the export's JSON Lines with every diff left null (no previous event read)
  jsonl / csv     `call_command("pghistory_export", "--output", FILE)`, as an operator runs it
  ... --gzip      the same, compressed
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import benchutil
import ours
from benchutil import log

EVENTS = 1_000_000
QUICK_EVENTS = 100_000
EVENTS_PER_OBJECT = 10
CONTEXTS = 1_000
#: rows/s the issue asks of the export at 1,000,000 events.
TARGET = 250_000


# -- run.py's side (no Django here) -----------------------------------------------------------


def run(config, url: str, recreate, run_child, log) -> dict:
    """Measure in a fresh `<bench database>_bulk` database; return the JSON results."""
    events = QUICK_EVENTS if config.quick else EVENTS
    log(f"bench: pghistory_export over {events:,} events ({config.repeat} runs each)")
    args = ["--events", str(events), "--repeat", str(config.repeat)]
    return benchutil.in_own_database(url, "_bulk", recreate, run_child, "bulk_export.py", args)


def markdown(results: dict) -> str:
    """The bulk export section of the report ("" when the part did not run)."""
    bulk = results.get("bulk_export")
    if not bulk:
        return ""
    floor = bulk["steps"][0]["rows_per_s"]
    rows = [
        [
            step["what"],
            f"{step['seconds']:.2f}",
            f"{step['rows_per_s']:,}",
            f"{step['rows_per_s'] / floor:.2f}",
            f"{step['bytes']:,}",
        ]
        for step in bulk["steps"]
    ]
    return (
        "\n## Bulk export (`pghistory_export`)\n\n"
        f"{bulk['events']:,} events of `benchapp.TrackedRow` in the database"
        f" `{bulk['database']}`; the median of {bulk['repeat']} runs of each, in turns; the"
        f" target is {TARGET:,} rows/s (see `bench/bulk_export.py`).\n\n"
        + benchutil.table(
            ["what", "seconds", "rows/s", "of COPY table's rows/s", "bytes written"], rows
        )
    )


# -- the measuring subprocess -----------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    # The write benchmark's settings: they include benchapp, whose TrackedRow this measures.
    ours.setup("ours.settings", triggers=True)
    result = ExportBench(args.events, args.repeat).run()
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))


class ExportBench:
    def __init__(self, events: int, repeat: int):
        from benchapp.models import TrackedRow

        self.events = events
        self.repeat = repeat
        self.event_model = TrackedRow.pgh_event_model

    def run(self) -> dict:
        from django.core.management import call_command

        from pghistory import bulk_export

        self.fill()
        label = self.event_model._meta.label
        table = self.event_model._meta.db_table
        everything = bulk_export.Selection(event_models=(self.event_model,))
        no_diff, params = bulk_export.copy_sql(
            self.event_model, everything, "jsonl", with_diff=False
        )

        def command(*args):
            def export(path: Path) -> None:
                call_command("pghistory_export", label, "--output", str(path), *args)

            return export

        steps = {
            "`COPY` of the event table (text rows, no JSON)": self.copy(
                f'COPY "{table}" TO STDOUT'
            ),
            "JSON Lines, every diff left null": self.copy(no_diff, params),
            "`pghistory_export` (JSON Lines)": command(),
            "`pghistory_export --format csv`": command("--format", "csv"),
            "`pghistory_export --gzip`": command("--gzip"),
            "`pghistory_export --format csv --gzip`": command("--format", "csv", "--gzip"),
        }
        samples: dict[str, list] = {what: [] for what in steps}
        sizes: dict[str, int] = {}
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "events"
            for turn in range(self.repeat):
                for what, step in steps.items():
                    started = time.perf_counter()
                    step(path)
                    samples[what].append(time.perf_counter() - started)
                    sizes[what] = path.stat().st_size
                    path.unlink()
                    log(f"bench:   {what} (run {turn + 1}): {samples[what][-1]:.2f} s")
        results = []
        for what, times in samples.items():
            seconds = benchutil.median(times)
            results.append(
                {
                    "what": what,
                    "seconds": round(seconds, 3),
                    "samples": [round(t, 3) for t in times],
                    "rows_per_s": round(self.events / seconds),
                    "bytes": sizes[what],
                }
            )
        return {"events": self.events, "repeat": self.repeat, "steps": results}

    def copy(self, statement: str, params=None):
        """A step that writes the rows of `statement` (a `COPY ... TO STDOUT`) to a file as
        the export does: each row as psycopg hands it over."""
        from django.db import connection

        def step(path: Path) -> None:
            with connection.cursor() as cursor, path.open("wb") as out:
                raw = cursor.cursor
                with raw.copy(statement, params) as copy:
                    for row in copy:
                        out.write(bytes(row))

        return step

    def fill(self) -> None:
        """N events of N/10 objects, each in one of the contexts, written in plain SQL."""
        from benchapp.models import Account
        from django.db import connection

        started = time.perf_counter()
        account = Account.objects.create(name="bench")
        objects = self.events // EVENTS_PER_OBJECT
        events = self.event_model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO pghistory_context (id, created_at, updated_at, metadata)"
                " SELECT gen_random_uuid(), now(), now(),"
                " jsonb_build_object('user', g, 'url', '/orders/' || g || '/')"
                " FROM generate_series(1, %s) AS g",
                [CONTEXTS],
            )
            cursor.execute(
                f'INSERT INTO "{events}" (pgh_created_at, pgh_label, id, number, text, amount,'
                " flag, moment, account_id, pgh_obj_id, pgh_context_id)"
                " SELECT now() - (%s - lap) * interval '1 day' + o * interval '1 ms',"
                " CASE WHEN lap = 1 THEN 'insert' ELSE 'update' END, o, o + lap,"
                " 'row ' || o || ' of lap ' || lap, (o %% 1000) + lap * 0.25, o %% 2 = 0,"
                " now(), %s, o, contexts.ids[1 + (o + lap) %% %s]"
                " FROM generate_series(1, %s) AS lap CROSS JOIN generate_series(1, %s) AS o,"
                " (SELECT array_agg(id ORDER BY id) AS ids FROM pghistory_context) AS contexts"
                " ORDER BY lap, o",
                [EVENTS_PER_OBJECT, account.pk, CONTEXTS, EVENTS_PER_OBJECT, objects],
            )
            cursor.execute(f'VACUUM ANALYZE "{events}"')
            cursor.execute("VACUUM ANALYZE pghistory_context")
            cursor.execute("CHECKPOINT")
        log(
            f"bench:   {self.events:,} events of {objects:,} rows in"
            f" {time.perf_counter() - started:.1f} s"
        )


if __name__ == "__main__":
    sys.exit(main())
