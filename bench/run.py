"""The benchmark suite: `.venv/bin/python bench/run.py [--events N] [--quick] [--only PART]`.

Drops and recreates the benchmark databases, then measures, side by side in one run:

  writes   tracked vs untracked writes, ours (row and statement level) and django-pghistory
           3.9 (its own virtualenv, bench/.venv-upstream, made here), plus the per-row cost
           of bulk operations at growing sizes
  reads    the history browser's pages and filters over N events (default 1,000,000), and
           page 1 as the history grows (100k, 1M, 10M ...)
  ui       the admin's event browser, History tab and timeline
  export   the CSV and JSON Lines exports of up to 1,000,000 events: rows/s, peak memory,
           CPU per row, where time goes
  maintenance  backfill and prune throughput over 1,000,000 rows (bench/maintenance.py)
  bulk-export  pghistory_export's rows/s over 1,000,000 events, each format, beside the
           floors (bench/bulk_export.py)
  partitions   the browser's pages on a partitioned vs a plain event table (bench/partitions.py)
  floors   what a bulk delete or update costs at the least with a copy of its rows in a table
           with or without event indexes, in plain SQL (bench/floors.py)
  retire   retiring a removed field's column of a 1,000,000-event table under a concurrent
           writer, beside dropping it (bench/retire.py)
  upgrade  migrating a django-pghistory 3.9.2 project with N events to this package under a
           concurrent writer, as generated and split for no blocking (bench/upgrade.py)
  enqueue  microseconds per Celery delay() to Redis with and without pghistory.contrib.celery,
           outside and inside a context (bench/enqueue.py)
  load     the example project under gunicorn with concurrent writers and readers for a
           bounded time (--load-seconds), then every write checked against its events
           (bench/load.py)
  ui-before-after  page 1 and the exports with a baseline commit's UI (--baseline) and the
           working tree's (or --current's), alternating, on one history
           (bench/ui_before_after.py; only with --only: it is not part of the full run)
  as-of    a model's table as of a moment with 1,000,000 events of 100,000 customers
           (bench/reads.py; only with --only: it adds events to the reads' history)

Prints the results as a markdown table and writes them to bench/results/latest.md and
bench/results/latest.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import benchutil
import bulk_export
import enqueue
import floors
import load
import maintenance
import partitions
import report
import retire
import ui_before_after
import upgrade
import upstream_env
import writes
from benchutil import log

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
PARTS = (
    "writes",
    "reads",
    "ui",
    "export",
    "maintenance",
    "bulk-export",
    "partitions",
    "floors",
    "retire",
    "upgrade",
    "enqueue",
    "load",
)
#: Parts that run only when named with --only.
OPTIONAL_PARTS = ("ui-before-after", "as-of")
#: django-pghistory 3.9: at most this many rows per operation, and this long.
UPSTREAM_MAX_ROWS = 100_000
UPSTREAM_TIMEOUT_S = 120
#: Operations over 1,000,000 rows repeat this often at most, and stop after this long.
BIG_REPEAT = 3
BIG_BUDGET_S = 100
#: Rows of the CSV export measured (the first ones, when the history is larger).
EXPORT_ROWS = 1_000_000


@dataclass
class Config:
    quick: bool
    repeat: int
    events: int
    single_rows: int  # create / save: this many single-row writes
    bulk_rows: int  # bulk_create / update / delete: one call over this many rows
    linearity_rows: list
    upstream_timeout_s: float
    cell_budget_s: float  # a cell stops repeating once its samples took this long
    export_rows: int
    profile_rows: int
    load_seconds: float  # the load part's clients run this long

    @classmethod
    def from_args(cls, args) -> Config:
        if args.quick:
            return cls(
                quick=True,
                repeat=args.repeat or 3,
                events=args.events or 100_000,
                single_rows=500,
                bulk_rows=10_000,
                linearity_rows=[10_000, 100_000],
                upstream_timeout_s=20,
                cell_budget_s=5,
                export_rows=args.export_rows or min(EXPORT_ROWS, args.events or 100_000),
                profile_rows=10_000,
                load_seconds=args.load_seconds or load.QUICK_SECONDS,
            )
        return cls(
            quick=False,
            repeat=args.repeat or 5,
            events=args.events or 1_000_000,
            single_rows=5_000,
            bulk_rows=100_000,
            linearity_rows=[10_000, 100_000, 1_000_000],
            upstream_timeout_s=UPSTREAM_TIMEOUT_S,
            cell_budget_s=40,
            export_rows=args.export_rows or EXPORT_ROWS,
            profile_rows=100_000,
            load_seconds=args.load_seconds or load.SECONDS,
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmarks of django-pghistory (this repository) against 3.9."
    )
    parser.add_argument("--events", type=int, help="history size for the reads (1,000,000)")
    parser.add_argument("--quick", action="store_true", help="a small run (about 2 minutes)")
    parser.add_argument("--only", choices=PARTS + OPTIONAL_PARTS, help="run one part only")
    parser.add_argument(
        "--baseline",
        default=ui_before_after.BASELINE,
        help=f"ui-before-after: the git ref of the UI before ({ui_before_after.BASELINE})",
    )
    parser.add_argument(
        "--current",
        help="ui-before-after: the git ref of the UI after (default: the working tree)",
    )
    parser.add_argument("--repeat", type=int, help="repetitions of each measurement (5)")
    parser.add_argument(
        "--export-rows", type=int, help=f"rows of each export measured ({EXPORT_ROWS:,})"
    )
    parser.add_argument(
        "--load-seconds",
        type=float,
        help=f"load: seconds the clients run ({load.SECONDS}, --quick {load.QUICK_SECONDS})",
    )
    parser.add_argument(
        "--out", default=str(RESULTS / "latest"), help="results path, less .json / .md"
    )
    args = parser.parse_args(argv)
    config = Config.from_args(args)
    parts = [args.only] if args.only else list(PARTS)

    started = time.perf_counter()
    started_at = datetime.datetime.now(datetime.UTC)
    url = benchutil.base_url()
    upstream_url = benchutil.with_database(url, benchutil.database_name(url) + "_upstream")
    results: dict = {
        "meta": {
            "command": " ".join(["python bench/run.py", *map(shlex.quote, sys.argv[1:])]),
            "started": started_at.isoformat(timespec="seconds"),
            "config": asdict(config),
            "parts": parts,
            "database": redact(url),
            "upstream_database": redact(upstream_url),
            "machine": machine(),
            "git": git_state(),
        }
    }

    if set(parts) - {
        "maintenance",
        "bulk-export",
        "partitions",
        "floors",
        "retire",
        "upgrade",
        "enqueue",
        "load",
    }:  # (databases of their own)
        recreate(url)
    if "writes" in parts:
        recreate(upstream_url)
        results["writes"] = run_writes(config, url, upstream_url)
    reads_parts = [part for part in ("reads", "ui", "as-of") if part in parts]
    if reads_parts or "export" in parts:
        results["reads"] = run_reads(config, url, reads_parts)
    if "export" in parts:
        results["export"] = run_export(config, url)
    if "ui-before-after" in parts:
        results["ui_before_after"] = ui_before_after.run(
            config, url, args.baseline, args.current, run_reads, run_child, log
        )
    if "maintenance" in parts:
        results["maintenance"] = maintenance.run(config, url, recreate, run_child, log)
    if "bulk-export" in parts:
        results["bulk_export"] = bulk_export.run(config, url, recreate, run_child, log)
    if "partitions" in parts:
        results["partitions"] = partitions.run(config, url, recreate, run_child, log)
    if "floors" in parts:
        results["floors"] = floors.run(config, url, recreate, run_child, log)
    if "retire" in parts:
        results["retire"] = retire.run(config, url, recreate, run_child, log)
    if "upgrade" in parts:
        results["upgrade"] = upgrade.run(config, url, recreate, run_child, log)
    if "enqueue" in parts:
        results["enqueue"] = enqueue.run(config, url, recreate, run_child, log)
    if "load" in parts:
        results["load"] = load.run(config, url, recreate, run_child, log)

    results["meta"]["duration_s"] = round(time.perf_counter() - started, 1)
    results["checks"] = report.checks(results)
    markdown = "".join(
        part.markdown(results)
        for part in (
            report,
            ui_before_after,
            maintenance,
            bulk_export,
            partitions,
            floors,
            retire,
            upgrade,
            enqueue,
            load,
        )
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    out.with_suffix(".md").write_text(markdown)
    print(markdown)
    log(f"bench: wrote {out.with_suffix('.md')} and .json in {results['meta']['duration_s']} s")
    return 0


# -- databases --------------------------------------------------------------------------------


def redact(url: str) -> str:
    entry = benchutil.django_database(url)
    return f"{entry['HOST'] or 'socket'}:{entry['PORT'] or 5432}/{entry['NAME']}"


def recreate(url: str) -> None:
    """Drop and create the database of `url` (a fresh state for every run)."""
    import psycopg
    from psycopg import sql

    name = benchutil.database_name(url)
    maintenance = benchutil.libpq_kwargs(benchutil.with_database(url, "postgres"))
    with psycopg.connect(**maintenance, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    log(f"bench: database {name} recreated")


# -- the parts --------------------------------------------------------------------------------


def run_writes(config: Config, url: str, upstream_url: str) -> dict:
    upstream_python = upstream_env.ensure(log)
    workers = {
        "ours": writes.Worker("ours", sys.executable, "ours.settings", url),
        "upstream": writes.Worker(
            "upstream", str(upstream_python), "upstream.settings", upstream_url
        ),
    }
    try:
        setup = {side: worker.call(cmd="setup") for side, worker in workers.items()}
        for side, info in setup.items():
            log(
                f"bench: {side}: django-pghistory {info['pghistory']} from {info['pghistory_path']}"
            )
        if not setup["upstream"]["pghistory"].startswith("3.9."):
            raise RuntimeError(f"the upstream side runs {setup['upstream']['pghistory']}")
        if not setup["upstream"]["pghistory_path"].startswith(str(upstream_env.VENV)):
            raise RuntimeError("the upstream worker did not import upstream's pghistory")

        cells: dict[str, writes.Cell] = {}

        def cell(side, op, model, n, context=False, budget=None):
            new = writes.Cell(
                side,
                op,
                model,
                n,
                context,
                timeout=config.upstream_timeout_s if side == "upstream" else None,
                budget=config.cell_budget_s if budget is None else budget,
            )
            return cells.setdefault(new.key, new)

        for op in writes.OPERATIONS:
            n = config.single_rows if op in writes.SINGLE_ROW else config.bulk_rows
            for context in (False, True):
                for side in workers:
                    for model in ("untracked", "row", "statement"):
                        cell(side, op, model, n, context)
        for floor in writes.FLOORS.values():
            cell("ours", floor, "untracked", config.bulk_rows)
        big = []
        for op in ("bulk_create", "update"):
            for n in config.linearity_rows:
                for side in workers:
                    if side == "upstream" and n > UPSTREAM_MAX_ROWS:
                        continue
                    for model in ("row", "statement"):
                        if n >= 1_000_000:
                            big.append(cell(side, op, model, n, budget=BIG_BUDGET_S))
                        else:
                            cell(side, op, model, n)
        regular = [c for c in cells.values() if all(c is not b for b in big)]
        writes.measure(regular, workers, config.repeat, log)
        if big:
            log(f"bench: writes at 1,000,000 rows ({BIG_REPEAT} repetitions at most)")
            writes.measure(big, workers, min(BIG_REPEAT, config.repeat), log)
    finally:
        for worker in workers.values():
            worker.close()
    return {
        "setup": setup,
        "single_rows": config.single_rows,
        "bulk_rows": config.bulk_rows,
        "linearity_rows": config.linearity_rows,
        "upstream_timeout_s": config.upstream_timeout_s,
        "cells": [c.to_json() for c in cells.values()],
    }


def child_env(url: str, pythonpath: Path | None = None) -> dict:
    """A measuring process's environment: our read settings, the database of `url`, and no
    `PYTHONPATH` but `pythonpath` (a folder whose pghistory and pghistory_admin go first)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "PYTHONHOME", "DJANGO_SETTINGS_MODULE")
    }
    env.update(DJANGO_SETTINGS_MODULE="ours.reads_settings", BENCH_DATABASE_URL=url)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def run_child(script: str, args: list[str], url: str, pythonpath: Path | None = None) -> dict:
    out = RESULTS / f".{script}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, str(BENCH / script), *args, "--out", str(out)],
        check=True,
        cwd=BENCH,
        env=child_env(url, pythonpath),
    )
    try:
        return json.loads(out.read_text())
    finally:
        out.unlink()


