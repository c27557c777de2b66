"""What retiring a field of a 1,000,000-event table costs: the migration's time, and the
longest a concurrent writer waits meanwhile.

`run.py --only retire` (and the full run) calls `run()`, which recreates a database of its own
(the bench database's name + `_retire`) and runs this file in a subprocess:

    python bench/retire.py --events N --repeat R --out FILE

The tables have the shape of a tracked model and its event model: `items` (100,000 rows)
with a row-level trigger that writes each update into `item_events` (N events, with our event
indexes), both with R copies of a field `owner_<k>`. A writer (its own connection, autocommit)
updates one random item after another for the whole run and times each statement. Each
repetition is one migration, in one transaction, as `makemigrations` writes it for a removed
field: the trigger's function replaced by one that no longer writes `owner_<k>`, the column
dropped from `items` (Django's `RemoveField`), and the event table's column retired
(`pghistory.operations.RetireField`, through `pghistory.retired.retire_column`), or, for
comparison, dropped (what Django's `RemoveField` would do to the event table, and the values
with it). The report gives each migration's seconds and the writer's longest statement while
it ran, beside the writer's longest statement before any migration.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
from pathlib import Path

import benchutil
from benchutil import log, median

EVENTS = 1_000_000
QUICK_EVENTS = 100_000
ITEMS = 100_000
#: Seconds the writer runs alone first, and between migrations.
CALM_S = 2.0
KINDS = ("retire", "drop")


# -- run.py's side (no Django here) -----------------------------------------------------------


def run(config, url: str, recreate, run_child, log) -> dict:
    """Measure in a fresh `<bench database>_retire` database; return the JSON results."""
    events = QUICK_EVENTS if config.quick else EVENTS
    log(f"bench: retiring a field of a {events:,}-event table under a concurrent writer")
    args = ["--events", str(events), "--repeat", str(config.repeat)]
    return benchutil.in_own_database(url, "_retire", recreate, run_child, "retire.py", args)


def markdown(results: dict) -> str:
    """The retire section of the report ("" when the part did not run)."""
    measured = results.get("retire")
    if not measured:
        return ""
    rows = []
    for kind in KINDS:
        runs = measured["migrations"][kind]
        rows.append(
            [
                {"retire": "retire the event column (ours)", "drop": "drop it (Django's)"}[kind],
                f"{median([run['seconds'] for run in runs]) * 1000:.1f}",
                f"{max(run['seconds'] for run in runs) * 1000:.1f}",
                f"{median([run['longest_write_s'] for run in runs]) * 1000:.1f}",
                f"{max(run['longest_write_s'] for run in runs) * 1000:.1f}",
            ]
        )
    headers = [
        "event table's column",
        "migration ms (median)",
        "migration ms (max)",
        "writer's longest ms (median)",
        "writer's longest ms (max)",
    ]
    calm = measured["calm"]
    return (
        "\n## Retiring a field\n\n"
        f"A removed field's migration on an event table of {measured['events']:,} events"
        f" ({ITEMS:,} tracked rows), {measured['repeat']} migrations of each kind, in the"
        f" database `{measured['database']}` (see `bench/retire.py`): the trigger replaced, the"
        " tracked column dropped and the event column retired or dropped, in one transaction,"
        " while a writer updates tracked rows one statement at a time"
        f" ({calm['writes']:,} writes before the migrations: median"
        f" {calm['median_s'] * 1000:.2f} ms, longest {calm['longest_s'] * 1000:.1f} ms)."
        f" Retiring kept all {measured['retired_values']:,} recorded values of the retired"
        " columns.\n\n" + benchutil.table(headers, rows)
    )


# -- the measuring subprocess -----------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ours.reads_settings")
    import django

    django.setup()
    from django.db import connection

    fields = [f"owner_{k}" for k in range(len(KINDS) * args.repeat)]
    create(connection, fields, args.events)
    writer = Writer(os.environ["BENCH_DATABASE_URL"])
    writer.start()
    try:
        time.sleep(CALM_S)
        calm = writer.summary(0, time.perf_counter())
        migrations = {kind: [] for kind in KINDS}
        remaining = list(fields)
        for _ in range(args.repeat):
            for kind in KINDS:
                field = remaining.pop(0)
                started = time.perf_counter()
                migrate(connection, kind, field, remaining)
                ended = time.perf_counter()
                time.sleep(CALM_S)  # the writes waiting on the migration finish
                longest = writer.longest_during(started, ended)
                migrations[kind].append({"seconds": ended - started, "longest_write_s": longest})
                log(
                    f"bench:   {kind} {field}: {(ended - started) * 1000:.1f} ms, writer's"
                    f" longest {longest * 1000:.1f} ms"
                )
    finally:
        writer.stop()
    retired_values = count_retired_values(connection, migrations)
    result = {
        "events": args.events,
        "repeat": args.repeat,
        "calm": calm,
        "migrations": migrations,
        "writes": len(writer.samples),
        "errors": writer.errors,
        "retired_values": retired_values,
    }
    if writer.errors:
        raise RuntimeError(f"the writer failed: {writer.errors[:3]}")
    Path(args.out).write_text(json.dumps(result, indent=1))


def create(connection, fields: list[str], events: int) -> None:
    """The tracked table, its event table (filled), and the trigger between them."""
    owners = ", ".join(f"{field} integer" for field in fields)
    values = ", ".join("(i %% 1000)" for _ in fields)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE items (id integer PRIMARY KEY, name text, {owners})")
        cursor.execute(
            "CREATE TABLE item_events (pgh_id bigserial PRIMARY KEY,"
            " pgh_created_at timestamptz NOT NULL, pgh_label text NOT NULL,"
            f" pgh_obj_id integer, pgh_context_id uuid, id integer, name text, {owners})"
        )
        cursor.execute(
            f"INSERT INTO items SELECT i, 'item ' || i, {values} FROM generate_series(1, %s) i",
            [ITEMS],
        )
        cursor.execute(
            "INSERT INTO item_events (pgh_created_at, pgh_label, pgh_obj_id, id, name,"
            f" {', '.join(fields)}) SELECT now(), 'update', i %% {ITEMS} + 1,"
            f" i %% {ITEMS} + 1, 'item ' || i, {values} FROM generate_series(1, %s) i",
            [events],
        )
        cursor.execute("CREATE INDEX ON item_events (pgh_obj_id, pgh_id) INCLUDE (pgh_created_at)")
        cursor.execute("CREATE INDEX ON item_events (pgh_created_at, pgh_id)")
        cursor.execute("CREATE INDEX ON item_events (pgh_context_id)")
        cursor.execute(_trigger_function(fields))
        cursor.execute(
            "CREATE TRIGGER item_update AFTER UPDATE ON items FOR EACH ROW"
            " EXECUTE FUNCTION item_update()"
        )
        cursor.execute("VACUUM ANALYZE items")
        cursor.execute("VACUUM ANALYZE item_events")
    log(f"bench:   {events:,} events of {ITEMS:,} items, {len(fields)} owner fields")


def _trigger_function(fields: list[str]) -> str:
    columns = ", ".join(fields)
    new = ", ".join(f"NEW.{field}" for field in fields)
    return (
        "CREATE OR REPLACE FUNCTION item_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        f" INSERT INTO item_events (pgh_created_at, pgh_label, pgh_obj_id, id, name"
        f"{', ' + columns if fields else ''}) VALUES (now(), 'update', NEW.id, NEW.id,"
        f" NEW.name{', ' + new if fields else ''}); RETURN NULL; END $$"
    )


def migrate(connection, kind: str, field: str, remaining: list[str]) -> None:
    """One migration, in one transaction: the trigger, the tracked column, the event column."""
    from pghistory import retired

    with connection.schema_editor(atomic=True) as editor:
        editor.execute(_trigger_function(remaining))
        editor.execute(f"ALTER TABLE items DROP COLUMN {field}")
        if kind == "retire":
            described = retired.StoredColumn(
                key=field, column=field, name=field, verbose_name=field, reason=retired.REMOVED
            )
            retired.retire_column(editor, "item_events", described)
        else:
            editor.execute(f"ALTER TABLE item_events DROP COLUMN {field}")


def count_retired_values(connection, migrations: dict) -> int:
    """The values in the retired columns, checking that every event written before a
    column's retirement still holds its value there (each was filled for every event)."""
    from pghistory import retired

    retired.forget()
    columns = retired.history("item_events").retired
    if len(columns) != len(migrations["retire"]):
        raise RuntimeError(f"expected {len(migrations['retire'])} retired columns: {columns}")
    total = 0
    with connection.cursor() as cursor:
        for column in columns:
            cursor.execute(
                f"SELECT count(*), count({column.column}) FROM item_events"
                f" WHERE pgh_generation < {column.until}"
            )
            recorded, kept = cursor.fetchone()
            if kept != recorded:
                raise RuntimeError(f"{column.column}: {recorded - kept} values lost")
            total += kept
    return total


