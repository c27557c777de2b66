"""Upgrading a django-pghistory 3.9.2 project with a large history to this package, while the
project keeps writing: how long the migration takes, how long it holds up writes and reads,
and whether any write goes untracked.

`run.py --only upgrade` (and the full run) calls `run()`, which builds, in a temporary
directory, a small project (`inventory`: `Item` tracked by row-level triggers, `Note` by
statement-level ones, both with the default trackers, insert and update), and:

1. with django-pghistory 3.9.2 (`bench/.venv-upstream`): `makemigrations` and `migrate` in a
   database of its own (the bench database's name + `_upgrade`), then fills it with N events
   (1,000,000; `--events`, 100,000 with `--quick`): nine in ten on `Item` (an insert and eight
   updates per row), one in ten on `Note` (an insert and nine updates). 3.9.2's own triggers
   write them, from `INSERT ... SELECT generate_series` and `UPDATE`s of ten rows at a time,
   half of them in a context (`pghistory.context_id` set as 3.9's `pghistory.context` sets
   it: one context per ten events);
2. with our package (this virtualenv): `makemigrations` writes the upgrade's migration (the
   triggers removed and re-added, `pgh_obj`'s old index dropped, two indexes added per event
   table);
3. measures two ways of applying it, each on a fresh copy of the filled database
   (`CREATE DATABASE ... TEMPLATE`):
   - the default: `migrate` with the generated migration as it is;
   - non-blocking: the migration split in two by `manage.py pghistory_concurrent_indexes`:
     first the `AddIndex`es as `AddIndexConcurrently` in a non-atomic migration, then the
     rest (triggers, `AlterField`s) in the atomic one; `makemigrations --check --dry-run`
     must find no changes.

While `migrate` runs, a writer process (`bench/upgrade_load.py`) updates and inserts single
rows in autocommit as fast as it can, and a reader reads a row and its newest events; both
time every statement. A sampler polls `pg_locks` every 25 ms for the waits of those two and
what blocks them, and the migration's SQL is logged with timestamps. Afterwards every write
the writer made is looked up among the events (each write sets a value no other one uses).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import benchutil
import upstream_env
from upgrade_load import UNIQUE_BASE

BENCH = Path(__file__).resolve().parent
EVENTS = 1_000_000
QUICK_EVENTS = 100_000
UPSTREAM_VERSION = "3.9.2"
#: Seconds the load runs before `migrate` starts, and after it ends.
BEFORE_S = 2.0
AFTER_S = 1.5
#: The load processes stop by themselves after this long, whatever happens.
LOAD_MAX_S = 900
#: The third measurement: path 2 again, with a read transaction on the event table open
#: this long from the moment `migrate` starts.
LONG_READ_S = 6.0
#: Each path is measured this often at most (`--repeat`), interleaved with the others.
MAX_REPEAT = 3
#: How often the lock sampler looks (seconds).
SAMPLE_EVERY_S = 0.025
#: Rows of each `UPDATE` of the fill, and the fill's rounds of updates per model.
FILL_CHUNK = 10
ITEM_UPDATE_ROUNDS = 8
NOTE_UPDATE_ROUNDS = 9

PATHS = {
    "default": "the generated migration, as it is",
    "non-blocking": "split: AddIndexConcurrently (non-atomic), then the rest (atomic)",
    "non-blocking, long read": (
        f"split, with a transaction that read the event table open {LONG_READ_S:.0f} s"
        " from `migrate`'s start"
    ),
    "drop concurrently, long read": (
        "split, and the old `pgh_obj` indexes dropped with `DROP INDEX CONCURRENTLY` in the"
        " non-atomic migration; the same read open"
    ),
}

SETTINGS = """\
import json
import os

SECRET_KEY = "upgrade-bench"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "pgtrigger",
    "pghistory",
    "inventory",
]
DATABASES = {"default": json.loads(os.environ["UPGRADE_DATABASE"])}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"timed": {"format": "%(created).6f %(message)s"}},
    "handlers": {},
    "loggers": {},
}
if os.environ.get("UPGRADE_SQL_LOG"):
    LOGGING["handlers"]["sql"] = {
        "class": "logging.FileHandler",
        "filename": os.environ["UPGRADE_SQL_LOG"],
        "formatter": "timed",
    }
    LOGGING["loggers"]["django.db.backends.schema"] = {"handlers": ["sql"], "level": "DEBUG"}
"""

MODELS = """\
import pghistory
from django.db import models


