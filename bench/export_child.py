"""The CSV or JSON Lines export, in a process of its own so that its peak memory is its own.

    python bench/export_child.py --out FILE [--limit N] [--format jsonl] [--keep PATH]
                                    the export (its first N rows), timed, with the SHA-256
                                    of its bytes (and the bytes themselves in PATH)
    python bench/export_child.py --out FILE --profile N     where the time goes
    python bench/export_child.py --out FILE --floor N       the least it can cost

Streams `/history/export.csv` (or `export.jsonl`) through Django's test client as the
superuser, counting rows (lines, less the CSV's header) as the chunks arrive, and reports rows
per second and the process's peak resident memory (`ru_maxrss`), next to its resident memory
before the export started, and the files `pghistory` and `pghistory_admin` came from.

With `--profile N` it runs the first N rows under cProfile (the profile goes next to FILE,
as .txt) and times every query as it runs: the chunk queries that read the events (one per
2,000 rows, each a keyset query like a browser page) and the other queries (the users and
objects each chunk names). The rest of the time is Python.

With `--floor N` it measures what no export of the first N rows can do without, in this
process and on this server: the export's own chunk queries alone, read through the driver
as the export reads them (rows/s, Python and server CPU per row), then, over those rows
kept in memory (100,000 at most), the standard library's least work per CSV row: reading
the diff's JSON, writing it with sorted keys, and writing a row of ten cells.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import os
import pstats
import resource
import sys
import time
from pathlib import Path

#: The export's URL, by format; the CSV's first line is its header, JSON Lines have none.
URLS = {"csv": "/history/export.csv", "jsonl": "/history/export.jsonl"}
HEADER_LINES = {"csv": 1, "jsonl": 0}


def rss_mb() -> float:
    """The current resident memory, from /proc (Linux)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--profile", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="stop after this many rows")
    parser.add_argument("--format", choices=URLS, default="csv")
    parser.add_argument("--keep", help="also write the exported bytes to this file")
    parser.add_argument("--floor", type=int, default=0, help="the floor over N rows")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ours.reads_settings")
    import django

    django.setup()
    import history
    import ours
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username=history.ADMIN))
    if args.floor:
        result = floor(args.floor)
    elif args.profile:
        result = profile(client, args.profile, Path(args.out).with_suffix(".txt"))
    else:
        result = export(client, args.limit, args.format, args.keep)
    result["libraries"] = ours.libraries()
    Path(args.out).write_text(json.dumps(result, indent=1))


def stream(client, limit: int | None = None, fmt: str = "csv", digest=None, keep=None):
    """(rows, bytes) of the export in format `fmt`, stopping after `limit` rows if given;
    the bytes also go to `digest` (a hashlib object) and `keep` (a binary file) if given."""
    url = URLS[fmt]
    response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"{url}: status {response.status_code}")
    lines = size = 0
    content = response.streaming_content
    for chunk in content:
        lines += chunk.count(b"\n")
        size += len(chunk)
        if digest is not None:
            digest.update(chunk)
        if keep is not None:
            keep.write(chunk)
        if limit is not None and lines - HEADER_LINES[fmt] >= limit:
            break  # (the last chunk may overshoot: the rows counted are the rows received)
    if hasattr(content, "close"):
        content.close()
    response.close()
    return lines - HEADER_LINES[fmt], size


def server_cpu_s() -> tuple[int, float | None]:
    """(process id, CPU seconds used: user and system) of the database server's process for
    this connection, read from /proc (a server on this machine; None where it cannot be
    read)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return pid, None
    return pid, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_since(before: tuple[int, float | None]) -> float | None:
    """The server's CPU seconds since `before` (a `server_cpu_s()`), if on one connection."""
    (pid_before, seconds_before), (pid_after, seconds_after) = before, server_cpu_s()
    if pid_before != pid_after or seconds_before is None or seconds_after is None:
        return None
    return seconds_after - seconds_before


def speed(rows: int, seconds: float, cpu: float, server: float | None) -> dict:
    """Rows per second, and CPU per row: this process (Python, and the driver reading rows)
    and the database server's process that ran the queries. With two CPUs an export goes no
    faster than the larger of the two allows."""
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds) if seconds else None,
        "python_cpu_us_per_row": round(cpu / rows * 1e6, 1) if rows else None,
        "server_cpu_us_per_row": round(server / rows * 1e6, 1) if rows and server else None,
    }


