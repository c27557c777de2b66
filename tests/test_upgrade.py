"""Upgrading a django-pghistory 3.9.2 project to this package, as its user does it.

tests/upgrade_project/ is a small project written for 3.9.2 (see its models). The module:

1. makes (or reuses) tests/.venv-392, a virtualenv with django-pghistory 3.9.2 from PyPI and
   the Django, django-pgtrigger and psycopg versions of the interpreter running the suite
   (3.9.2's package is also called `pghistory`, so it is only ever run in its own processes);
2. copies the project to a temporary directory and, with 3.9.2's interpreter, on a database
   of its own on the suite's server: `makemigrations`, `migrate`, writes a round of history
   (`write_history --round 1`) and dumps what 3.9.2 stored (`dump_history`);
3. switches the same directory and database to our package (the suite's interpreter), adds
   the history UI's apps to the settings as its user would, and checks `makemigrations`,
   `migrate`, `check`, that the stored events and what `Events` returns are 3.9.2's, and that
   a second round written under ours stores the same events as the first did under 3.9.2;
4. opens a product's admin History tab written under 3.9.2 and reads the old values in it.

Every step is a real subprocess on a real Postgres; a failed step shows its output.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import fcntl
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from importlib import metadata
from pathlib import Path

import pytest

import pghistory
from tests.processes import own_database, run_step

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
TEMPLATE = TESTS / "upgrade_project"
VENV = TESTS / ".venv-392"
PYTHON_392 = VENV / "bin" / "python"
STAMP = VENV / ".upgrade-requirements.json"
LOCK = TESTS / ".venv-392.lock"
OURS = Path(sys.executable)
UPSTREAM = "django-pghistory==3.9.2"

# What a user adopting our history UI adds to the settings of a 3.9.2 project.
ADOPT_THE_UI = """