@pghistory.track()
class Item(models.Model):
    name = models.CharField(max_length=100)
    number = models.IntegerField(default=0)
    price = models.DecimalField(max_digits=10, decimal_places=2, default=0)


@pghistory.track(level=pghistory.Statement)
class Note(models.Model):
    body = models.TextField()
"""

MANAGE = """\
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""

# One round of updates of every row of a tracked table, FILL_CHUNK rows a statement; every
# other statement in a context of its own (3.9's `_pgh_attach_context()` makes its row). An
# empty context id is no context: 3.9's function fails to read it as a UUID and attaches none.
UPDATE_ROUND = """
DO $$
DECLARE lo bigint;
BEGIN
    FOR lo IN SELECT generate_series(1, {rows}, {chunk}) LOOP
        IF (lo / {chunk}) % 2 = 0 THEN
            PERFORM set_config('pghistory.context_id', gen_random_uuid()::text, true);
            PERFORM set_config('pghistory.context_metadata', json_build_object(
                'user', (lo / {chunk}) % 12 + 1, 'url', '/{path}/' || lo || '/edit/')::text, true);
        ELSE
            PERFORM set_config('pghistory.context_id', '', true);
            PERFORM set_config('pghistory.context_metadata', '', true);
        END IF;
        UPDATE {table} SET {changes}
            WHERE id >= lo AND id < lo + {chunk};
    END LOOP;
END $$
"""

LOCK_WAITS = """
SELECT w.application_name, extract(epoch FROM clock_timestamp() - w.query_start),
       l.locktype, coalesce(l.relation::regclass::text, l.locktype), l.mode,
       b.application_name, left(b.query, 300),
       (SELECT string_agg(DISTINCT h.mode, ', ') FROM pg_locks h
         WHERE h.pid = b.pid AND h.granted AND h.locktype = l.locktype
           AND h.relation IS NOT DISTINCT FROM l.relation
           AND h.virtualxid IS NOT DISTINCT FROM l.virtualxid
           AND h.transactionid IS NOT DISTINCT FROM l.transactionid)
FROM pg_stat_activity w
JOIN pg_locks l ON l.pid = w.pid AND NOT l.granted
CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS bp(pid)
JOIN pg_stat_activity b ON b.pid = bp.pid
WHERE w.datname = current_database()
"""


# -- run.py's side ----------------------------------------------------------------------------


def run(config, url: str, recreate, run_child, log) -> dict:
    """Build the 3.9.2 project and its history, then measure both upgrade paths."""
    events = QUICK_EVENTS if config.quick else (config.events or EVENTS)
    upstream_python = upstream_env.ensure(log)
    version = upstream_env.installed_version()
    if version != UPSTREAM_VERSION:
        raise RuntimeError(f"bench/.venv-upstream has django-pghistory {version}, not 3.9.2")
    base_url = benchutil.with_database(url, benchutil.database_name(url) + "_upgrade")
    project = Path(tempfile.mkdtemp(prefix="pghistory-upgrade-"))
    try:
        repeat = min(config.repeat, MAX_REPEAT)
        bench = UpgradeBench(project, base_url, upstream_python, events, repeat, log)
        return bench.run(recreate)
    finally:
        shutil.rmtree(project, ignore_errors=True)


