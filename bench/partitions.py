"""The cost of the history browser's pages on a partitioned event table next to a plain one,
and of dropping a month of events next to pruning it.

`run.py --only partitions` (and the full run) calls `run()`, which recreates a database of
its own (the bench database's name + `_parts`: `pghistory_bench_parts`) and runs this file in
a subprocess, on our side only:

    python bench/partitions.py --events N --repeat R --out FILE

Two event tables of the same shape, the write benchmark's `TrackedRowEvent` (plain) and
`TrackedStatementEvent` (partitioned by month with `pghistory.partitions.partition_table`,
as the migration operation does), get the same N events (1,000,000; 100,000 with --quick):
10 for each of N/10 objects, written over the last 365 days, the newest last. Then, side by
side, each page through Django's test client as a superuser (server time, median of R after a
warm-up request that counts the queries; `reads.ReadBench.page`), and once each: the oldest
full month removed by `pghistory_partitions --drop-older-than` on the partitioned table and by
`pghistory_prune` (the same events) on the plain one.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import sys
import time
from pathlib import Path

import benchutil
import ours
import reads
from benchutil import log

EVENTS = 1_000_000
QUICK_EVENTS = 100_000
EVENTS_PER_OBJECT = 10
SIDES = ("plain", "partitioned")


# -- run.py's side (no Django here) -----------------------------------------------------------


def run(config, url: str, recreate, run_child, log) -> dict:
    """Measure in a fresh `<bench database>_parts` database; return the JSON results."""
    events = QUICK_EVENTS if config.quick else EVENTS
    log(f"bench: partitioned vs plain event table, {events:,} events each")
    args = ["--events", str(events), "--repeat", str(config.repeat)]
    return benchutil.in_own_database(url, "_parts", recreate, run_child, "partitions.py", args)


def markdown(results: dict) -> str:
    """The partitions section of the report ("" when the part did not run)."""
    measured = results.get("partitions")
    if not measured:
        return ""
    pages = [
        [
            page["name"],
            f"{page['plain']['median_ms']:.1f} ms",
            f"{page['partitioned']['median_ms']:.1f} ms",
            f"{page['partitioned']['median_ms'] / page['plain']['median_ms']:.2f}",
            f"{page['plain']['queries']} / {page['partitioned']['queries']}",
        ]
        for page in measured["pages"]
    ]
    removal = measured["removal"]
    removals = [
        ["`pghistory_prune` (plain table)", f"{removal['events']:,}", f"{removal['prune_s']:.3f}"],
        [
            "`pghistory_partitions --drop-older-than` (partitioned)",
            f"{removal['events']:,}",
            f"{removal['drop_s']:.3f}",
        ],
    ]
    return (
        "\n## Partitioned event tables\n\n"
        f"{measured['events']:,} events in each of two event tables of the same shape, in the"
        f" database `{measured['database']}`: a plain one and one partitioned by month"
        f" ({measured['partitions']} partitions and a DEFAULT one; converted in"
        f" {measured['convert_s']:.1f} s). Server time of each page, median of"
        f" {measured['repeat']} (see `bench/partitions.py`).\n\n"
        + benchutil.table(
            ["page", "plain", "partitioned", "partitioned ÷ plain", "queries"], pages
        )
        + "\n"
        + benchutil.table(["removing the oldest month", "events", "seconds"], removals)
    )


# -- the measuring subprocess -----------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    # The write benchmark's settings: its app has the two tables, and they serve /history/.
    ours.setup("ours.settings", triggers=True)
    result = PartitionBench(args.events, args.repeat).run()
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))


class PartitionBench(reads.ReadBench):
    """Measures pages the way the read benchmark does, on two tables of its own."""

    def __init__(self, events: int, repeat: int):
        from benchapp.models import TrackedRow, TrackedStatement

        self.events = events
        self.repeat = repeat
        self.models = dict(zip(SIDES, (TrackedRow, TrackedStatement)))

    def sql(self, statement: str, params=None):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else None

    def table(self, side: str, events: bool = True) -> str:
        model = self.models[side]
        return (model.pgh_event_model if events else model)._meta.db_table

    def run(self) -> dict:
        from django.contrib.auth import get_user_model
        from django.test import Client

        self.fill()
        convert_s = self.partition()
        for side in SIDES:
            self.sql(f"VACUUM ANALYZE {self.table(side)}")
        admin = get_user_model().objects.create_superuser("bench", "b@example.com", "bench")
        self.client = Client()
        self.client.force_login(admin)

        from pghistory import partitions

        layout = partitions.layout_of(self.table("partitioned"))
        pages = [self.side_by_side(name, url) for name, url in self.urls()]
        removal = self.removal()
        return {
            "events": self.events,
            "repeat": self.repeat,
            "convert_s": round(convert_s, 2),
            "partitions": len(layout.partitions),
            "pages": pages,
            "removal": removal,
        }

    def fill(self) -> None:
        """The same events in both tables, with no trigger firing, and their objects."""
        from benchapp.models import Account

        started = time.perf_counter()
        account = Account.objects.create(name="bench").pk
        objects = self.events // EVENTS_PER_OBJECT
        self.sql("SET session_replication_role = replica")
        for side in SIDES:
            self.sql(
                f"INSERT INTO {self.table(side, events=False)}"
                " (id, number, text, amount, flag, moment, account_id)"
                " SELECT g, g, 'row ' || g, (g %% 1000) + 0.25, g %% 2 = 0, now(), %s"
                " FROM generate_series(1, %s) AS g",
                [account, objects],
            )
        # Event g is object ((g - 1) mod objects) + 1's, written (N - g) / N of a year ago.
        self.sql(
            f"INSERT INTO {self.table('plain')} (pgh_created_at, pgh_label, id, number, text,"
            " amount, flag, moment, account_id, pgh_obj_id)"
            " SELECT now() - (%s - g) * (interval '365 days' / %s),"
            " CASE WHEN g <= %s THEN 'insert' ELSE 'update' END, o, g, 'row ' || o,"
            " (g %% 1000) + 0.25, g %% 2 = 0, now(), %s, o"
            " FROM generate_series(1, %s) AS g, LATERAL (SELECT (g - 1) %% %s + 1 AS o) AS obj",
            [self.events, self.events, objects, account, self.events, objects],
        )
        columns = (
            "pgh_id, pgh_created_at, pgh_label, id, number, text, amount, flag, moment,"
            " account_id, pgh_obj_id"
        )
        self.sql(
            f"INSERT INTO {self.table('partitioned')} ({columns}) OVERRIDING SYSTEM VALUE"
            f" SELECT {columns} FROM {self.table('plain')} ORDER BY pgh_id"
        )
        self.sql(
            f"SELECT setval(pg_get_serial_sequence('{self.table('partitioned')}', 'pgh_id'),"
            f" (SELECT max(pgh_id) FROM {self.table('plain')}))"
        )
        self.sql("RESET session_replication_role")
        log(
            f"bench:   {self.events:,} events in each table in {time.perf_counter() - started:.1f} s"
        )

    def partition(self) -> float:
        from django.db import connection

        from pghistory import partitions

        started = time.perf_counter()
        with connection.schema_editor() as editor:
            partitions.partition_table(editor, self.table("partitioned"))
        seconds = time.perf_counter() - started
        log(f"bench:   {self.table('partitioned')} partitioned by month in {seconds:.1f} s")
        return seconds

    def urls(self):
        """(name, URL with {model} and {events} for either side) of each page."""
        (middle,) = self.sql(f"SELECT max(pgh_id) / 2 FROM {self.table('plain')}")[0]
        (since,) = self.sql("SELECT (now() - interval '100 days')::date")[0]
        until = since + datetime.timedelta(days=6)
        typical = self.events // EVENTS_PER_OBJECT // 2
        return [
            ("browser, page 1 (one model)", "/history/?model={model}"),
            ("browser, page 20 (one model)", "page 20 of /history/?model={model}"),
            ("browser, last page (one model)", "/history/?model={model}&last=1"),
            (
                "browser, a week 100 days ago",
                f"/history/?model={{model}}&since={since}&until={until}",
            ),
            ("event page", f"/history/event/{{events}}:{middle}/"),
            (
                f"timeline of an object ({EVENTS_PER_OBJECT} events over the year)",
                f"/history/object/{{model}}/{typical}/",
            ),
        ]

    def side_by_side(self, name: str, url: str) -> dict:
        entry = {"name": name}
        for side in SIDES:
            model = self.models[side]
            concrete = url.format(
                model=model._meta.label_lower, events=model.pgh_event_model._meta.label
            )
            if concrete.startswith("page 20 of "):
                concrete = concrete.removeprefix("page 20 of ")
                for _ in range(19):
                    concrete = self.older_link(concrete)
            entry[side] = self.page(f"{side}: {name}", concrete)
        return entry

    def removal(self) -> dict:
        """The oldest full month: dropped as a partition, pruned from the plain table."""
        from django.core.management import call_command

        from pghistory import maintenance, partitions

        layout = partitions.layout_of(self.table("partitioned"))
        oldest_full = layout.partitions[1]  # (the oldest holds only the end of its month)
        events = self.sql(
            f"SELECT count(*) FROM {self.table('plain')} WHERE pgh_created_at < %s",
            [oldest_full.end],
        )[0][0]
        now = maintenance.database_now()
        months = 0
        while partitions.age_cutoff(f"{months + 1}m", now) >= oldest_full.end:
            months += 1
        started = time.perf_counter()
        maintenance.prune(
            self.models["plain"].pgh_event_model, maintenance.OlderThan(oldest_full.end)
        )
        prune_s = time.perf_counter() - started
        started = time.perf_counter()
        call_command(
            "pghistory_partitions",
            "benchapp.TrackedStatement",
            "--drop-older-than",
            f"{months}m",
            "--ahead",
            "1",
            stdout=io.StringIO(),
        )
        drop_s = time.perf_counter() - started
        left = [self.sql(f"SELECT count(*) FROM {self.table(side)}")[0][0] for side in SIDES]
        if left[0] != left[1] or left[0] != self.events - events:
            raise RuntimeError(f"after removing {events:,} events: {left} left")
        log(
            f"bench:   the oldest month ({events:,} events): prune {prune_s:.2f} s,"
            f" drop {drop_s:.3f} s"
        )
        return {"events": events, "prune_s": round(prune_s, 3), "drop_s": round(drop_s, 3)}


if __name__ == "__main__":
    sys.exit(main())