# Adopting the history UI of the new package (above the admin, for the History button).
INSTALLED_APPS.insert(INSTALLED_APPS.index("django.contrib.admin"), "pghistory_admin")
INSTALLED_APPS += ["django_filters", "django_tables2"]
PGHISTORY_ADMIN_HISTORY_TAB = True
"""

EVENT_MODELS = ["inventory.LedgerEntryEvent", "inventory.NoteEvent", "inventory.ProductEvent"]
TRIGGERS = {
    "ledgerentry": {"insert_insert", "update_update", "delete_delete"},
    "note": {"insert_insert", "update_update", "delete_delete"},
    "product": {"insert_insert", "update_update", "delete_delete", "qty_changed_update"},
}

# The (code without its round prefix, label) of each event that one round of write_history
# stores, in pgh_id order: what 3.9.2 writes, and what ours must write too.
ROUND_EVENTS = {
    "inventory.ProductEvent": [
        ("kettle", "insert"),
        ("grinder", "insert"),
        ("kettle", "update"),  # a name change: no qty_changed; the no-op save: nothing
        ("grinder", "qty_changed"),
        ("grinder", "update"),
        ("mug-1", "insert"),  # bulk_create
        ("mug-2", "insert"),
        ("mug-3", "insert"),
        ("mug-1", "qty_changed"),  # QuerySet.update of qty
        ("mug-1", "update"),
        ("mug-2", "qty_changed"),
        ("mug-2", "update"),
        ("mug-3", "qty_changed"),
        ("mug-3", "update"),
        ("mug-1", "update"),  # QuerySet.update of a name; the no-op update: nothing
        ("grinder", "qty_changed"),  # in pghistory.context(reason="restock")
        ("grinder", "update"),
        ("mug-3", "delete"),
        ("mug-2", "delete"),
        ("kettle", "qty_changed"),  # POST .../edit/ through HistoryMiddleware
        ("kettle", "update"),
        ("kettle", "qty_changed"),  # POST .../ledger/ (the same POST again: nothing)
        ("kettle", "update"),
    ],
    "inventory.LedgerEntryEvent": [  # statement level
        ("entry-1", "insert"),
        ("entry-2", "insert"),  # bulk_create
        ("entry-3", "insert"),
        ("entry-1", "update"),  # QuerySet.update; the no-op update: nothing
        ("entry-2", "update"),
        ("entry-3", "delete"),
        ("entry-4", "insert"),
        ("entry-4", "update"),  # its product deleted: SET_NULL
        ("entry-5", "insert"),  # POST .../ledger/
    ],
    "inventory.NoteEvent": [  # denormalized context; a pinned-only change is no event
        ("note-a", "insert"),
        ("note-b", "insert"),
        ("note-b", "update"),
        ("note-a", "delete"),
        ("note-c", "insert"),  # POST .../notes/
    ],
}


# -- the 3.9.2 virtualenv ----------------------------------------------------------------


def wanted_environment() -> dict:
    """3.9.2, with the versions this interpreter runs of what both sides share."""
    pins = [UPSTREAM]
    for name in ("Django", "django-pgtrigger", "psycopg", "psycopg-binary"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            pins.append(f"{name}=={metadata.version(name)}")
    return {"python": platform.python_version(), "requirements": pins}


def ensure_venv_392() -> Path:
    """Make tests/.venv-392 unless it exists with what is wanted; return its python."""
    wanted = wanted_environment()
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one maker at a time; the others reuse its work
        with contextlib.suppress(OSError, ValueError):
            if PYTHON_392.exists() and json.loads(STAMP.read_text()) == wanted:
                return PYTHON_392
        run_step("create the 3.9.2 virtualenv", [OURS, "-m", "venv", "--clear", VENV], TESTS)
        run_step(
            "install 3.9.2",
            [PYTHON_392, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            + wanted["requirements"],
            TESTS,
            timeout=900,
        )
        STAMP.write_text(json.dumps(wanted))
    return PYTHON_392


# -- running steps -----------------------------------------------------------------------


class Project:
    """The copied project, its database, and how to run manage.py on either package."""

    def __init__(self, directory: Path, database: dict):
        self.directory = directory
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")
        }
        # pytest-django exports tests.settings; the project has its own.
        self.env["DJANGO_SETTINGS_MODULE"] = "upgrade_site.settings"
        self.env["UPGRADE_DATABASE"] = json.dumps(database)
        self.env["PYTHONDONTWRITEBYTECODE"] = "1"

    def manage(self, python: Path, *args) -> subprocess.CompletedProcess:
        side = "3.9.2" if python == PYTHON_392 else "ours"
        what = f"manage.py {' '.join(map(str, args))} ({side})"
        return run_step(what, [python, "manage.py", *args], self.directory, self.env)

    def dump(self, python: Path, name: str) -> dict:
        out = self.directory / f"{name}.json"
        self.manage(python, "dump_history", out)
        return json.loads(out.read_text())

    def migrations(self) -> dict[str, str]:
        folder = self.directory / "inventory" / "migrations"
        return {path.name: path.read_text() for path in sorted(folder.glob("0*.py"))}


# -- the upgrade, step by step (each fixture runs once for the module) --------------------


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    python = ensure_venv_392()
    assert python.exists()
    directory = tmp_path_factory.mktemp("upgrade") / "project"
    shutil.copytree(TEMPLATE, directory, ignore=shutil.ignore_patterns("__pycache__"))
    with own_database("pghistory_upgrade") as database:
        yield Project(directory, database)


@pytest.fixture(scope="module")
def under_392(project):
    """3.9.2's makemigrations, migrate, a round of history, and the dump of it."""
    made = project.manage(PYTHON_392, "makemigrations")
    initial = project.migrations()
    project.manage(PYTHON_392, "migrate")
    project.manage(PYTHON_392, "write_history", "--round", "1")
    return {"makemigrations": made, "migrations": initial, "dump": project.dump(PYTHON_392, "392")}


@pytest.fixture(scope="module")
def upgraded(project, under_392):
    """The same project and database switched to our package: makemigrations and migrate."""
    settings = project.directory / "upgrade_site" / "settings.py"
    settings.write_text(settings.read_text() + ADOPT_THE_UI)
    made = project.manage(OURS, "makemigrations")
    new = {
        name: text
        for name, text in project.migrations().items()
        if name not in under_392["migrations"]
    }
    migrated = project.manage(OURS, "migrate")
    return {"makemigrations": made, "new_migrations": new, "migrate": migrated}


@pytest.fixture(scope="module")
def ours_before(project, upgraded):
    """What our package reads from the upgraded database before writing anything."""
    return project.dump(OURS, "ours-before")


@pytest.fixture(scope="module")
def ours_after(project, ours_before):
    """A second round of the same writes, under our package, and the dump after it."""
    project.manage(OURS, "write_history", "--round", "2")
    return project.dump(OURS, "ours-after")