def export(client, limit: int | None, fmt: str = "csv", keep: str | None = None) -> dict:
    before = rss_mb()
    digest = hashlib.sha256()
    server_before = server_cpu_s()
    with open(keep or os.devnull, "wb") as kept:
        started, cpu_started = time.perf_counter(), time.process_time()
        rows, size = stream(client, limit, fmt, digest, kept if keep else None)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    server = server_cpu_since(server_before)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {
        "format": fmt,
        **speed(rows, seconds, cpu, server),
        "bytes": size,
        "sha256": digest.hexdigest(),
        "rss_before_mb": round(before, 1),
        "peak_rss_mb": round(peak, 1),
    }


#: Rows kept in memory for the floor's Python part.
FLOOR_PYTHON_ROWS = 100_000


def floor(limit: int) -> dict:
    import csv

    from pghistory.models import Events
    from pghistory_admin import export

    reader, _ = export.chunked_rows(Events.objects.all(), "-time")
    kept: list[tuple] = []
    rows = 0
    server_before = server_cpu_s()
    started, cpu_started = time.perf_counter(), time.process_time()
    for chunk in reader:
        rows += len(chunk)
        if len(kept) < FLOOR_PYTHON_ROWS:
            kept.extend(chunk)
        if rows >= limit:
            break
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    server = server_cpu_since(server_before)

    diff_at = export._AT["pgh_diff"]
    diffs = [row[diff_at] for row in kept]
    cpu_started = time.process_time()
    changes = [json.loads(diff) if diff else None for diff in diffs]
    read_s = time.process_time() - cpu_started
    encode = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode
    cpu_started = time.process_time()
    written = [encode(change) if change else "" for change in changes]
    write_s = time.process_time() - cpu_started
    cells = [(*map(str, row), text) for row, text in zip(kept, written, strict=True)]
    buffer = io.StringIO()
    cpu_started = time.process_time()
    csv.writer(buffer).writerows(cells)
    csv_s = time.process_time() - cpu_started
    per_row = 1e6 / max(len(kept), 1)
    return {
        **speed(rows, seconds, cpu, server),
        "python_rows": len(kept),
        "json_read_us_per_row": round(read_s * per_row, 2),
        "json_write_us_per_row": round(write_s * per_row, 2),
        "csv_row_us_per_row": round(csv_s * per_row, 2),
    }


def profile(client, limit: int, text_path: Path) -> dict:
    from django.db import connection

    timed: list[tuple[str, object, float]] = []

    def timing(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timed.append((sql, params, time.perf_counter() - started))

    profiler = cProfile.Profile()
    started = time.perf_counter()
    with connection.execute_wrapper(timing):
        profiler.enable()
        rows, _ = stream(client, limit)
        profiler.disable()
    total = time.perf_counter() - started

    # The export reads events a chunk at a time, each chunk one keyset query over the
    # event tables (the ones with the chosen rows' keys); the other queries name the users
    # and objects of each chunk.
    chunks = [(sql, seconds) for sql, _, seconds in timed if '"pgh_chosen"' in sql]
    others = [seconds for sql, _, seconds in timed if '"pgh_chosen"' not in sql]
    chunk_sql = chunks[0][0] if chunks else ""

    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    # The chunk queries run in a read-ahead thread (not profiled); the export's own thread
    # waits for a chunk only as long as its query outlasts the writing of the one before.
    waited = sum(
        cumulative
        for (path, _, function), (_, _, _, cumulative, _) in stats.stats.items()
        if function == "result"
        and path.endswith(os.path.join("concurrent", "futures", "_base.py"))
    )
    stats.sort_stats("tottime").print_stats(35)
    stats.sort_stats("cumulative").print_stats(45)
    text_path.write_text(
        f"CSV export: the first {rows:,} rows under cProfile ({total:.1f} s with the"
        f" profiler's overhead)\n\n{len(chunks)} chunk queries (events): "
        f"{sum(seconds for _, seconds in chunks):.2f} s in the read-ahead thread, {waited:.2f} s"
        f" waited for\n{len(others)} other queries (names):"
        f" {sum(others):.2f} s\n\nA chunk query:\n{chunk_sql}\n\n" + out.getvalue()
    )
    return {
        "profiled_rows": rows,
        "profiled_s": round(total, 2),
        "chunk_queries": len(chunks),
        "chunk_queries_s": round(sum(seconds for _, seconds in chunks), 3),
        "chunk_wait_s": round(waited, 3),
        "other_queries": len(others),
        "other_queries_s": round(sum(others), 3),
        "profile": str(text_path),
    }


if __name__ == "__main__":
    sys.exit(main())
