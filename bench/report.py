"""The targets, and the markdown tables of a results document (see run.py)."""

from __future__ import annotations

import bulk_export
import load
from benchutil import table
from writes import FLOORS

OPERATION_NAMES = {
    "create": "create",
    "save": "save",
    "bulk_create": "bulk_create",
    "update": "QuerySet.update",
    "delete": "QuerySet.delete",
}
SETTINGS = {"untracked": "untracked", "row": "row level", "statement": "statement level"}
#: Tracked / untracked, at most, by operation and setting (statement-level bulk updates and
#: deletes are held to their floor instead; a row-level delete has no target).
WRITE_TARGETS = {
    ("create", "row"): 1.15,
    ("create", "statement"): 1.15,
    ("save", "row"): 1.15,
    ("save", "statement"): 1.15,
    ("bulk_create", "row"): 1.5,
    ("bulk_create", "statement"): 1.5,
    ("update", "row"): 3.0,
}
#: Tracked / floor (the statement plus one INSERT ... SELECT of its rows into a copy of the
#: event table, indexes included), at most.
FLOOR_TARGETS = {("update", "statement"): 1.15, ("delete", "statement"): 1.15}
LINEARITY_TARGET = 1.5
PAGE_MS_TARGET = 100
PAGE_QUERIES_TARGET = 10
PAGE1_GROWTH_TARGET = 2.0
#: The history UI's exports (CSV and JSON Lines, with names and diffs), issue 18.
EXPORT_ROWS_PER_S_TARGET = 50_000
EXPORT_RSS_MB_TARGET = 150


def verdict(passed: bool | None) -> str:
    return "" if passed is None else ("PASS" if passed else "**FAIL**")


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def fmt(value, digits: int = 2, suffix: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}{suffix}"


# -- writes -----------------------------------------------------------------------------------


class Writes:
    def __init__(self, results: dict):
        self.data = results["writes"]
        self.repeat = results["meta"]["config"]["repeat"]
        self.cells = {
            (c["side"], c["op"], c["model"], c["rows"], c["context"]): c
            for c in self.data["cells"]
        }

    def cell(self, side, op, model, rows, context=False) -> dict | None:
        return self.cells.get((side, op, model, rows, context))

    def seconds(self, side, op, model, rows, context=False) -> float | None:
        cell = self.cell(side, op, model, rows, context)
        return cell["median_s"] if cell else None

    def shown(self, side, op, model, rows, context=False) -> str:
        cell = self.cell(side, op, model, rows, context)
        if cell is None:
            return "–"
        if cell["timed_out"] and not cell["samples_s"]:
            return f"> {self.data['upstream_timeout_s']:.0f} s"
        text = fmt(cell["median_s"], 3)
        if cell["repetitions"] < self.repeat:
            text += f" ({cell['repetitions']} rep)"
        if cell["checks"]:
            text += " ⚠"
        return text

    def floor_seconds(self, op: str, rows: int) -> float | None:
        """The median of `op`'s floor (see worker.py), None for an operation without one."""
        return self.seconds("ours", FLOORS[op], "untracked", rows) if op in FLOORS else None

    def rows_of(self, op: str) -> int:
        return self.data["single_rows"] if op in ("create", "save") else self.data["bulk_rows"]

    def upstream_best(self, op, rows, context) -> tuple[float | None, str | None]:
        options = [
            (self.seconds("upstream", op, model, rows, context), model)
            for model in ("row", "statement")
        ]
        options = [(seconds, model) for seconds, model in options if seconds is not None]
        if not options:
            # Both timed out: 3.9 took longer than the limit, whatever we took.
            return None, None
        return min(options)