# -- comparing rows ----------------------------------------------------------------------


def strip_round(value, number: int):
    """`value` with round `number`'s code prefix (`r1-`) made round-less (`rN-`)."""
    if isinstance(value, str):
        return value.replace(f"r{number}-", "rN-")
    if isinstance(value, list):
        return [strip_round(item, number) for item in value]
    if isinstance(value, dict):
        return {key: strip_round(item, number) for key, item in value.items()}
    return value


def product_codes(dump: dict) -> dict[int, str]:
    return {row["id"]: row["code"] for row in dump["tables"]["inventory.ProductEvent"]["rows"]}


def round_table_rows(dump: dict, model: str, number: int) -> list[dict]:
    """One round's rows of an event table as a person compares them: keys and times left
    out, the object and its product named by their codes, the context by its metadata (read
    from `pghistory_context`, or from the row itself when denormalized)."""
    table = dump["tables"][model]
    contexts = {row["id"]: json.loads(row["metadata"]) for row in dump["contexts"]}
    codes = product_codes(dump)
    denormalized = "pgh_context" in table["columns"]
    rows = []
    for row in table["rows"]:
        if not row["code"].startswith(f"r{number}-"):
            continue
        assert row["pgh_obj_id"] == row["id"], row
        if denormalized:
            context = json.loads(row["pgh_context"]) if row["pgh_context"] else None
        else:
            context = contexts[row["pgh_context_id"]] if row["pgh_context_id"] else None
        skip = {"pgh_id", "pgh_created_at", "pgh_context", "pgh_context_id", "pgh_obj_id", "id"}
        kept = {column: value for column, value in row.items() if column not in skip}
        if kept.get("product_id") is not None:
            kept["product_id"] = codes[kept["product_id"]]
        kept["context"] = context
        rows.append(strip_round(kept, number))
    return rows


def round_events(dump: dict, number: int) -> list[dict]:
    """One round's `Events` rows, named the same way (keys, times, slugs left out)."""
    codes = product_codes(dump)
    rows = []
    for row in dump["events"]:
        if not row["pgh_data"]["code"].startswith(f"r{number}-"):
            continue
        data = dict(row["pgh_data"], id=None)
        diff = copy.deepcopy(row["pgh_diff"])
        if data.get("product_id") is not None:
            data["product_id"] = codes[data["product_id"]]
        if diff and "product_id" in diff:
            diff["product_id"] = [codes.get(pk) for pk in diff["product_id"]]
        kept = {
            "pgh_model": row["pgh_model"],
            "pgh_label": row["pgh_label"],
            "pgh_data": data,
            "pgh_diff": diff,
            "pgh_context": row["pgh_context"],
            "pgh_obj_model": row["pgh_obj_model"],
            "has_context_id": row["pgh_context_id"] is not None,
        }
        rows.append(strip_round(kept, number))
    return rows


def diffs(rows: list[dict], pass_over_siblings: bool) -> dict[str, dict | None]:
    """Each event's `{field: [old, new]}` against the previous event of its object in its
    event table (by pgh_id), None when there is none or nothing changed. With
    `pass_over_siblings`, the previous event passes over a sibling: an event of another
    tracker that the same change wrote (same pgh_created_at, other label, same pgh_data)."""
    result = {}
    for index, row in enumerate(rows):
        previous = None
        for earlier in reversed(rows[:index]):
            if (earlier["pgh_model"], earlier["pgh_obj_id"]) != (
                row["pgh_model"],
                row["pgh_obj_id"],
            ):
                continue
            sibling = (
                earlier["pgh_created_at"] == row["pgh_created_at"]
                and earlier["pgh_label"] != row["pgh_label"]
                and earlier["pgh_data"] == row["pgh_data"]
            )
            if pass_over_siblings and sibling:
                continue
            previous = earlier
            break
        changed = None
        if previous is not None:
            changed = {
                field: [previous["pgh_data"][field], value]
                for field, value in row["pgh_data"].items()
                if previous["pgh_data"][field] != value
            } or None
        result[row["pgh_slug"]] = changed
    return result


# -- 3.9.2 -------------------------------------------------------------------------------