class UpgradeBench:
    def __init__(
        self, project: Path, base_url: str, upstream_python: Path, events: int, repeat: int, log
    ):
        self.repeat = repeat
        self.project = project
        self.base_url = base_url
        self.upstream_python = str(upstream_python)
        self.ours_python = sys.executable
        self.events = events
        self.items = events * 9 // 10 // (1 + ITEM_UPDATE_ROUNDS)
        self.notes = (events - self.items * (1 + ITEM_UPDATE_ROUNDS)) // (1 + NOTE_UPDATE_ROUNDS)
        self.log = log
        self.migrations = project / "inventory" / "migrations"

    # -- the project ---------------------------------------------------------------------

    def write_project(self) -> None:
        files = {
            "manage.py": MANAGE,
            "project/__init__.py": "",
            "project/settings.py": SETTINGS,
            "inventory/__init__.py": "",
            "inventory/models.py": MODELS,
            "inventory/migrations/__init__.py": "",
        }
        for name, text in files.items():
            path = self.project / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def manage(self, python: str, url: str, *args: str, sql_log: Path | None = None):
        """Run `manage.py` with `python` against the database of `url`."""
        database = benchutil.django_database(url)
        database["OPTIONS"] = {"application_name": "upgrade-migrate"}
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("PYTHONPATH", "PYTHONHOME", "DJANGO_SETTINGS_MODULE")
        }
        env["UPGRADE_DATABASE"] = json.dumps(database)
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # (migration files change between paths)
        if sql_log:
            env["UPGRADE_SQL_LOG"] = str(sql_log)
        done = subprocess.run(
            [python, "manage.py", *args],
            cwd=self.project,
            env=env,
            capture_output=True,
            text=True,
        )
        return done

    def checked(self, python: str, url: str, *args: str) -> str:
        done = self.manage(python, url, *args)
        if done.returncode:
            raise RuntimeError(
                f"manage.py {' '.join(args)} failed ({done.returncode}):\n"
                f"{done.stdout}\n{done.stderr}"
            )
        return done.stdout

    def new_migrations(self, known: set[str]) -> list[str]:
        return sorted(
            path.stem
            for path in self.migrations.glob("0*.py")
            if path.stem not in known and not path.stem.startswith("__")
        )

    # -- the run -------------------------------------------------------------------------

    def run(self, recreate) -> dict:
        log = self.log
        self.write_project()
        recreate(self.base_url)
        log(f"bench: upgrade: a django-pghistory {UPSTREAM_VERSION} project in {self.project}")
        self.checked(self.upstream_python, self.base_url, "makemigrations", "inventory")
        initial = self.new_migrations(set())
        self.initial = set(initial)
        self.checked(self.upstream_python, self.base_url, "migrate")
        with benchutil.Stopwatch() as fill:
            counts = self.fill()
        events = counts["inventory_itemevent"] + counts["inventory_noteevent"]
        log(
            f"bench: upgrade: {events:,} events, {counts['pghistory_context']:,} contexts,"
            f" written in {fill.seconds:.1f} s"
        )

        self.checked(self.ours_python, self.base_url, "makemigrations", "inventory")
        generated = self.new_migrations(set(initial))
        if len(generated) != 1:
            raise RuntimeError(f"makemigrations wrote {generated}, not one migration")
        generated_name = generated[0]
        generated_text = (self.migrations / f"{generated_name}.py").read_text()
        result = {
            "events": counts["inventory_itemevent"] + counts["inventory_noteevent"],
            "event_counts": counts,
            "items": self.items,
            "notes": self.notes,
            "fill_s": round(fill.seconds, 1),
            "upstream_version": UPSTREAM_VERSION,
            "database": benchutil.database_name(self.base_url),
            "generated": {
                "name": generated_name,
                "operations": operation_names(generated_text),
                "text": generated_text,
            },
            "sizes": self.sizes(self.base_url),
            "paths": {},
        }

        sets = {"generated": {generated_name: generated_text}}
        split = self.split(generated_name, "--keep-index-drops")
        result["split"] = split
        sets["split"] = split["texts"]
        self.install({generated_name: generated_text})
        dropping = self.split(generated_name)
        result["split_drop_concurrently"] = dropping
        sets["split, drop concurrently"] = dropping["texts"]
        log(
            f"bench: upgrade: split into {split['concurrent']} (non-atomic) and"
            f" {split['atomic']}; by default the command also drops"
            f" {', '.join(dropping['dropped_concurrently'])} concurrently"
        )
        measurements = [
            ("default", "generated", 0),
            ("non-blocking", "split", 0),
            ("non-blocking, long read", "split", LONG_READ_S),
            ("drop concurrently, long read", "split, drop concurrently", LONG_READ_S),
        ]
        runs: dict[str, list] = {path: [] for path, _, _ in measurements}
        for repetition in range(self.repeat):
            for path, migration_set, long_read_s in measurements:
                log(f"bench: upgrade: {path} ({repetition + 1} of {self.repeat})")
                self.install(sets[migration_set])
                runs[path].append(self.measure(path, list(sets[migration_set]), long_read_s))
        result["repeat"] = self.repeat
        result["paths"] = {path: summarize_runs(path_runs) for path, path_runs in runs.items()}
        return result

    def install(self, migration_set: dict[str, str]) -> None:
        """Make `migration_set` ({name: text}) the project's migrations after the first."""
        for path in self.migrations.glob("0*.py"):
            if path.stem not in self.initial:
                path.unlink()
        for name, text in migration_set.items():
            (self.migrations / f"{name}.py").write_text(text)

    def split(self, generated_name: str, *options: str) -> dict:
        """Split the generated migration as a user does: `manage.py
        pghistory_concurrent_indexes inventory <migration>`."""
        output = self.checked(
            self.ours_python,
            self.base_url,
            "pghistory_concurrent_indexes",
            "inventory",
            generated_name,
            *options,
        )
        concurrent, atomic = self.new_migrations(self.initial)
        texts = {
            name: (self.migrations / f"{name}.py").read_text() for name in (concurrent, atomic)
        }
        dropped = re.findall(r"DROP INDEX CONCURRENTLY IF EXISTS \\?\"(\w+)", texts[concurrent])
        return {
            "concurrent": concurrent,
            "atomic": atomic,
            "output": output.strip(),
            "dropped_concurrently": dropped,
            "texts": texts,
        }

    def database(self, url: str) -> dict:
        return benchutil.django_database(url)

    # -- the history ---------------------------------------------------------------------

    def connect(self, url: str):
        import psycopg

        return psycopg.connect(**benchutil.libpq_kwargs(url), autocommit=True)

    def fill(self) -> dict:
        with self.connect(self.base_url) as conn:
            conn.execute(
                "INSERT INTO inventory_item (name, number, price)"
                " SELECT 'item ' || i, 0, i %% 1000 FROM generate_series(1, %s) AS i",
                (self.items,),
            )
            conn.execute(
                "INSERT INTO inventory_note (body)"
                " SELECT 'note ' || i FROM generate_series(1, %s) AS i",
                (self.notes,),
            )
            item_round = UPDATE_ROUND.format(
                rows=self.items,
                chunk=FILL_CHUNK,
                path="items",
                table="inventory_item",
                changes="number = number + 1, price = price + 1",
            )
            for _ in range(ITEM_UPDATE_ROUNDS):
                conn.execute(item_round)
            for number in range(NOTE_UPDATE_ROUNDS):
                conn.execute(
                    UPDATE_ROUND.format(
                        rows=self.notes,
                        chunk=FILL_CHUNK,
                        path="notes",
                        table="inventory_note",
                        changes=f"body = 'note ' || id || ' v{number + 1}'",
                    )
                )
            conn.execute("VACUUM ANALYZE")
            conn.execute("CHECKPOINT")
            counts = {
                table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("inventory_itemevent", "inventory_noteevent", "pghistory_context")
            }
        return counts

    def sizes(self, url: str) -> dict:
        with self.connect(url) as conn:
            return {
                table: conn.execute(
                    "SELECT pg_size_pretty(pg_total_relation_size(%s))", (table,)
                ).fetchone()[0]
                for table in ("inventory_itemevent", "inventory_noteevent", "pghistory_context")
            }

    def copy_database(self, name: str) -> str:
        from psycopg import sql

        url = benchutil.with_database(self.base_url, name)
        with self.connect(benchutil.with_database(self.base_url, "postgres")) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name),
                    sql.Identifier(benchutil.database_name(self.base_url)),
                )
            )
        return url

    def drop_database(self, name: str) -> None:
        from psycopg import sql

        with self.connect(benchutil.with_database(self.base_url, "postgres")) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    # -- one upgrade path ----------------------------------------------------------------

    def measure(self, path: str, migration_names: list[str], long_read_s: float = 0) -> dict:
        log = self.log
        name = benchutil.database_name(self.base_url) + "_" + re.sub(r"\W+", "_", path)
        url = self.copy_database(name)
        try:
            check = self.manage(self.ours_python, url, "makemigrations", "--check", "--dry-run")
            plan = self.checked(self.ours_python, url, "showmigrations", "--plan")
            work = Path(tempfile.mkdtemp(prefix="load-", dir=self.project))
            stop = work / "stop"
            loads = {role: self.start_load(role, url, work, stop) for role in ("writer", "reader")}
            for role, (_process, ready, _out) in loads.items():
                deadline = time.monotonic() + 30
                while not ready.exists():
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the {role} did not start")
                    time.sleep(0.01)
            time.sleep(BEFORE_S)
            sampler = LockSampler(url)
            sampler.start()
            if long_read_s:
                long_read = LongRead(url, long_read_s)
                long_read.start()
                long_read.opened.wait(10)
            sql_log = work / "sql.log"
            started = time.time()
            migrate = self.manage(self.ours_python, url, "migrate", "-v", "2", sql_log=sql_log)
            ended = time.time()
            time.sleep(AFTER_S)
            stop.touch()
            loads_out = {}
            for role, (process, _ready, out) in loads.items():
                process.wait(timeout=60)
                loads_out[role] = json.loads(out.read_text())
            sampler.stop()
            if long_read_s:
                long_read.join(timeout=long_read_s + 10)
            if migrate.returncode:
                raise RuntimeError(f"migrate failed:\n{migrate.stdout}\n{migrate.stderr}")
            after_check = self.manage(
                self.ours_python, url, "makemigrations", "--check", "--dry-run"
            )
            statements = read_sql_log(sql_log, ended)
            writer = load_stats(loads_out["writer"], started, ended)
            reader = load_stats(loads_out["reader"], started, ended)
            lost = self.lost_writes(url, loads_out["writer"])
            result = {
                "migrations": migration_names,
                "long_read_s": long_read_s,
                "check_before": {
                    "returncode": check.returncode,
                    "output": (check.stdout + check.stderr).strip(),
                },
                "check_after": {
                    "returncode": after_check.returncode,
                    "output": (after_check.stdout + after_check.stderr).strip(),
                },
                "plan": [line.strip() for line in plan.splitlines() if "[ ]" in line],
                "started_at": started,
                "migrate_s": round(ended - started, 3),
                "applied": applied_times(migrate.stdout),
                "writer": writer,
                "reader": reader,
                "lost": lost,
                "lock_waits": summarize_waits(sampler.samples, started, statements),
                "statements": statements,
                "sizes_after": self.sizes(url),
            }
        finally:
            self.drop_database(name)
        log(
            f"bench:   migrate {result['migrate_s']:.2f} s; writer: longest"
            f" {writer['during']['max_ms']:.0f} ms, p99 {writer['during']['p99_ms']:.1f} ms,"
            f" {writer['during']['count']:,} writes during, {writer['errors']} errors;"
            f" events missing {lost['missing']}"
        )
        return result

    def start_load(self, role: str, url: str, work: Path, stop: Path):
        ready = work / f"{role}.ready"
        out = work / f"{role}.json"
        env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        process = subprocess.Popen(
            [
                self.ours_python,
                str(BENCH / "upgrade_load.py"),
                role,
                "--url",
                url,
                "--items",
                str(self.items),
                "--notes",
                str(self.notes),
                "--stop",
                str(stop),
                "--ready",
                str(ready),
                "--out",
                str(out),
                "--seconds",
                str(LOAD_MAX_S),
            ],
            cwd=BENCH,
            env=env,
        )
        return process, ready, out

    def lost_writes(self, url: str, writer: dict) -> dict:
        """The writer's committed writes that have no event, and events no write explains."""
        expected = {"insert": set(), "update": set(), "note update": set()}
        for loop, kind in enumerate(writer["kinds"]):
            if kind in expected:
                expected[kind].add(loop)
        with self.connect(url) as conn:
            found = {
                "update": conn.execute(
                    "SELECT number - %s FROM inventory_itemevent"
                    " WHERE pgh_label = 'update' AND number >= %s",
                    (UNIQUE_BASE, UNIQUE_BASE),
                ).fetchall(),
                "insert": conn.execute(
                    "SELECT number - %s FROM inventory_itemevent"
                    " WHERE pgh_label = 'insert' AND number >= %s",
                    (UNIQUE_BASE, UNIQUE_BASE),
                ).fetchall(),
                "note update": conn.execute(
                    "SELECT substr(body, 8)::int FROM inventory_noteevent"
                    " WHERE pgh_label = 'update' AND body LIKE 'writer %%'"
                ).fetchall(),
            }
        by_kind = {}
        for kind, rows in found.items():
            got = [row[0] for row in rows]
            by_kind[kind] = {
                "writes": len(expected[kind]),
                "events": len(got),
                "missing": len(expected[kind] - set(got)),
                "unexplained": len(set(got) - expected[kind]),
                "duplicated": len(got) - len(set(got)),
            }
        return {
            "by_kind": by_kind,
            "writes": sum(k["writes"] for k in by_kind.values()),
            "missing": sum(k["missing"] for k in by_kind.values()),
            "unexplained": sum(k["unexplained"] + k["duplicated"] for k in by_kind.values()),
        }