def write_checks(results: dict) -> list[dict]:
    writes = Writes(results)
    checks = []
    for op in ("create", "save", "bulk_create", "update", "delete"):
        rows = writes.rows_of(op)
        baseline = writes.seconds("ours", op, "untracked", rows)
        floor = writes.floor_seconds(op, rows)
        for context in (False, True):
            best, best_model = writes.upstream_best(op, rows, context)
            for model in ("row", "statement"):
                ours = writes.seconds("ours", op, model, rows, context)
                name = (
                    f"{OPERATION_NAMES[op]} ×{rows:,}, {SETTINGS[model]},"
                    f" {'with' if context else 'no'} context"
                )
                if (op, model) in WRITE_TARGETS:
                    checks.append(
                        check(
                            "writes",
                            f"{name}: tracked / untracked",
                            ratio(ours, baseline),
                            WRITE_TARGETS[op, model],
                            "≤",
                        )
                    )
                if (op, model) in FLOOR_TARGETS:
                    checks.append(
                        check(
                            "writes",
                            f"{name}: tracked / floor",
                            ratio(ours, floor),
                            FLOOR_TARGETS[op, model],
                            "≤",
                        )
                    )
                upstream_timed_out = best is None and any(
                    (writes.cell("upstream", op, m, rows, context) or {}).get("timed_out")
                    for m in ("row", "statement")
                )
                if upstream_timed_out and ours is not None:
                    entry = check("vs 3.9", f"{name}: ours / 3.9 best", None, 1.0, "≤")
                    entry.update(passed=True, note="3.9 exceeded its time limit")
                else:
                    entry = check(
                        "vs 3.9", f"{name}: ours / 3.9 best", ratio(ours, best), 1.0, "≤"
                    )
                    entry["note"] = f"3.9 best: {SETTINGS.get(best_model, '–')}"
                checks.append(entry)
    return checks


def linearity(results: dict) -> list[dict]:
    """Per-row cost of bulk operations at each size, per side and setting."""
    writes = Writes(results)
    found = []
    for op in ("bulk_create", "update"):
        for side in ("ours", "upstream"):
            for model in ("row", "statement"):
                per_row = {}
                for rows in writes.data["linearity_rows"]:
                    cell = writes.cell(side, op, model, rows)
                    if cell is None:
                        continue
                    if cell["timed_out"] and not cell["samples_s"]:
                        per_row[rows] = "timeout"
                    elif cell["median_s"] is not None:
                        per_row[rows] = cell["median_s"] / rows * 1e6
                numbers = [value for value in per_row.values() if value != "timeout"]
                spread = max(numbers) / min(numbers) if len(numbers) > 1 else None
                found.append(
                    {
                        "op": op,
                        "side": side,
                        "model": model,
                        "us_per_row": per_row,
                        "spread": spread,
                    }
                )
    return found


# -- checks -----------------------------------------------------------------------------------


def check(group: str, name: str, value, target, comparison: str) -> dict:
    if value is None:
        passed = None
    elif comparison == "≤":
        passed = value <= target
    elif comparison == "<":
        passed = value < target
    else:
        passed = value >= target
    return {
        "group": group,
        "name": name,
        "value": value,
        "target": f"{comparison} {target}",
        "passed": passed,
    }


def page_checks(group: str, pages: list[dict]) -> list[dict]:
    checks = []
    for page in pages:
        checks.append(
            check(group, f"{page['name']}: server ms", page["median_ms"], PAGE_MS_TARGET, "<")
        )
        checks.append(
            check(group, f"{page['name']}: SQL queries", page["queries"], PAGE_QUERIES_TARGET, "≤")
        )
    return checks


def checks(results: dict) -> list[dict]:
    found = []
    if "writes" in results:
        found += write_checks(results)
        for line in linearity(results):
            if line["side"] == "ours":
                found.append(
                    check(
                        "linearity",
                        f"{OPERATION_NAMES[line['op']]}, {SETTINGS[line['model']]}:"
                        " per-row cost max / min",
                        line["spread"],
                        LINEARITY_TARGET,
                        "≤",
                    )
                )
    reads = results.get("reads") or {}
    if reads.get("pages"):
        found += page_checks("reads", reads["pages"])
    page1 = [stage["page1"]["median_ms"] for stage in reads.get("stages", []) if "page1" in stage]
    if len(page1) > 1:
        found.append(
            check(
                "reads",
                "page 1 at every history size: slowest / fastest",
                max(page1) / min(page1),
                PAGE1_GROWTH_TARGET,
                "≤",
            )
        )
    if reads.get("ui"):
        found += page_checks("ui", reads["ui"])
    if reads.get("as_of"):
        found += page_checks("as-of", reads["as_of"])
    for name, run in _export_runs(results):
        found.append(
            check(
                "export",
                f"{name} export: rows/s",
                run["rows_per_s"],
                EXPORT_ROWS_PER_S_TARGET,
                "≥",
            )
        )
        found.append(
            check(
                "export",
                f"{name} export: peak RSS (MB)",
                run["peak_rss_mb"],
                EXPORT_RSS_MB_TARGET,
                "<",
            )
        )
    if results.get("load"):
        for name, value in load.failures(results["load"]).items():
            found.append(check("load", f"under load: {name}", value, 0, "≤"))
    for step in (results.get("bulk_export") or {}).get("steps", []):
        if step["what"].startswith("`pghistory_export"):  # (not the floors beside them)
            found.append(
                check(
                    "bulk-export",
                    f"{step['what']}: rows/s",
                    step["rows_per_s"],
                    bulk_export.TARGET,
                    "≥",
                )
            )
    return found