def run_reads(config: Config, url: str, parts: list[str], pythonpath: Path | None = None) -> dict:
    log(f"bench: building a history of {config.events:,} events")
    args = ["--events", str(config.events), "--repeat", str(config.repeat)]
    args += ["--parts", ",".join(parts) or "none"]
    if config.quick:
        args.append("--quick")
    return run_child("reads.py", args, url, pythonpath)


def run_export(config: Config, url: str) -> dict:
    measured = {}
    for fmt, name in (("csv", "CSV"), ("jsonl", "JSON Lines")):
        log(f"bench: {name} export of up to {config.export_rows:,} events (one run)")
        args = ["--limit", str(config.export_rows), "--format", fmt]
        measured[fmt] = run_child("export_child.py", args, url)
        log(
            f"bench:   {measured[fmt]['rows']:,} rows in {measured[fmt]['seconds']} s,"
            f" peak RSS {measured[fmt]['peak_rss_mb']} MB"
        )
    log(f"bench: profiling the export's first {config.profile_rows:,} rows")
    profiled = run_child("export_child.py", ["--profile", str(config.profile_rows)], url)
    profile_text = Path(profiled["profile"])
    kept = RESULTS / "export-profile.txt"
    if profile_text != kept:
        kept.write_text(profile_text.read_text())
        profile_text.unlink()
    profiled["profile"] = str(kept.relative_to(ROOT))
    log(f"bench: the export's floor over {config.export_rows:,} events")
    floor = run_child("export_child.py", ["--floor", str(config.export_rows)], url)
    return {
        "run": measured["csv"],
        "jsonl": measured["jsonl"],
        "profile": profiled,
        "floor": floor,
    }


# -- facts about the run ----------------------------------------------------------------------


def machine() -> dict:
    memory = None
    try:
        with open("/proc/meminfo") as meminfo:
            memory = round(int(meminfo.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gib": memory,
    }


def git_state() -> dict:
    def git(*args):
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None

    changed = git("status", "--porcelain", "--", "pghistory", "pghistory_admin", "templates")
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "library_changes_not_committed": changed.splitlines() if changed else [],
    }


if __name__ == "__main__":
    sys.exit(main())