def test_the_392_side_runs_392_in_its_own_virtualenv(under_392):
    dump = under_392["dump"]
    assert dump["package"]["version"] == "3.9.2"
    assert Path(dump["package"]["file"]).is_relative_to(VENV)
    # ... and the suite's own interpreter never sees it.
    assert Path(pghistory.__file__).is_relative_to(REPO / "pghistory")
    (initial,) = under_392["migrations"].values()
    assert "('pghistory', '0007_auto_20250421_0444')" in initial
    assert "pghistory.utils.JSONField" in initial  # the denormalized context
    assert "bases=('pghistory.events',)" in initial  # the Events proxy


def test_392_stored_the_events_of_every_operation(under_392):
    dump = under_392["dump"]
    for model, expected in ROUND_EVENTS.items():
        rows = dump["tables"][model]["rows"]
        assert [(row["code"][3:], row["pgh_label"]) for row in rows] == expected, model
    # Context rows: the restock context, the cleanup one, and the two requests that wrote to
    # context-table models (the note's request is denormalized: no context row).
    metadata = [json.loads(row["metadata"]) for row in dump["contexts"]]
    assert metadata == [
        {"batch": 7, "reason": "restock"},
        {"reason": "cleanup"},
        {"url": "/products/r1-kettle/edit/", "user": 1},
        {"url": "/products/r1-kettle/ledger/", "user": 1},
    ]


# -- switching to ours -------------------------------------------------------------------


def migration_operations(source: str) -> list[tuple[str, dict]]:
    """The operations of a migration file: (class name, its literal keyword arguments, and for
    an `index=models.Index(...)` or `trigger=...Trigger(...)`, that call's own)."""
    tree = ast.parse(source)
    (migration,) = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    (operations,) = [
        node.value
        for node in migration.body
        if isinstance(node, ast.Assign) and node.targets[0].id == "operations"
    ]
    found = []
    for call in operations.elts:
        arguments = {}
        for keyword in call.keywords:
            if isinstance(keyword.value, ast.Call):
                inner = {}
                for item in keyword.value.keywords:
                    with contextlib.suppress(ValueError):
                        inner[item.arg] = ast.literal_eval(item.value)
                arguments[keyword.arg] = inner
            else:
                with contextlib.suppress(ValueError):
                    arguments[keyword.arg] = ast.literal_eval(keyword.value)
        found.append((call.func.attr, arguments))
    return found


def test_makemigrations_writes_the_upgrade_migration(upgraded):
    """One migration: every trigger replaced by ours (same names), the event tables' new
    indexes, and pgh_obj's own index dropped (the new object index covers it); no column of
    a stored event is dropped or changed."""
    assert "Migrations for 'inventory':" in upgraded["makemigrations"].stdout
    assert "Migrations for 'pghistory" not in upgraded["makemigrations"].stdout
    ((name, source),) = upgraded["new_migrations"].items()
    assert name.startswith("0002_")
    assert "('inventory', '0001_initial')" in source
    operations = migration_operations(source)
    kinds = {kind for kind, _ in operations}
    assert kinds == {"RemoveTrigger", "AddTrigger", "AlterField", "AddIndex"}, operations

    removed = {
        (args["model_name"], args["name"]) for kind, args in operations if kind == "RemoveTrigger"
    }
    added = {
        (args["model_name"], args["trigger"]["name"])
        for kind, args in operations
        if kind == "AddTrigger"
    }
    every_trigger = {(model, name) for model, names in TRIGGERS.items() for name in names}
    assert removed == added == every_trigger

    indexes = {
        (args["model_name"], tuple(args["index"]["fields"]), args["index"].get("include"))
        for kind, args in operations
        if kind == "AddIndex"
    }
    assert indexes == {
        (model, fields, include)
        for model in ("ledgerentryevent", "noteevent", "productevent")
        for fields, include in (
            (("pgh_created_at", "pgh_id"), None),
            (("pgh_obj", "pgh_id"), ("pgh_created_at",)),
        )
    }
    altered = {
        (args["model_name"], args["name"]) for kind, args in operations if kind == "AlterField"
    }
    assert altered == {
        (model, "pgh_obj") for model in ("ledgerentryevent", "noteevent", "productevent")
    }
    # The triggers' SQL as our package writes it, with the conditions of 3.9.2's trackers.
    assert 'WHEN (OLD."qty" IS DISTINCT FROM (NEW."qty"))' in source
    assert 'WHEN (OLD."body" IS DISTINCT FROM (NEW."body"))' in source
    assert "level='STATEMENT'" in source

    applied = upgraded["migrate"].stdout
    assert re.search(rf"Applying inventory\.{name[:-3]}\.\.\. OK", applied), applied