# -- markdown ---------------------------------------------------------------------------------


def markdown(results: dict) -> str:
    meta = results["meta"]
    config = meta["config"]
    out = ["# django-pghistory benchmarks\n"]
    out.append(
        f"`{meta['command']}` — started {meta['started']}, took"
        f" {meta.get('duration_s', 0) / 60:.1f} min; median of {config['repeat']} repetitions"
        " unless a cell says otherwise.\n"
    )
    machine = meta["machine"]
    git = meta["git"]
    dirty = git.get("library_changes_not_committed") or []
    out.append(
        f"Machine: {machine['cpus']} CPUs, {machine['memory_gib']} GiB, Python"
        f" {machine['python']}. Database: `{meta['database']}`"
        + (f" (3.9: `{meta['upstream_database']}`)" if "writes" in results else "")
        + f". Repository at {git.get('commit')}"
        + (f", with uncommitted library changes in {len(dirty)} file(s)" if dirty else "")
        + ".\n"
    )
    if "writes" in results:
        out.append(writes_markdown(results))
    if "reads" in results:
        out.append(reads_markdown(results))
    if "export" in results:
        out.append(export_markdown(results))
    out.append(summary_markdown(results))
    return "\n".join(out)


def writes_markdown(results: dict) -> str:
    writes = Writes(results)
    setup = writes.data["setup"]
    versions = (
        f"Ours: django-pghistory {setup['ours']['pghistory']} (this repository); 3.9:"
        f" django-pghistory {setup['upstream']['pghistory']} from PyPI in"
        f" `bench/.venv-upstream`; both on Django {setup['ours']['django']}, django-pgtrigger"
        f" {setup['ours']['pgtrigger']}, psycopg {setup['ours']['psycopg']}."
    )
    by_name = {c["name"]: c for c in results["checks"]}
    rows = []
    for op in ("create", "save", "bulk_create", "update", "delete"):
        n = writes.rows_of(op)
        base_ours = writes.seconds("ours", op, "untracked", n)
        base_up = writes.seconds("upstream", op, "untracked", n)
        floor = writes.floor_seconds(op, n)
        for context in (False, True):
            best, best_model = writes.upstream_best(op, n, context)
            for model in ("untracked", "row", "statement"):
                ours = writes.seconds("ours", op, model, n, context)
                up = writes.seconds("upstream", op, model, n, context)
                name = (
                    f"{OPERATION_NAMES[op]} ×{n:,}, {SETTINGS[model]},"
                    f" {'with' if context else 'no'} context"
                )
                if model == "untracked":
                    own = "baseline" if not context else fmt(ratio(ours, base_ours))
                    theirs = "baseline" if not context else fmt(ratio(up, base_up))
                    vs_best = vs_floor = ""
                else:
                    target = by_name.get(f"{name}: tracked / untracked")
                    own = fmt(ratio(ours, base_ours))
                    if target:
                        own += f" {verdict(target['passed'])}"
                    theirs = fmt(ratio(up, base_up))
                    best_check = by_name.get(f"{name}: ours / 3.9 best")
                    vs_best = fmt(ratio(ours, best), 3)
                    if best_model:
                        vs_best += f" ({'row' if best_model == 'row' else 'stmt'})"
                    if best_check:
                        vs_best += f" {verdict(best_check['passed'])}"
                    vs_floor = ""
                    if floor is not None:
                        floor_check = by_name.get(f"{name}: tracked / floor")
                        vs_floor = fmt(ratio(ours, floor))
                        if floor_check:
                            vs_floor += f" {verdict(floor_check['passed'])}"
                rows.append(
                    [
                        f"{OPERATION_NAMES[op]} ×{n:,}",
                        "yes" if context else "no",
                        SETTINGS[model],
                        writes.shown("ours", op, model, n, context),
                        own,
                        vs_floor,
                        writes.shown("upstream", op, model, n, context),
                        theirs,
                        vs_best,
                    ]
                )
        if floor is not None:
            rows.append(
                [
                    f"{OPERATION_NAMES[op]} ×{n:,}",
                    "no",
                    f"floor: untracked {op} + INSERT … SELECT into a copy of the event table",
                    writes.shown("ours", FLOORS[op], "untracked", n),
                    fmt(ratio(floor, base_ours)),
                    "",
                    "",
                    "",
                    "",
                ]
            )
    text = ["## Writes: tracked vs untracked, ours vs django-pghistory 3.9\n", versions + "\n"]
    text.append(
        "Seconds for the whole workload (median). Ratios divide by the untracked model of the"
        " same library *without* a context (so the context's own cost counts against the"
        " tracked rows). The floor of a bulk update or delete is the untracked statement with"
        " one `INSERT … SELECT` of the rows it wrote into a copy of the statement-level event"
        " table (`LIKE … INCLUDING ALL`: the same columns and indexes), in one statement"
        " (`WITH … RETURNING`): what any trigger design pays at the least. Targets: single-row"
        f" writes ≤ {WRITE_TARGETS['create', 'row']}×, bulk_create ≤"
        f" {WRITE_TARGETS['bulk_create', 'row']}×, row-level update ≤"
        f" {WRITE_TARGETS['update', 'row']}×, statement-level update and delete ≤"
        f" {FLOOR_TARGETS['update', 'statement']}× their floor, and never slower than 3.9's"
        " best setting for the same operation and context (ours ÷ 3.9 best ≤ 1).\n"
    )
    text.append(
        table(
            [
                "operation",
                "context",
                "setting",
                "ours s",
                "ours ÷ untracked",
                "ours ÷ floor",
                "3.9 s",
                "3.9 ÷ untracked",
                "ours ÷ 3.9 best",
            ],
            rows,
        )
    )
    problems = [
        (c["side"], c["op"], c["model"], c["checks"]) for c in writes.data["cells"] if c["checks"]
    ]
    if problems:
        text.append("⚠ Sanity checks that failed (rows or events not as expected):\n")
        for side, op, model, found in problems:
            text.append(f"- {side} {op} {model}: {found[0]}")
        text.append("")
    text.append(linearity_markdown(results))
    return "\n".join(text)


