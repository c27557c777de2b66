"""What a bulk write's history costs at the least, whatever writes it: the write itself, plus
one `INSERT ... SELECT` of the rows into a copy table, for copies with and without the indexes
an event table needs.

`run.py --only floors` (and the full run) calls `run()`, which recreates a database of its own
(the bench database's name + `_floors`) and runs this file in a subprocess, in plain SQL
(no Django, no trigger):

    python bench/floors.py --rows N --repeat R --out FILE

The table has the write benchmark's shape (six columns and the primary key). Each
measurement refills it with N rows, checkpoints, then times the statements and their commit:

  delete / update       the untracked statement alone
  + copy, primary key only   and the copy into a table with a primary key only (for the
                        delete, the issue's floor)
  + 3.9's indexes       ... into a table with django-pghistory 3.9's event indexes (pgh_id,
                        pgh_obj_id, pgh_context_id)
  + our indexes         ... into a table with our event indexes (pgh_id, (pgh_obj_id, pgh_id)
                        INCLUDE (pgh_created_at), (pgh_created_at, pgh_id), pgh_context_id)
  row-level trigger     the statement on a table whose row-level plpgsql trigger does the
                        least a row-level history can: one INSERT of the row into the table
                        with our indexes (an update's only when the row changed), nothing else

So the report shows how much of a tracked bulk write's cost is the indexes the history's
pages read through, which no trigger design avoids.

Single-row writes: SINGLE_WRITES autocommit `INSERT`s of one row each, as `create()` sends
them, each its own transaction with its commit:

  alone                 into the table without a trigger
  in a context          the same after `SET LOCAL` of the two context settings (what the
                        context runtime sends with a write)
  row-level trigger     into a table whose row-level trigger inserts the row into the table
                        with our event indexes, nothing else
  ... with the context  and, with the settings sent, first stores the context row as
                        `_pgh_attach_context()` does (an upsert that rewrites nothing when the
                        row is already there): the least a normalized context costs a
                        transaction that writes one tracked row

The microseconds each adds to a write are what a tracked single-row write in a context pays
at the least, whatever the library does in Python.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import benchutil
from benchutil import Stopwatch, log, median

ROWS = 100_000
QUICK_ROWS = 10_000
#: Single-row writes per measurement (the writes table's create count).
SINGLE_WRITES = 5_000
QUICK_SINGLE_WRITES = 500

_COLUMNS = "number, text, amount, flag, moment, account_id"
_TABLES = [
    "CREATE TABLE rows (id bigserial PRIMARY KEY, number integer, text text,"
    " amount numeric(12, 2), flag boolean, moment timestamptz, account_id bigint)",
    "CREATE INDEX ON rows (account_id)",
    *(
        f"CREATE TABLE {copy} (pgh_id bigserial PRIMARY KEY, pgh_created_at timestamptz,"
        " pgh_label text, pgh_obj_id bigint, pgh_context_id uuid, number integer, text text,"
        " amount numeric(12, 2), flag boolean, moment timestamptz, account_id bigint)"
        for copy in ("bare", "upstream", "ours")
    ),
    "CREATE INDEX ON upstream (pgh_obj_id)",
    "CREATE INDEX ON upstream (pgh_context_id)",
    "CREATE INDEX ON ours (pgh_obj_id, pgh_id) INCLUDE (pgh_created_at)",
    "CREATE INDEX ON ours (pgh_created_at, pgh_id)",
    "CREATE INDEX ON ours (pgh_context_id)",
    "CREATE TABLE triggered (LIKE rows INCLUDING ALL)",
    *(
        f"CREATE FUNCTION copy_{row.lower()}() RETURNS TRIGGER AS $$ BEGIN"
        f" INSERT INTO ours (pgh_created_at, pgh_label, pgh_obj_id, {_COLUMNS}) VALUES (now(),"
        f" TG_OP, {row}.id, {', '.join(f'{row}.{c}' for c in _COLUMNS.split(', '))});"
        " RETURN NULL; END; $$ LANGUAGE plpgsql"
        for row in ("NEW", "OLD")
    ),
    "CREATE TRIGGER copy_update AFTER UPDATE ON triggered FOR EACH ROW"
    " WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION copy_new()",
    "CREATE TRIGGER copy_delete AFTER DELETE ON triggered FOR EACH ROW"
    " EXECUTE FUNCTION copy_old()",
    # The single-row floor: a context table as pghistory's, and a trigger that stores the
    # transaction's context row (when the settings name one) before the event row.
    "CREATE TABLE context (id uuid PRIMARY KEY, metadata jsonb, created_at timestamptz,"
    " updated_at timestamptz)",
    "CREATE TABLE in_context (LIKE rows INCLUDING ALL)",
    f"""CREATE FUNCTION copy_in_context() RETURNS TRIGGER AS $$
    DECLARE context_id uuid := NULLIF(current_setting('pghistory.context_id', TRUE), '');
    BEGIN
        IF context_id IS NOT NULL THEN
            INSERT INTO context VALUES (context_id,
                current_setting('pghistory.context_metadata')::jsonb, now(), now())
            ON CONFLICT (id) DO UPDATE SET metadata = EXCLUDED.metadata
                WHERE context.metadata IS DISTINCT FROM EXCLUDED.metadata;
        END IF;
        INSERT INTO ours (pgh_created_at, pgh_label, pgh_obj_id, pgh_context_id, {_COLUMNS})
        VALUES (now(), 'insert', NEW.id, context_id,
            {", ".join(f"NEW.{c}" for c in _COLUMNS.split(", "))});
        RETURN NULL;
    END; $$ LANGUAGE plpgsql""",
    "CREATE TRIGGER copy_insert AFTER INSERT ON in_context FOR EACH ROW"
    " EXECUTE FUNCTION copy_in_context()",
]
_WRITES = {
    "delete": "DELETE FROM {table}",
    "update": "UPDATE {table} SET number = number + 1",
}
#: The table whose row-level trigger copies each row (see _TABLES).
_TRIGGERED = "triggered"
#: (name, copy table or _TRIGGERED or None) of each measurement, in the report's order.
_SETTINGS = [
    ("alone", None),
    ("+ copy, primary key only", "bare"),
    ("+ copy with 3.9's event indexes", "upstream"),
    ("+ copy with our event indexes", "ours"),
    ("row-level trigger copying into our event indexes", _TRIGGERED),
]
_CONTEXT_SETTINGS = (
    "SET LOCAL pghistory.context_id = '0b9f2c1e-0000-4000-8000-000000000001';"
    ' SET LOCAL pghistory.context_metadata = \'{"url": "/bench/", "user": 1}\'; '
)
#: (name, table, with the context's settings) of each single-row measurement.
_SINGLE = [
    ("alone", "rows", False),
    ("in a context", "rows", True),
    ("row-level trigger", "in_context", False),
    ("row-level trigger, in a context, storing the context row", "in_context", True),
]


# -- run.py's side (no Django here) -----------------------------------------------------------


def run(config, url: str, recreate, run_child, log) -> dict:
    """Measure in a fresh `<bench database>_floors` database; return the JSON results."""
    rows = QUICK_ROWS if config.quick else ROWS
    log(f"bench: floors of bulk writes over {rows:,} rows")
    single = QUICK_SINGLE_WRITES if config.quick else SINGLE_WRITES
    args = ["--rows", str(rows), "--single", str(single), "--repeat", str(config.repeat)]
    return benchutil.in_own_database(url, "_floors", recreate, run_child, "floors.py", args)


def markdown(results: dict) -> str:
    """The floors section of the report ("" when the part did not run)."""
    floors = results.get("floors")
    if not floors:
        return ""
    rows = []
    for write, measured in floors["seconds"].items():
        alone, floor = measured["alone"], measured["+ copy, primary key only"]
        rows += [
            [
                f"`{_WRITES[write].format(table='rows')}`",
                name,
                f"{measured[name]:.3f}",
                f"{measured[name] / alone:.2f}",
                f"{measured[name] / floor:.2f}",
            ]
            for name, _ in _SETTINGS
        ]
    headers = ["statement", "with", "seconds", "÷ alone", "÷ copy with a primary key only"]
    single = floors["single"]
    alone = single["alone"]
    single_rows = [
        [
            name,
            f"{single[name]:.3f}",
            f"{single[name] / alone:.2f}",
            f"{(single[name] - alone) / floors['single_writes'] * 1e6:+.0f}",
        ]
        for name, _, _ in _SINGLE
    ]
    return (
        "\n## Floors of bulk writes\n\n"
        f"{floors['rows']:,} rows, in plain SQL in the database `{floors['database']}`, median"
        f" of {floors['repeat']} (see `bench/floors.py`). A tracked bulk write cannot cost"
        " less than its statement plus writing the rows into a table with the indexes its"
        " history is read through (the writes table holds the tracked writes to their floor,"
        " measured there on the event table's own copy). The row-level trigger's row is the"
        " least a row-level history costs: a plpgsql trigger that only inserts the row; its ÷"
        " alone is the floor of a row-level update's ratio to an untracked one.\n\n"
        + benchutil.table(headers, rows)
        + f"\n\n{floors['single_writes']:,} single-row `INSERT`s, one autocommit transaction"
        " each (its commit included), median of the same repetitions: what a tracked"
        " single-row write in a context costs at the least, beside the write alone.\n\n"
        + benchutil.table(
            ["single-row insert", "seconds", "÷ alone", "µs added per write"], single_rows
        )
    )


# -- the measuring subprocess -----------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--single", type=int, default=SINGLE_WRITES)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import psycopg

    url = os.environ["BENCH_DATABASE_URL"]
    with psycopg.connect(**benchutil.libpq_kwargs(url), autocommit=True) as connection:
        for statement in _TABLES:
            connection.execute(statement)
        samples = {write: {name: [] for name, _ in _SETTINGS} for write in _WRITES}
        single = {name: [] for name, _, _ in _SINGLE}
        for _ in range(args.repeat):
            for write in _WRITES:
                for name, copy in _SETTINGS:
                    samples[write][name].append(measure(connection, args.rows, write, copy))
            for name, table, in_context in _SINGLE:
                single[name].append(measure_single(connection, args.single, table, in_context))
    result = {
        "rows": args.rows,
        "repeat": args.repeat,
        "seconds": {
            write: {name: median(values) for name, values in by_setting.items()}
            for write, by_setting in samples.items()
        },
        "single_writes": args.single,
        "single": {name: median(values) for name, values in single.items()},
    }
    Path(args.out).write_text(json.dumps(result, indent=1))


def measure(connection, rows: int, write: str, copy: str | None) -> float:
    """Seconds of one `write` over `rows` fresh rows, with its copy into `copy` if given,
    in one transaction (its commit included)."""
    table = _TRIGGERED if copy == _TRIGGERED else "rows"
    connection.execute(f"TRUNCATE {table}, bare, upstream, ours")
    connection.execute(
        f"INSERT INTO {table} ({_COLUMNS}) SELECT i, 'text ' || i, i * 1.5, i %% 2 = 0, now(),"
        " i %% 100 FROM generate_series(1, %s) i",
        [rows],
    )
    connection.execute(f"VACUUM ANALYZE {table}")
    connection.execute("CHECKPOINT")
    statement = _WRITES[write].format(table=table)
    if copy and copy != _TRIGGERED:
        statement = (
            f"WITH written AS ({statement} RETURNING id, {_COLUMNS})"
            f" INSERT INTO {copy} (pgh_created_at, pgh_label, pgh_obj_id, {_COLUMNS})"
            f" SELECT now(), '{write}', id, {_COLUMNS} FROM written"
        )
    with Stopwatch() as watch, connection.transaction():
        connection.execute(statement)
    log(f"bench:   {write} {copy or 'alone'}: {watch.seconds:.3f} s")
    return watch.seconds


def measure_single(connection, writes: int, table: str, in_context: bool) -> float:
    """Seconds of `writes` single-row inserts into `table`, each in its own autocommit
    transaction, after the context's settings if `in_context`."""
    connection.execute(f"TRUNCATE {table}, ours, context")
    connection.execute("CHECKPOINT")
    statement = (_CONTEXT_SETTINGS if in_context else "") + (
        f"INSERT INTO {table} ({_COLUMNS}) VALUES (1, 'text', 1.50, true, now(), 7)"
    )
    with Stopwatch() as watch:
        for _ in range(writes):
            connection.execute(statement)
    log(
        f"bench:   {writes:,} single-row inserts into {table}, context {in_context}:"
        f" {watch.seconds:.3f} s"
    )
    return watch.seconds


if __name__ == "__main__":
    main()