# -- measuring --------------------------------------------------------------------------------


class LockSampler(threading.Thread):
    """Polls `pg_locks` for the waits of the database's sessions and what blocks them."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        import psycopg

        self.conn = psycopg.connect(
            **benchutil.libpq_kwargs(url), autocommit=True, application_name="upgrade-sampler"
        )
        self.samples: list[list] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + LOAD_MAX_S
        while not self.stopping.is_set() and time.monotonic() < deadline:
            now = time.time()
            for row in self.conn.execute(LOCK_WAITS).fetchall():
                self.samples.append([now, *row])
            self.stopping.wait(SAMPLE_EVERY_S)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)
        self.conn.close()


class LongRead(threading.Thread):
    """A transaction that reads the event table once, then stays open `seconds` (a report
    or an export running as the migration starts): it holds its ACCESS SHARE lock."""

    def __init__(self, url: str, seconds: float):
        super().__init__(daemon=True)
        self.url = url
        self.seconds = seconds
        self.opened = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(
            **benchutil.libpq_kwargs(self.url), application_name="upgrade-long-read"
        ) as conn:
            conn.execute("SELECT count(*) FROM inventory_itemevent WHERE pgh_id <= 1000")
            self.opened.set()
            time.sleep(self.seconds)
            conn.commit()


def summarize_waits(samples: list[list], started: float, statements: list[dict]) -> list[dict]:
    """One entry per (waiter, lock wanted, blocker, blocker's statement): the longest wait
    seen, and when it was first and last seen (seconds after `migrate` started). A lock is
    held until its transaction ends, so the statement running when a wait is seen need not
    be the one that took the lock: `taken_by` is the migration's first statement naming the
    table (or, for an index, an index named after it)."""
    groups: dict[tuple, dict] = {}
    for now, waiter, waited, locktype, target, mode, blocker, query, held in samples:
        key = (waiter, locktype, target, mode, blocker, held, " ".join(query.split())[:200])
        entry = groups.setdefault(
            key,
            {
                "waiter": waiter,
                "lock": f"{mode} on {target}" if locktype == "relation" else f"{mode} ({target})",
                "blocker": blocker,
                "blocker_holds": held,
                "blocker_statement": key[-1],
                "longest_s": 0.0,
                "first_s": round(now - started, 3),
                "samples": 0,
                "taken_by": first_naming(statements, target) if locktype == "relation" else None,
            },
        )
        entry["longest_s"] = round(max(entry["longest_s"], float(waited or 0)), 3)
        entry["last_s"] = round(now - started, 3)
        entry["samples"] += 1
    return sorted(groups.values(), key=lambda entry: -entry["longest_s"])


def first_naming(statements: list[dict], table: str) -> str | None:
    """The first statement naming `table` (quoted, or as an index name's prefix), leaving
    out concurrent index builds, which block no write."""
    named = re.compile(rf'"{re.escape(table)}["_]|\b{re.escape(table)}\b')
    for statement in statements:
        if "CONCURRENTLY" not in statement["sql"] and named.search(statement["sql"]):
            return statement["sql"][:200]
    return None


def summarize_runs(runs: list[dict]) -> dict:
    """A path's repetitions: the median of each figure, the worst stall, every write's check;
    `worst` is the run with the longest write stall (its lock waits and statements)."""
    worst = max(runs, key=lambda run: run["writer"]["during"]["max_ms"] or 0)

    def median_of(get):
        return benchutil.median([get(run) for run in runs])

    return {
        "runs": runs,
        "worst": worst,
        "migrate_s": median_of(lambda run: run["migrate_s"]),
        "write_max_ms": median_of(lambda run: run["writer"]["during"]["max_ms"]),
        "write_max_ms_worst": worst["writer"]["during"]["max_ms"],
        "write_p99_ms": median_of(lambda run: run["writer"]["during"]["p99_ms"]),
        "writes_during": median_of(lambda run: run["writer"]["during"]["count"]),
        "write_before_p99_ms": median_of(lambda run: run["writer"]["before"]["p99_ms"]),
        "write_before_max_ms": max(run["writer"]["before"]["max_ms"] or 0 for run in runs),
        "read_max_ms": median_of(lambda run: run["reader"]["during"]["max_ms"]),
        "read_max_ms_worst": max(run["reader"]["during"]["max_ms"] or 0 for run in runs),
        "read_p99_ms": median_of(lambda run: run["reader"]["during"]["p99_ms"]),
        "read_before_p99_ms": median_of(lambda run: run["reader"]["before"]["p99_ms"]),
        "write_errors": sum(run["writer"]["errors"] for run in runs),
        "writes": sum(run["lost"]["writes"] for run in runs),
        "missing": sum(run["lost"]["missing"] for run in runs),
        "unexplained": sum(run["lost"]["unexplained"] for run in runs),
        "checks_clean": all(
            run["check_before"]["returncode"] == 0 and run["check_after"]["returncode"] == 0
            for run in runs
        ),
        "applied": [
            [name, benchutil.median([run["applied"][i][1] for run in runs])]
            for i, (name, _) in enumerate(runs[0]["applied"])
        ],
    }


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def window_stats(latencies: list[float]) -> dict:
    return {
        "count": len(latencies),
        "max_ms": round(max(latencies) * 1000, 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2) if latencies else None,
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 3) if latencies else None,
    }


def load_stats(load: dict, started: float, ended: float) -> dict:
    """Latencies before `migrate` and during it (statements whose run overlaps it)."""
    before, during = [], []
    longest = None
    for start, latency, kind in zip(load["starts"], load["latencies"], load["kinds"]):
        if start + latency < started:
            before.append(latency)
        elif start <= ended:
            during.append(latency)
            if longest is None or latency > longest[1]:
                longest = (start, latency, kind)
    stats = {
        "before": window_stats(before),
        "during": window_stats(during),
        "total": len(load["kinds"]),
        "errors": len(load["errors"]),
        "error_samples": load["errors"][:5],
    }
    if longest:
        stats["longest"] = {
            "kind": longest[2],
            "started_s": round(longest[0] - started, 3),
            "ended_s": round(longest[0] + longest[1] - started, 3),
        }
    return stats


def read_sql_log(path: Path, ended: float) -> list[dict]:
    """The migration's logged statements: when each started, and until the next one did."""
    if not path.exists():
        return []
    entries = []
    for line in path.read_text().split("\n"):
        stamp, _, text = line.partition(" ")
        try:
            entries.append([float(stamp), text])
        except ValueError:
            if entries:
                entries[-1][1] += " " + line.strip()
    statements = []
    for index, (stamp, text) in enumerate(entries):
        following = entries[index + 1][0] if index + 1 < len(entries) else ended
        statements.append(
            {
                "at": stamp,
                "until_next_s": round(following - stamp, 3),
                "sql": " ".join(text.split())[:300],
            }
        )
    return statements


def applied_times(stdout: str) -> list[list]:
    """`migrate -v 2`'s "Applying app.name... OK (1.234s)" lines: [name, seconds]."""
    return [
        [name, float(seconds)]
        for name, seconds in re.findall(r"Applying (\S+)\.\.\. OK \(([\d.]+)s\)", stdout)
    ]


def operation_names(migration_text: str) -> list[str]:
    """The operations of a migration file, in order (the calls at the operations' indent)."""
    return re.findall(r"^        ([\w.]+)\($", migration_text, flags=re.MULTILINE)


# -- the report -------------------------------------------------------------------------------


def fmt_ms(value) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f} ms" if value >= 100 else f"{value:,.1f} ms"


def markdown(results: dict) -> str:
    """The upgrade section of the report ("" when the part did not run)."""
    measured = results.get("upgrade")
    if not measured:
        return ""
    paths = measured["paths"]
    repeat = measured["repeat"]
    rows = []
    for path, data in paths.items():
        rows.append(
            [
                f"**{path}**: {PATHS[path]}",
                f"{data['migrate_s']:.2f} s",
                f"{fmt_ms(data['write_max_ms'])} ({fmt_ms(data['write_max_ms_worst'])})",
                fmt_ms(data["write_p99_ms"]),
                f"{data['writes_during']:,.0f}",
                f"{data['write_errors']}",
                f"{data['missing']} of {data['writes']:,}"
                + (f" ({data['unexplained']} unexplained)" if data["unexplained"] else ""),
                f"{fmt_ms(data['read_max_ms'])} ({fmt_ms(data['read_max_ms_worst'])})",
                fmt_ms(data["read_p99_ms"]),
                "no changes" if data["checks_clean"] else "**changes**",
            ]
        )
    default = paths["default"]
    counts = measured["event_counts"]
    out = [
        "\n## Upgrading from django-pghistory 3.9.2\n\n"
        f"A 3.9.2 project with {measured['events']:,} events"
        f" ({counts['inventory_itemevent']:,} of a model tracked by row-level triggers,"
        f" {counts['inventory_noteevent']:,} of one tracked by statement-level ones;"
        f" {counts['pghistory_context']:,} contexts; event tables"
        f" {measured['sizes']['inventory_itemevent']} and"
        f" {measured['sizes']['inventory_noteevent']}), written by 3.9.2's triggers in"
        f" {measured['fill_s']:.0f} s; then `makemigrations` with our package, and `migrate`"
        " on a fresh copy of the database for each run, while one process writes single"
        " rows (autocommit, as fast as it can: nine updates in ten, inserts, statement-level"
        " updates) and another reads a row and its newest events. Median of"
        f" {repeat} runs per path, interleaved (the worst run in brackets). *Longest* and"
        " *p99* are over the statements whose run overlaps `migrate`'s, which includes"
        " Django's start; *writes without their event* counts every run's writes;"
        " *check* is `makemigrations --check --dry-run` before and after (see"
        " `bench/upgrade.py`).\n\n",
        benchutil.table(
            [
                "path",
                "migrate",
                "longest write",
                "write p99",
                "writes during",
                "write errors",
                "writes without their event",
                "longest read",
                "read p99",
                "check",
            ],
            rows,
        ),
        f"\nBefore `migrate` (default path): write p99 {fmt_ms(default['write_before_p99_ms'])},"
        f" longest {fmt_ms(default['write_before_max_ms'])}; read p99"
        f" {fmt_ms(default['read_before_p99_ms'])}.\n",
        "\nThe generated migration `"
        + measured["generated"]["name"]
        + "`: "
        + ", ".join(count_names(measured["generated"]["operations"]))
        + ".\n",
    ]
    applied = [
        [path, f"`{name}`", f"{seconds:.3f}"]
        for path, data in paths.items()
        for name, seconds in data["applied"]
    ]
    out.append(
        "\nEach migration's time (`migrate -v 2`), median:\n\n"
        + benchutil.table(["path", "migration", "seconds"], applied)
    )
    slowest = []
    for path, data in paths.items():
        worst = data["worst"]
        for statement in sorted(worst["statements"], key=lambda st: -st["until_next_s"])[:4]:
            slowest.append(
                [
                    path,
                    code(statement["sql"], 110),
                    f"{statement['at'] - worst['started_at']:.2f} s",
                    f"{statement['until_next_s']:.3f} s",
                ]
            )
    out.append(
        "\nThe slowest statements of `migrate` in each path's worst run (logged by"
        " `django.db.backends.schema`; a statement's time runs until the next one starts,"
        " the last one's until `migrate` ends, commit and Django's post-migrate work"
        " included; *started* is after `migrate` was launched):\n\n"
        + benchutil.table(["path", "statement", "started", "took"], slowest)
    )
    waits = []
    for path, data in paths.items():
        for wait in grouped_waits(data["worst"]["lock_waits"]):
            waits.append([path, *wait])
    out.append(
        "\nWhat held up the writer, the reader and `migrate` in each path's worst run (lock"
        " waits sampled every 25 ms; a lock is held until its transaction ends, so *taken by*"
        " is the migration's first statement naming the table, and *blocker running* what"
        " the blocker ran in most samples):\n\n"
        + benchutil.table(
            [
                "path",
                "waiter",
                "waits for",
                "blocker holds",
                "taken by",
                "blocker running",
                "longest",
                "seen at",
            ],
            waits,
        )
    )
    return "".join(out)


def grouped_waits(lock_waits: list[dict]) -> list[list]:
    """The longest waits of the writer, the reader and `migrate`, one row per waiter and
    lock, as table rows."""
    groups: dict[tuple, dict] = {}
    for wait in lock_waits:
        if wait["waiter"] not in ("upgrade-writer", "upgrade-reader", "upgrade-migrate"):
            continue
        key = (wait["waiter"], wait["lock"], wait.get("taken_by"))
        group = groups.setdefault(
            key,
            {"holds": set(), "longest": 0.0, "first": wait["first_s"], "last": 0.0, "by": {}},
        )
        group["holds"].update((wait["blocker_holds"] or "(queued ahead)").split(", "))
        group["longest"] = max(group["longest"], wait["longest_s"])
        group["first"] = min(group["first"], wait["first_s"])
        group["last"] = max(group["last"], wait["last_s"])
        by = group["by"]
        by[wait["blocker_statement"]] = by.get(wait["blocker_statement"], 0) + wait["samples"]
    rows = []
    for (waiter, lock, taken_by), group in sorted(groups.items(), key=lambda g: -g[1]["longest"]):
        running = max(group["by"], key=group["by"].get)
        rows.append(
            [
                waiter.removeprefix("upgrade-"),
                lock,
                ", ".join(sorted(group["holds"])),
                code(taken_by, 70),
                code(running, 70),
                f"{group['longest']:.2f} s",
                f"{group['first']:.2f}–{group['last']:.2f} s",
            ]
        )
    return rows[:4]


def code(sql: str | None, length: int = 90) -> str:
    if not sql:
        return "–"
    sql = sql.removesuffix("; (params None)").rstrip(";")
    return "`" + (sql if len(sql) <= length else sql[:length] + "…").replace("|", "\\|") + "`"


def count_names(names: list[str]) -> list[str]:
    counted: dict[str, int] = {}
    for name in names:
        counted[name.rsplit(".", 1)[-1]] = counted.get(name.rsplit(".", 1)[-1], 0) + 1
    return [f"{count} × `{name}`" for name, count in counted.items()]