def linearity_markdown(results: dict) -> str:
    writes = Writes(results)
    sizes = writes.data["linearity_rows"]
    by_name = {c["name"]: c for c in results["checks"]}
    rows = []
    for line in linearity(results):
        cells = []
        for n in sizes:
            value = line["us_per_row"].get(n)
            if value == "timeout":
                cells.append(f"> {writes.data['upstream_timeout_s']:.0f} s")
            elif value is None:
                cells.append("–" if line["side"] == "ours" else "(capped)")
            else:
                cell = writes.cell(line["side"], line["op"], line["model"], n)
                note = (
                    f" ({cell['repetitions']} rep)" if cell["repetitions"] < writes.repeat else ""
                )
                cells.append(fmt(value, 1) + note)
        result = ""
        if line["side"] == "ours":
            found = by_name.get(
                f"{OPERATION_NAMES[line['op']]}, {SETTINGS[line['model']]}: per-row cost max / min"
            )
            result = verdict(found["passed"]) if found else ""
        rows.append(
            [
                OPERATION_NAMES[line["op"]],
                "ours" if line["side"] == "ours" else "3.9",
                SETTINGS[line["model"]],
                *cells,
                fmt(line["spread"]),
                result,
            ]
        )
    return (
        "### Linearity: per-row cost of bulk operations (µs per row, tracked, no context)\n\n"
        f"Target for ours: max / min ≤ {LINEARITY_TARGET}. 3.9 is capped at 100,000 rows and"
        f" {writes.data['upstream_timeout_s']:.0f} s per operation.\n\n"
        + table(
            ["operation", "library", "setting", *[f"{n:,} rows" for n in sizes], "max / min", ""],
            rows,
        )
    )


