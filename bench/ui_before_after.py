"""The event browser's page 1 and the export with the UI of a baseline commit ("before") and
with the working tree or another commit ("after"), side by side on one history.

`run.py --only ui-before-after [--baseline REF] [--current REF]` calls `run()`, which puts
each side's `pghistory`, `pghistory_admin`, `templates/` and `static/` in a temporary folder
(a commit's from `git archive`, the working tree's copied as it is when the part starts: the
UI may be edited while the part runs), fills the bench database with the "after" side's
libraries as the reads part does (`reads.py`, N events), and measures each side in processes
of its own with its folder first on `PYTHONPATH`, alternating sides: page 1 of the
standalone and of the admin browser (`python bench/ui_before_after.py --repeat R --out
FILE`, timed by `reads.PageMeter` through Django's test client), then the CSV and the
JSON Lines export (`export_child.py --format`). Everything else (the settings, `ours`, the
example shop, the history) is the current tree's and the same for both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import benchutil
import report
from benchutil import table

ROOT = Path(__file__).resolve().parent.parent
#: The last commit before issue 15's UI work.
BASELINE = "da6e8e0"
#: What each side brings: the two apps, and the top-level folders that a checkout's
#: pghistory_admin/templates and pghistory_admin/static link to.
TREE_PATHS = ("pghistory", "pghistory_admin", "templates", "static")
SIDES = ("before", "after")
FORMATS = ("csv", "jsonl")
#: The exports (1,000,000 rows take over a minute each) repeat this often at most.
EXPORT_REPEAT = 3


# -- run.py's side (no Django here) -----------------------------------------------------------


def run(config, url: str, baseline: str, current, run_reads, run_child, log) -> dict:
    """Fill the bench database at `url` and measure both sides on it, `baseline` before and
    `current` after (a git ref, or None: the working tree); return the JSON results."""
    with tempfile.TemporaryDirectory(prefix="pghistory-ui-before-after-") as folder:
        trees = {side: Path(folder, side) for side in SIDES}
        sides = {
            "before": archive(baseline, trees["before"]),
            "after": (
                archive(current, trees["after"]) if current else copy_working_tree(trees["after"])
            ),
        }
        for side, tree in trees.items():
            sides[side]["tree"] = str(tree)
            log(f"bench: {side}: {sides[side]['source']} in {tree}")
        history = run_reads(config, url, [], pythonpath=trees["after"])
        check_tree("after", trees["after"], history)

        export_repeat = min(config.repeat, EXPORT_REPEAT)
        children = {side: {"pages": [], **{fmt: [] for fmt in FORMATS}} for side in SIDES}

        def measure(kind: str, script: str, args: list[str]) -> None:
            for side, tree in trees.items():
                result = run_child(script, args, url, pythonpath=tree)
                check_tree(side, tree, result)
                children[side][kind].append(result)
                if kind in FORMATS:
                    log(
                        f"bench:   {side}, {kind} export: {result['rows']:,} rows,"
                        f" {result['rows_per_s']:,} rows/s, peak RSS {result['peak_rss_mb']} MB"
                    )

        for repetition in range(config.repeat):
            log(f"bench: UI before / after, repetition {repetition + 1} of {config.repeat}")
            measure("pages", "ui_before_after.py", ["--repeat", str(config.repeat)])
            if repetition < export_repeat:
                for fmt in FORMATS:
                    limit = str(config.export_rows)
                    measure(fmt, "export_child.py", ["--limit", limit, "--format", fmt])
        for side in SIDES:
            sides[side]["libraries"] = children[side]["pages"][0]["libraries"]
            sides[side]["templates"] = children[side]["pages"][0]["templates"]
    return {
        "baseline": baseline,
        "current": current,
        "events": history["stages"][-1]["events"],
        "history_build_s": history["build_s"],
        "repeat": config.repeat,
        "export_repeat": export_repeat,
        "export_rows": config.export_rows,
        "sides": sides,
        "pages": pages_side_by_side(children),
        "exports": exports_side_by_side(children),
        "children": children,
    }


def git(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, **kwargs)


def archive(ref: str, tree: Path) -> dict:
    """`ref`'s TREE_PATHS, extracted into `tree` (links kept)."""
    commit = git("rev-parse", "--short", f"{ref}^{{commit}}", capture_output=True, text=True)
    commit = commit.stdout.strip()
    tree.mkdir(parents=True)
    tar = git("archive", "--format=tar", commit, "--", *TREE_PATHS, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=tar.stdout, check=True)
    return {"source": f"{ref} ({commit})", "commit": commit, "uncommitted": []}