class Writer(threading.Thread):
    """Updates one random item after another on its own connection, timing each statement."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        import psycopg

        self.connection = psycopg.connect(**benchutil.libpq_kwargs(url), autocommit=True)
        self.samples: list[tuple[float, float]] = []  # (start, seconds)
        self.errors: list[str] = []
        self._stopping = threading.Event()

    def run(self) -> None:
        rng = random.Random(3)
        loop = 0
        while not self._stopping.is_set():
            loop += 1
            started = time.perf_counter()
            try:
                self.connection.execute(
                    "UPDATE items SET name = %s WHERE id = %s",
                    [f"writer {loop}", rng.randint(1, ITEMS)],
                )
            except Exception as error:  # noqa: BLE001 (reported, and the run fails)
                self.errors.append(repr(error))
                return
            self.samples.append((started, time.perf_counter() - started))

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=30)
        self.connection.close()

    def summary(self, since: float, until: float) -> dict:
        latencies = [seconds for start, seconds in self.samples if since <= start < until]
        return {
            "writes": len(latencies),
            "median_s": median(latencies),
            "longest_s": max(latencies),
        }

    def longest_during(self, started: float, ended: float) -> float:
        """The longest write that was running at some moment between `started` and `ended`."""
        return max(
            (
                seconds
                for start, seconds in list(self.samples)
                if start <= ended and start + seconds >= started
            ),
            default=0.0,
        )


if __name__ == "__main__":
    main()