def page_rows(pages: list[dict], checks_by_name: dict, repeat: int) -> list[list]:
    rows = []
    for page in pages:
        ms = checks_by_name.get(f"{page['name']}: server ms")
        queries = checks_by_name.get(f"{page['name']}: SQL queries")
        passed = [c["passed"] for c in (ms, queries) if c]
        url = page.get("url")
        if url and len(url) > 70:
            url = url[:67] + "…"
        rows.append(
            [
                page["name"],
                f"`{url}`" if url else "(ORM)",
                fmt(page["median_ms"], 1)
                + (
                    f" ({page['repetitions']} rep)"
                    if page.get("repetitions", repeat) < repeat
                    else ""
                ),
                page["queries"],
                verdict(all(passed) if passed else None),
            ]
        )
    return rows


def reads_markdown(results: dict) -> str:
    reads = results["reads"]
    by_name = {c["name"]: c for c in results["checks"]}
    repeat = results["meta"]["config"]["repeat"]
    text = []
    facts = reads.get("facts", {})
    text.append(f"## History reads at {reads['stages'][-1]['events']:,} events\n")
    text.append(
        f"Built in {reads.get('build_s', 0):.0f} s with set-based SQL (the example shop's"
        " five models, objects and contexts of 12 staff users over 90 days). Server time is"
        " the median through Django's test client as a superuser; queries are counted on a"
        f" warm-up request. Targets: < {PAGE_MS_TARGET} ms and ≤ {PAGE_QUERIES_TARGET}"
        " queries.\n"
    )
    stages = [stage for stage in reads["stages"] if "page1" in stage]
    if stages:
        growth = by_name.get("page 1 at every history size: slowest / fastest")
        text.append("### Page 1 as the history grows\n")
        text.append(
            table(
                ["history", "page-1 ms", "queries", "events added in"],
                [
                    [
                        f"{stage['events']:,} events",
                        fmt(stage["page1"]["median_ms"], 1),
                        stage["page1"]["queries"],
                        f"{stage['build_s']:.1f} s",
                    ]
                    for stage in stages
                ]
                + (
                    [
                        [
                            "slowest / fastest",
                            fmt(growth["value"]),
                            "",
                            f"target ≤ {PAGE1_GROWTH_TARGET}: {verdict(growth['passed'])}",
                        ]
                    ]
                    if growth
                    else []
                ),
            )
        )
    if reads.get("pages"):
        text.append("### Pages and filters\n")
        text.append(
            f"Typical order: {facts.get('typical_order_events')} events; busiest order:"
            f" {facts.get('busy_order_events')} events. Page 100 is reached by following the"
            " Older links; only the last request is measured.\n"
        )
        text.append(
            table(
                ["page", "URL", "server ms", "queries", "result"],
                page_rows(reads["pages"], by_name, repeat),
            )
        )
    if reads.get("ui"):
        text.append("## UI pages in the admin\n")
        text.append(
            table(
                ["page", "URL", "server ms", "queries", "result"],
                page_rows(reads["ui"], by_name, repeat),
            )
        )
    if reads.get("as_of"):
        text.append("### A table as of a moment\n")
        text.append(f"{reads['as_of'][0]['note']}.\n")
        text.append(
            table(
                ["page", "URL", "server ms", "queries", "result"],
                page_rows(reads["as_of"], by_name, repeat),
            )
        )
    slow = [p for p in [*reads.get("pages", []), *reads.get("ui", [])] if p.get("explain")]
    if slow:
        text.append(
            f"Pages over {PAGE_MS_TARGET} ms: the EXPLAIN ANALYZE of each one's slowest query is in"
            " the JSON results (`reads.pages[].explain`, `reads.ui[].explain`).\n"
        )
    return "\n".join(text)


def _export_runs(results: dict) -> list[tuple[str, dict]]:
    """(format's name, its run) of each export measured."""
    export = results.get("export") or {}
    runs = [("CSV", export.get("run")), ("JSON Lines", export.get("jsonl"))]
    return [(name, run) for name, run in runs if run]