def copy_working_tree(tree: Path) -> dict:
    """The working tree's TREE_PATHS as they are now, copied into `tree` (links kept), so that
    edits made while the part runs do not reach one side's processes and not another's."""
    for path in TREE_PATHS:
        shutil.copytree(
            ROOT / path,
            tree / path,
            symlinks=True,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    head = git("rev-parse", "--short", "HEAD", capture_output=True, text=True).stdout.strip()
    status = git("status", "--porcelain", "--", *TREE_PATHS, capture_output=True, text=True)
    uncommitted = status.stdout.splitlines()
    source = f"the working tree at {head}" + (
        f", {len(uncommitted)} uncommitted change(s)" if uncommitted else ""
    )
    return {"source": source, "commit": head, "uncommitted": uncommitted}


def check_tree(side: str, tree: Path, result: dict) -> None:
    """Stop unless the child imported both apps from `tree`, and read the template and static
    folders and every template it loaded of the UI's (named `pghistory_admin/...`, or any from
    this checkout's templates/, such as an admin template it overrides) there too."""
    root = tree.resolve()
    templates = result.get("templates")
    if templates is not None and not any(
        name.startswith("pghistory_admin/") for name in templates
    ):
        raise RuntimeError(f"the {side} side's process loaded no pghistory_admin template")
    ui_templates = {
        name: path
        for name, path in (templates or {}).items()
        if name.startswith("pghistory_admin/") or Path(path).is_relative_to(ROOT / "templates")
    }
    found = {**result["libraries"], **ui_templates}
    elsewhere = {name: path for name, path in found.items() if not Path(path).is_relative_to(root)}
    if elsewhere:
        raise RuntimeError(f"the {side} side's process did not use {root}: {elsewhere}")


def pages_side_by_side(children: dict) -> list[dict]:
    """Each page's samples of all of a side's processes pooled, before and after."""
    names = [page["name"] for page in children["before"]["pages"][0]["pages"]]
    pages = []
    for index, name in enumerate(names):
        entry = {"name": name, "url": children["before"]["pages"][0]["pages"][index]["url"]}
        for side in SIDES:
            runs = [child["pages"][index] for child in children[side]["pages"]]
            entry[side] = {
                "median_ms": round(
                    benchutil.median([s for r in runs for s in r["samples_ms"]]), 2
                ),
                "run_medians_ms": [r["median_ms"] for r in runs],
                "samples": sum(len(r["samples_ms"]) for r in runs),
                "queries": sorted({r["queries"] for r in runs}),
                "bytes": sorted({r["bytes"] for r in runs}),
            }
        pages.append(entry)
    return pages


def exports_side_by_side(children: dict) -> list[dict]:
    exports = []
    for fmt in FORMATS:
        entry = {"format": fmt}
        for side in SIDES:
            runs = children[side][fmt]
            entry[side] = {
                "rows": sorted({r["rows"] for r in runs}),
                "rows_per_s": benchutil.median([r["rows_per_s"] for r in runs]),
                "peak_rss_mb": benchutil.median([r["peak_rss_mb"] for r in runs]),
                "run_rows_per_s": [r["rows_per_s"] for r in runs],
                "run_peak_rss_mb": [r["peak_rss_mb"] for r in runs],
            }
        exports.append(entry)
    return exports


def one_or_both(values: dict) -> str:
    """A figure both sides share once, else "before / after" (each side's distinct values)."""
    shown = {side: ", ".join(f"{value:,}" for value in values[side]) for side in SIDES}
    return shown["before"] if shown["before"] == shown["after"] else " / ".join(shown.values())


def markdown(results: dict) -> str:
    """The section of the report ("" when the part did not run)."""
    measured = results.get("ui_before_after")
    if not measured:
        return ""
    sides = measured["sides"]
    events = measured["events"]
    pages = [
        [
            page["name"],
            f"`{page['url']}`",
            f"{page['before']['median_ms']:.1f}",
            f"{page['after']['median_ms']:.1f}",
            report.fmt(report.ratio(page["after"]["median_ms"], page["before"]["median_ms"])),
            one_or_both({side: page[side]["queries"] for side in SIDES}),
            one_or_both({side: page[side]["bytes"] for side in SIDES}),
            " / ".join(
                f"{min(page[side]['run_medians_ms']):.1f}–{max(page[side]['run_medians_ms']):.1f}"
                for side in SIDES
            ),
        ]
        for page in measured["pages"]
    ]
    exports = [
        [
            f"`/history/export.{export['format']}`",
            one_or_both({side: export[side]["rows"] for side in SIDES}),
            f"{export['before']['rows_per_s']:,.0f}",
            f"{export['after']['rows_per_s']:,.0f}",
            report.fmt(
                report.ratio(export["after"]["rows_per_s"], export["before"]["rows_per_s"])
            ),
            f"{export['before']['peak_rss_mb']:.1f}",
            f"{export['after']['peak_rss_mb']:.1f}",
            report.fmt(
                report.ratio(export["after"]["peak_rss_mb"], export["before"]["peak_rss_mb"])
            ),
        ]
        for export in measured["exports"]
    ]
    repeat, export_repeat = measured["repeat"], measured["export_repeat"]
    return (
        "\n## UI before and after\n\n"
        f"Before: {sides['before']['source']}; after: {sides['after']['source']}. Each side's"
        " `pghistory`, `pghistory_admin`, `templates/` and `static/` come from a folder of their"
        " own, first on `PYTHONPATH` of that side's processes (checked in each one: both"
        " modules, the template and static folders and every template of the UI's that it"
        " loaded); the settings, the example shop and the history of"
        f" {events:,} events are the same. The sides alternate (before, after, before, ...):"
        f" {repeat} processes a side for the pages, each timing a page {repeat} times after a"
        f" warm-up request that counts its queries (the median of all {repeat * repeat} samples;"
        " the range of the processes' medians beside it), then"
        f" {export_repeat} processes a side and format for the exports, streamed through the"
        " test client (median rows/s and peak RSS, `ru_maxrss`). after ÷ before over 1 is"
        " slower pages, a faster export and more memory.\n\n"
        + table(
            [
                "page 1",
                "URL",
                "before ms",
                "after ms",
                "after ÷ before",
                "queries",
                "bytes",
                "range ms (before / after)",
            ],
            pages,
        )
        + "\n"
        + table(
            [
                "export",
                "rows",
                "before rows/s",
                "after rows/s",
                "after ÷ before",
                "before peak MB",
                "after peak MB",
                "after ÷ before",
            ],
            exports,
        )
    )


# -- a measuring process ----------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ours.reads_settings")
    import django

    django.setup()
    import ours
    import reads

    meter = reads.PageMeter(args.repeat)
    meter.sign_in()
    pages = [meter.page(*reads.BROWSER_PAGE_1), meter.page(*reads.ADMIN_BROWSER_PAGE_1)]
    result = {
        "pages": pages,
        "libraries": ours.libraries(),
        "templates": ours.loaded_templates(),
    }
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