def test_check_is_clean_and_no_changes_are_left(project, upgraded):
    checked = project.manage(OURS, "check", "--fail-level", "WARNING")
    assert checked.stdout.strip() == "System check identified no issues (0 silenced).", (
        checked.stdout + checked.stderr
    )
    again = project.manage(OURS, "makemigrations", "--check", "--dry-run")
    assert again.stdout.strip() == "No changes detected"


def test_every_event_392_wrote_is_still_there_unchanged(under_392, ours_before):
    before = under_392["dump"]
    assert Path(ours_before["package"]["file"]).is_relative_to(REPO / "pghistory")
    assert ours_before["event_models"] == before["event_models"]
    for model in EVENT_MODELS:
        assert ours_before["tables"][model] == before["tables"][model], model
    assert ours_before["contexts"] == before["contexts"]


def test_events_returns_392s_rows(under_392, ours_before):
    """Field by field. One documented difference: when two trackers store one change (here
    `qty_changed` and `update`), 3.9.2 diffs the second against the first (nothing changed:
    NULL), ours passes over that sibling so both show the change."""
    theirs, ours = under_392["dump"]["events"], ours_before["events"]
    assert [row["pgh_slug"] for row in ours] == [row["pgh_slug"] for row in theirs]
    for their_row, our_row in zip(theirs, ours):
        for field, value in their_row.items():
            if field != "pgh_diff":
                assert our_row[field] == value, (their_row["pgh_slug"], field)

    # pgh_diff: 3.9.2's is the diff against the previous event; ours passes over siblings.
    assert {row["pgh_slug"]: row["pgh_diff"] for row in theirs} == diffs(theirs, False)
    assert {row["pgh_slug"]: row["pgh_diff"] for row in ours} == diffs(theirs, True)
    differing = {
        their_row["pgh_slug"]
        for their_row, our_row in zip(theirs, ours)
        if our_row["pgh_diff"] != their_row["pgh_diff"]
    }
    assert differing == {f"inventory.ProductEvent:{pk}" for pk in (5, 10, 12, 14, 17, 21, 23)}

    assert ours_before["kettle_tracks"] == under_392["dump"]["kettle_tracks"]
    assert ours_before["kettle_references"] == under_392["dump"]["kettle_references"]
    assert ours_before["middleware_events"] == under_392["dump"]["middleware_events"]


def test_events_proxy_fields_read_the_context(under_392, ours_before):
    """`context_user` and `url` (3.9.2's aggregate paths) are 3.9.2's. `user`, written as
    `pgh_context__metadata__user`, differs: 3.9.2 looks for a key "metadata" inside the
    aggregate's pgh_context (which is the metadata) and reads NULL on every row; ours reads
    the `user` key."""
    theirs = under_392["dump"]["inventory_events"]
    ours = ours_before["inventory_events"]
    assert [row["pgh_slug"] for row in ours] == [row["pgh_slug"] for row in theirs]
    for their_row, our_row in zip(theirs, ours):
        assert our_row["context_user"] == their_row["context_user"], their_row["pgh_slug"]
        assert our_row["url"] == their_row["url"], their_row["pgh_slug"]
    assert {row["user"] for row in theirs} == {None}
    assert [row["user"] for row in ours] == [row["context_user"] for row in theirs]
    assert sum(row["context_user"] is not None for row in theirs) == 6


# -- writing under ours ------------------------------------------------------------------


def test_new_writes_under_ours_store_what_392_stored(under_392, ours_after):
    """Round 2 (ours) against round 1 (3.9.2): the same events of the same operations, with
    the same values and the same context, at row and statement level, conditions included."""
    for model in EVENT_MODELS:
        ours = round_table_rows(ours_after, model, 2)
        theirs = round_table_rows(under_392["dump"], model, 1)
        assert [(row["code"][3:], row["pgh_label"]) for row in ours] == ROUND_EVENTS[model]
        assert ours == theirs, model
    # Round 1's rows are left as 3.9.2 wrote them.
    for model in EVENT_MODELS:
        rows = ours_after["tables"][model]["rows"]
        assert [row for row in rows if row["code"].startswith("r1-")] == (
            under_392["dump"]["tables"][model]["rows"]
        )
    # The requests' context under ours, as 3.9.2 wrote it: the clerk and the URL.
    requests = [
        row["context"]
        for model in EVENT_MODELS
        for row in round_table_rows(ours_after, model, 2)
        if row["context"] and "url" in row["context"]
    ]
    assert len(requests) == 6
    assert {row["user"] for row in requests} == {1}