def export_markdown(results: dict) -> str:
    export = results["export"]
    run = export["run"]
    profile = export.get("profile") or {}
    by_name = {c["name"]: c for c in results["checks"]}
    rows = []
    for name, measured in _export_runs(results):
        speed = by_name.get(f"{name} export: rows/s")
        memory = by_name.get(f"{name} export: peak RSS (MB)")
        rows.append(
            [
                name,
                f"{measured['rows']:,}",
                f"{measured['seconds']:.1f}",
                f"{measured['rows_per_s']:,} {verdict(speed['passed']) if speed else ''}",
                f"{measured['peak_rss_mb']:.0f} {verdict(memory['passed']) if memory else ''}",
                f"{measured['rss_before_mb']:.0f}",
                fmt(measured.get("python_cpu_us_per_row"), 1),
                fmt(measured.get("server_cpu_us_per_row"), 1),
            ]
        )
    text = ["## Exports\n"]
    text.append(
        "`/history/export.csv` and `/history/export.jsonl` streamed through the test client,"
        " each in a process of its own (one run). Targets: ≥"
        f" {EXPORT_ROWS_PER_S_TARGET:,} rows/s, peak RSS < {EXPORT_RSS_MB_TARGET} MB. CPU per"
        " row: the export's process (Python and the driver) and the database server's process"
        " that answered its queries; on two CPUs the export goes no faster than the larger"
        " allows (1,000,000 µs ÷ that, in rows/s).\n"
    )
    text.append(
        table(
            [
                "format",
                "rows",
                "seconds",
                "rows/s",
                "peak RSS MB",
                "RSS before MB",
                "Python CPU µs/row",
                "server CPU µs/row",
            ],
            rows,
        )
    )
    if profile.get("chunk_queries"):
        # Per exported row, from the profiled rows (the profiler's overhead falls on Python).
        per_row_total = run["seconds"] / max(run["rows"], 1) * 1e6
        profiled = max(profile["profiled_rows"], 1)
        sql = profile["chunk_queries_s"] / profiled * 1e6
        waited = profile.get("chunk_wait_s", 0) / profiled * 1e6
        others = profile["other_queries_s"] / profiled * 1e6
        python = per_row_total - waited - others
        text.append("Where an exported row's time goes (µs per row):\n")
        text.append(
            table(
                [
                    "whole export",
                    "waiting for the next chunk",
                    "names of users and objects (SQL)",
                    "Python (the rest)",
                ],
                [
                    [
                        fmt(per_row_total, 1),
                        f"{fmt(waited, 1)} ({waited / per_row_total:.0%})",
                        f"{fmt(others, 1)} ({others / per_row_total:.0%})",
                        f"{fmt(python, 1)} ({python / per_row_total:.0%})",
                    ]
                ],
            )
        )
        text.append(
            f"Measured over the first {profile['profiled_rows']:,} rows under cProfile"
            f" (`{profile['profile']}`): {profile['other_queries']} queries naming users and"
            f" objects, and {profile['chunk_queries']} chunk queries ({fmt(sql, 1)} µs per row),"
            " which run in a read-ahead thread while the chunk before is written: the export"
            " waits for a chunk only as long as its query outlasts that.\n"
        )
    floor = export.get("floor")
    if floor:
        text.append(
            "The floor (`export_child.py --floor`): the export's chunk queries alone, read"
            " through the driver as the export reads them, then the standard library's least"
            f" work per CSV row over the first {floor['python_rows']:,} of those rows:\n"
        )
        text.append(
            table(
                [
                    "rows",
                    "queries alone: rows/s",
                    "Python CPU µs/row",
                    "server CPU µs/row",
                    "diff JSON read µs/row",
                    "diff JSON written (sorted) µs/row",
                    "CSV row written µs/row",
                ],
                [
                    [
                        f"{floor['rows']:,}",
                        f"{floor['rows_per_s']:,}",
                        fmt(floor["python_cpu_us_per_row"], 1),
                        fmt(floor["server_cpu_us_per_row"], 1),
                        fmt(floor["json_read_us_per_row"], 1),
                        fmt(floor["json_write_us_per_row"], 1),
                        fmt(floor["csv_row_us_per_row"], 1),
                    ]
                ],
            )
        )
    return "\n".join(text)


def summary_markdown(results: dict) -> str:
    found = results["checks"]
    failed = [c for c in found if c["passed"] is False]
    unknown = [c for c in found if c["passed"] is None]
    text = [
        "## Summary\n",
        f"{len(found) - len(failed) - len(unknown)} of {len(found)} targets PASS,"
        f" {len(failed)} FAIL" + (f", {len(unknown)} not measured" if unknown else "") + ".\n",
    ]
    if failed:
        text.append(
            table(
                ["group", "target", "measured", "wanted"],
                [
                    [
                        c["group"],
                        c["name"],
                        fmt(c["value"], 3 if c["value"] < 10 else 1),
                        c["target"],
                    ]
                    for c in failed
                ],
            )
        )
    return "\n".join(text)
