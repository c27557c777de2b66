"""The concurrent load of the upgrade part: one process that writes, or one that reads, the
upgraded project's tables while its migration runs (see upgrade.py). psycopg only, no Django.

    python bench/upgrade_load.py writer|reader --url URL --items N --notes N
        --stop FILE --ready FILE --out FILE [--seconds S] [--max-ops N]

It loops as fast as it can on one autocommit connection, one statement a loop, and times
each one. It stops when the file `--stop` exists, after `--seconds`, or after `--max-ops`
statements, whichever comes first, then writes every statement's wall-clock start
(`time.time()`, to compare with the migration's), latency, kind and outcome to `--out`.

The writer: nine loops in ten update one random `inventory.Item` to a `number` no other
write uses (`UNIQUE_BASE` + the loop's index), so each of its updates is an event of its own
that can be counted afterwards; every twentieth loop inserts an item named `writer <loop>`,
and every twentieth (offset by ten) updates a random `inventory.Note` (tracked by a
statement-level trigger) to the body `writer <loop>`.

The reader: the tracked row by primary key, and that row's ten newest events (the event
table's object index), in turn.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time

import benchutil
import psycopg

#: The writer's updates set `number` to this plus their loop's index (3.9's events of the
#: fill stay far below it).
UNIQUE_BASE = 1_000_000_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=("writer", "reader"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--notes", type=int, required=True)
    parser.add_argument("--stop", required=True)
    parser.add_argument("--ready", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--max-ops", type=int, default=3_000_000)
    args = parser.parse_args()

    conn = psycopg.connect(
        **benchutil.libpq_kwargs(args.url),
        autocommit=True,
        application_name=f"upgrade-{args.role}",
    )
    rng = random.Random(7 if args.role == "writer" else 11)
    step = writer_step if args.role == "writer" else reader_step
    starts: list[float] = []
    latencies: list[float] = []
    kinds: list[str] = []
    errors: list[list] = []
    deadline = time.monotonic() + args.seconds
    with open(args.ready, "w"):
        pass
    loop = 0
    while loop < args.max_ops and time.monotonic() < deadline and not os.path.exists(args.stop):
        started_wall = time.time()
        started = time.perf_counter()
        try:
            kind = step(conn, loop, rng, args.items, args.notes)
        except psycopg.Error as error:
            kind = "error"
            errors.append([loop, started_wall, type(error).__name__, str(error)[:300]])
        latencies.append(time.perf_counter() - started)
        starts.append(started_wall)
        kinds.append(kind)
        loop += 1
    conn.close()
    with open(args.out, "w") as out:
        json.dump(
            {
                "role": args.role,
                "starts": starts,
                "latencies": latencies,
                "kinds": kinds,
                "errors": errors,
            },
            out,
        )


def writer_step(conn, loop: int, rng: random.Random, items: int, notes: int) -> str:
    if loop % 20 == 0:
        conn.execute(
            "INSERT INTO inventory_item (name, number, price) VALUES (%s, %s, 1)",
            (f"writer {loop}", UNIQUE_BASE + loop),
        )
        return "insert"
    if loop % 20 == 10:
        conn.execute(
            "UPDATE inventory_note SET body = %s WHERE id = %s",
            (f"writer {loop}", rng.randint(1, notes)),
        )
        return "note update"
    conn.execute(
        "UPDATE inventory_item SET number = %s WHERE id = %s",
        (UNIQUE_BASE + loop, rng.randint(1, items)),
    )
    return "update"


def reader_step(conn, loop: int, rng: random.Random, items: int, notes: int) -> str:
    item = rng.randint(1, items)
    if loop % 2:
        conn.execute("SELECT id, name, number FROM inventory_item WHERE id = %s", (item,))
        return "row"
    conn.execute(
        "SELECT pgh_id, pgh_label, number FROM inventory_itemevent WHERE pgh_obj_id = %s"
        " ORDER BY pgh_id DESC LIMIT 10",
        (item,),
    )
    return "events"


if __name__ == "__main__":
    main()