def test_events_of_new_writes_match_the_old_ones(ours_after):
    """Under ours, `Events` shows round 2 as it shows round 1 (3.9.2's rows)."""
    assert round_events(ours_after, 2) == round_events(ours_after, 1)


# -- the admin History tab ---------------------------------------------------------------


class _Timeline(HTMLParser):
    """An object's timeline: each card (`article[data-event]`) with its labels, its group's
    user and URL, and each field row (`tr[data-field]`) as the texts of its cells."""

    def __init__(self):
        super().__init__()
        self.events: list[dict] = []
        self._group = {"user": None, "url": None}
        self._row: list[str] | None = None
        self._capture: tuple[str, int, list[str], object] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if self._capture is not None:
            name, depth, text, store = self._capture
            self._capture = (name, depth + (tag == name), text, store)
            return
        if tag == "li" and "pgh-group" in classes:
            self._group = {"user": None, "url": None}
        elif tag == "a" and "pgh-user" in classes:
            self._start(tag, lambda text: self._group.update(user=text))
        elif tag == "code" and "pgh-url" in classes:
            self._start(tag, lambda text: self._group.update(url=text))
        elif tag == "article" and "data-event" in attrs:
            self.events.append(
                {"slug": attrs["data-event"], "labels": [], **self._group, "fields": {}}
            )
        elif self.events and tag == "span" and "pgh-label" in classes:
            self._start(tag, self.events[-1]["labels"].append)
        elif self.events and tag == "tr" and "data-field" in attrs:
            self._row = self.events[-1]["fields"].setdefault(attrs["data-field"], [])
        elif self._row is not None and tag in ("th", "td"):
            self._start(tag, self._row.append)

    def _start(self, tag, store):
        self._capture = (tag, 0, [], store)

    def handle_endtag(self, tag):
        if self._capture is not None:
            name, depth, text, store = self._capture
            if tag != name:
                return
            if depth:
                self._capture = (name, depth - 1, text, store)
                return
            self._capture = None
            store(re.sub(r"\s+", " ", "".join(text)).strip())
        elif tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._capture is not None:
            self._capture[2].append(data)


IDS = {"pgh_id", "pgh_label"}


def test_admin_history_tab_shows_what_392_stored(project, under_392, ours_before):
    out = project.directory / "history-page.json"
    project.manage(OURS, "render_history", "r1-kettle", out)
    page = json.loads(out.read_text())
    assert page["status"] == 200
    timeline = f"/admin/pghistory_ui/event/object/inventory.product/{page['pk']}/"
    assert page["url"] == timeline

    parser = _Timeline()
    parser.feed(page["html"])
    events = {event["slug"]: event for event in parser.events}
    stored = {
        f"inventory.ProductEvent:{row['pgh_id']}": row
        for row in under_392["dump"]["tables"]["inventory.ProductEvent"]["rows"]
        if row["code"] == "r1-kettle"
    }

    # Every change 3.9.2 stored of the kettle, newest first: one card per change, the events
    # that two trackers stored for one change (update and qty_changed) on one card.
    def change(row):  # the row without what tells its trackers' events apart
        return {column: value for column, value in row.items() if column not in IDS}

    cards = []
    for slug in reversed(stored):
        row = stored[slug]
        if cards and change(stored[cards[-1][0]]) == change(row):
            cards[-1][1].append(row["pgh_label"])
        else:
            cards.append((slug, [row["pgh_label"]]))
    assert [(event["slug"], event["labels"]) for event in parser.events] == cards
    assert any(labels == ["update", "qty_changed"] for _, labels in cards)
    insert, rename, edit = (slug for slug, _ in reversed(cards[-3:]))
    # The insert: the values 3.9.2 stored, as the admin shows them.
    assert events[insert]["fields"] == {
        "id": ["ID", str(page["pk"])],
        "code": ["Code", "r1-kettle"],
        "name": ["Name", "Kettle"],
        "price": ["Price", "10.00"],
        "qty": ["Qty", "3"],
        "owner": ["Owner", "clerk"],
        "attrs": ["Attrs", '{"color": "red", "sizes": [1, 2]}'],
        "added": ["Added", "2024-01-02"],
    }
    assert events[rename]["fields"] == {"name": ["Name", "Kettle", "Steel kettle"]}
    # The request through HistoryMiddleware: before and after, by whom, from where.
    assert events[edit]["labels"] == ["update", "qty_changed"]
    assert events[edit]["fields"] == {
        "price": ["Price", "10.00", "12.50"],
        "qty": ["Qty", "3", "5"],
    }
    assert (events[edit]["user"], events[edit]["url"]) == ("clerk", "/products/r1-kettle/edit/")


# -- the non-blocking path: the upgrade migration split by pghistory_concurrent_indexes ----


def index_definitions(project: Project, table_prefix: str) -> dict[str, str]:
    """The valid indexes of the event tables, by name, as Postgres defines them."""
    out = project.manage(
        OURS,
        "shell",
        "-c",
        "from django.db import connection\n"
        "with connection.cursor() as cursor:\n"
        '    cursor.execute("SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i'
        " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid"
        f" WHERE t.relname LIKE '{table_prefix}%%event' AND i.indisvalid ORDER BY 1\")\n"
        "    import json; print(json.dumps(dict(cursor.fetchall())))",
    )
    return json.loads(out.stdout.splitlines()[-1])


def test_the_upgrade_migration_split_for_concurrent_index_builds(tmp_path):
    """`pghistory_concurrent_indexes` turns the generated migration into a non-atomic one that
    builds the indexes concurrently and drops pgh_obj's old index concurrently, then an atomic
    one with the triggers and field changes; migrate applies both, nothing is left to
    migrate, and every event 3.9.2 wrote is still there."""
    directory = tmp_path / "project"
    shutil.copytree(TEMPLATE, directory, ignore=shutil.ignore_patterns("__pycache__"))
    with own_database("pghistory_upgrade") as database:
        project = Project(directory, database)
        project.manage(PYTHON_392, "makemigrations")
        project.manage(PYTHON_392, "migrate")
        project.manage(PYTHON_392, "write_history", "--round", "1")
        before = project.dump(PYTHON_392, "392")
        old_indexes = index_definitions(project, "inventory_")
        project.manage(OURS, "makemigrations")
        (generated,) = set(project.migrations()) - {"0001_initial.py"}

        split = project.manage(OURS, "pghistory_concurrent_indexes", "inventory", generated[:-3])

        files = project.migrations()
        atomic_name = "0003_" + generated[5:]
        assert sorted(files) == [
            "0001_initial.py",
            "0002_history_indexes_concurrently.py",
            atomic_name,
        ]
        assert split.stdout.splitlines() == [
            "inventory.0002_history_indexes_concurrently: 6 indexes built concurrently"
            " (3 old ones dropped concurrently), not in a transaction",
            f"inventory.{atomic_name[:-3]}: the other 23 operations, in one transaction",
        ]
        concurrent = migration_operations(files["0002_history_indexes_concurrently.py"])
        assert [kind for kind, _ in concurrent] == ["AddIndexConcurrently"] * 6 + ["RunSQL"] * 3
        assert "    atomic = False\n" in files["0002_history_indexes_concurrently.py"]
        rest = {kind for kind, _ in migration_operations(files[atomic_name])}
        assert rest == {"RemoveTrigger", "AddTrigger", "AlterField"}
        assert "('inventory', '0002_history_indexes_concurrently')" in files[atomic_name]

        migrated = project.manage(OURS, "migrate").stdout
        assert "Applying inventory.0002_history_indexes_concurrently... OK" in migrated
        assert f"Applying inventory.{atomic_name[:-3]}... OK" in migrated
        again = project.manage(OURS, "makemigrations", "--check", "--dry-run")
        assert again.stdout.strip() == "No changes detected"
        after = project.dump(OURS, "ours")
        for model in EVENT_MODELS:
            assert after["tables"][model] == before["tables"][model], model
        new_indexes = index_definitions(project, "inventory_")
        dropped = {name for name in old_indexes if "pgh_obj_id" in name}
        assert len(dropped) == 3 and not dropped & set(new_indexes)
        assert len(set(new_indexes) - set(old_indexes)) == 6
