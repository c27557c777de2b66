"""History that survives schema changes, as a user makes them: real migration sequences.

tests/schema_project/ is a throwaway project whose app `depot` this module rewrites step by
step: `Item` (row-level triggers, contexts in `pghistory_context`) and `Crate` (statement-level
triggers, denormalized context, append-only), each change followed by the ordinary
`makemigrations` and `migrate`, in child processes on a database of their own. After each
step, `manage.py probe` reports the event tables' columns, each event through the ORM
(`pgh_retired` included), `Events`, an item's timeline page and the CSV export; the tests
assert what they show. The steps run in order (module-scoped fixtures, each building on the
one before): remove a field, rename two (interactively, and with the rename written by hand),
change a type, delete a model.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.browser import ARTIFACTS, cells, follow, sign_in
from tests.processes import own_database, run_step, runserver

TEMPLATE = Path(__file__).resolve().parent / "schema_project"

MODELS_HEAD = """\
from django.conf import settings
from django.db import models

import pghistory

TRACKERS = (pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
"""

CRATE = """

@pghistory.track(
    *TRACKERS,
    level=pghistory.Statement,
    context_field=pghistory.ContextJSONField(),
    append_only=True,
)
class Crate(models.Model):
    label = models.CharField(max_length=20)
{weight}"""

WEIGHT = "    weight = models.IntegerField(default=0)\n"


def models_source(item_fields: str, weight: bool = True, item: bool = True) -> str:
    source = MODELS_HEAD
    if item:
        source += f"\n\n@pghistory.track(*TRACKERS)\nclass Item(models.Model):\n{item_fields}"
    return source + CRATE.format(weight=WEIGHT if weight else "")


ITEM_V1 = """\
    name = models.CharField(max_length=50)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, verbose_name="owner"
    )
    code = models.CharField("code", max_length=10)
    note = models.CharField(max_length=100, blank=True)
    size = models.IntegerField("size", default=0)
"""


# Step 2: `owner` removed.
ITEM_V2 = """\
    name = models.CharField(max_length=50)
    code = models.CharField("code", max_length=10)
    note = models.CharField(max_length=100, blank=True)
    size = models.IntegerField("size", default=0)
"""

# Step 3: `note` renamed `remark` (makemigrations asks, the user says it was).
ITEM_V3 = ITEM_V2.replace("note = ", "remark = ")

# Step 4: `name` renamed `title`, the rename written by hand in a migration of its own.
ITEM_V4 = ITEM_V3.replace("name = ", "title = ")
# Step 5: `code` becomes a number (its old values do not all fit), `size` a bigger one.
ITEM_V5 = ITEM_V4.replace(
    'code = models.CharField("code", max_length=10)', 'code = models.IntegerField("code")'
).replace('size = models.IntegerField("size"', 'size = models.BigIntegerField("size"')
assert ITEM_V5.count("IntegerField") == 2

REMOVE_BY_HAND = """\
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("depot", "{previous}")]
    operations = [migrations.RemoveField("crateevent", "label")]
"""

RENAME_BY_HAND = """\
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("depot", "{previous}")]
    operations = [migrations.RenameField("item", "name", "title")]
"""


class Depot:
    """The copied project, its database, and its manage.py under the suite's interpreter."""

    def __init__(self, directory: Path, database: dict, cleanup: contextlib.ExitStack):
        self.directory = directory
        self.database = database
        self.cleanup = cleanup
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "DJANGO_SETTINGS_MODULE")
        }
        self.env["DEPOT_DATABASE"] = json.dumps(database)
        self.env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.probes = 0

    def snapshot(self) -> Depot:
        """A copy of the project and its database as they are now, for a browser test to
        serve whenever it runs (the steps go on in this one)."""
        self.probes += 1
        directory = self.directory.with_name(f"{self.directory.name}-{self.probes}")
        shutil.copytree(self.directory, directory, ignore=shutil.ignore_patterns("__pycache__"))
        database = self.cleanup.enter_context(
            own_database("pghistory_schema", template=self.database["NAME"])
        )
        return Depot(directory, database, self.cleanup)

    def manage(self, *args, input=None):
        what = f"manage.py {' '.join(map(str, args))}"
        return run_step(
            what, [sys.executable, "manage.py", *args], self.directory, self.env, input=input
        )

    def write_models(self, source: str) -> None:
        (self.directory / "depot" / "models.py").write_text(source)

    def migration_path(self, number: str) -> Path:
        (path,) = (self.directory / "depot" / "migrations").glob(f"{number}_*.py")
        return path

    def migration(self, number: str) -> str:
        return self.migration_path(number).read_text()

    def shell(self, code: str) -> None:
        self.manage("shell", "-c", code)

    def change(self, source: str, number: str, then: str, input: str | None = None) -> dict:
        """Write the models `source`, run makemigrations (answering `input`) and migrate,
        then run `then` in the shell; makemigrations' output and the new migration
        `number`."""
        self.write_models(source)
        made = self.manage("makemigrations", "depot", input=input)
        migration = self.migration(number)
        self.manage("migrate")
        self.shell(then)
        return {"made": made.stdout, "migration": migration}

    def probe(self, *pages: str) -> dict:
        self.probes += 1
        out = self.directory / f"probe-{self.probes}.json"
        self.manage("probe", out, "--pages", *pages)
        return json.loads(out.read_text())


def events(probe: dict, model: str) -> list[dict]:
    return probe["tables"][model]["events"]


def aggregated(probe: dict, model: str) -> list[dict]:
    return [row for row in probe["events"] if row["pgh_model"] == model]


def columns(probe: dict, model: str) -> dict:
    return probe["tables"][model]["columns"]


def comment(probe: dict, model: str, column: str) -> dict:
    return json.loads(columns(probe, model)[column]["comment"])


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts = []

    def handle_data(self, data):
        self.parts.append(data)


def page_text(probe: dict, url: str) -> str:
    fetched = probe["pages"][url]
    assert fetched["status"] == 200, fetched["body"][:2000]
    parser = _Text()
    parser.feed(fetched["body"])
    return re.sub(r"\s+", " ", " ".join(parser.parts))


def csv_rows(probe: dict, url: str) -> list[dict]:
    fetched = probe["pages"][url]
    assert fetched["status"] == 200
    return list(csv.DictReader(io.StringIO(fetched["body"])))


def compact(source: str) -> str:
    """A migration's source without whitespace, to find operations in it."""
    return re.sub(r"\s+", "", source)


def renamed_pk(probe: dict):
    return events(probe, "depot.ItemEvent")[0]["fields"]["id"]


def save_kettle(**values) -> str:
    """Shell code that sets `values` on the one item and saves it."""
    assignments = "".join(f"kettle.{name} = {value!r}\n" for name, value in values.items())
    return (
        f"from depot.models import Item\nkettle = Item.objects.get()\n{assignments}kettle.save()\n"
    )


def run_step_failing(depot: Depot, *args) -> str:
    """Run manage.py with `args`, which must fail; its standard error."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=depot.directory,
        env=depot.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stderr


def timeline(pk) -> str:
    return f"/history/object/depot.item/{pk}/"


EXPORT = "/history/export.csv?model=depot.item"
EXPORT_JSONL = "/history/export.jsonl?model=depot.item"


# -- the steps ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def depot(tmp_path_factory):
    directory = tmp_path_factory.mktemp("schema") / "project"
    shutil.copytree(TEMPLATE, directory, ignore=shutil.ignore_patterns("__pycache__"))
    with contextlib.ExitStack() as cleanup:
        database = cleanup.enter_context(own_database("pghistory_schema"))
        yield Depot(directory, database, cleanup)


@pytest.fixture(scope="module")
def created(depot):
    """Step 1: the models created, and history written: an item inserted in a context,
    updated (owner, code and note), its owner cleared by a bulk update; a crate inserted
    and its weight changed by a bulk update."""
    depot.write_models(models_source(ITEM_V1))
    depot.manage("makemigrations", "depot")
    depot.manage("migrate")
    depot.shell(
        "import pghistory\n"
        "from django.contrib.auth.models import User\n"
        "from depot.models import Crate, Item\n"
        "alice = User.objects.create_user('alice')\n"
        "bob = User.objects.create_user('bob')\n"
        "with pghistory.context(reason='import'):\n"
        "    kettle = Item.objects.create(name='kettle', owner=alice, code='A12', note='first',"
        " size=3)\n"
        "    Crate.objects.create(label='c1', weight=5)\n"
        "kettle.owner, kettle.code, kettle.note = bob, 'B7', 'second'\n"
        "kettle.save()\n"
        "Item.objects.filter(pk=kettle.pk).update(owner=None)\n"
        "Crate.objects.update(weight=6)\n"
    )
    return depot.probe()


@pytest.fixture(scope="module")
def removed(depot, created):
    """Step 2: `Item.owner` and `Crate.weight` removed; makemigrations, migrate, and one more
    change of each object."""
    changed = depot.change(
        models_source(ITEM_V2, weight=False),
        "0002",
        save_kettle(name="kettle 2")
        + "from depot.models import Crate\nCrate.objects.update(label='c2')\n",
    )
    pk = created["tables"]["depot.ItemEvent"]["events"][0]["fields"]["id"]
    refused = depot.manage(
        "shell",
        "--verbosity=0",
        "-c",
        "from django.db import DatabaseError\n"
        "from depot.models import CrateEvent\n"
        "try:\n"
        "    CrateEvent.objects.update(pgh_label='rewritten')\n"
        "except DatabaseError as error:\n"
        "    print('refused')\n",
    ).stdout
    event_page = (
        f"/history/event/depot.ItemEvent:{events(created, 'depot.ItemEvent')[1]['pgh_id']}/"
    )
    probe = depot.probe(timeline(pk), EXPORT, EXPORT_JSONL, event_page)
    return {
        **changed,
        "probe": probe,
        "pk": pk,
        "event_page": event_page,
        "append_only": refused,
        "snapshot": depot.snapshot(),
    }


@pytest.fixture(scope="module")
def renamed(depot, removed):
    """Step 3: `note` renamed `remark`: makemigrations asks whether item.note was renamed
    (yes) and whether itemevent.note was (no: a user need not know the event model); then a
    change of the remark."""
    changed = depot.change(
        models_source(ITEM_V3, weight=False),
        "0003",
        save_kettle(remark="third"),
        input="y\nn\n",
    )
    return {**changed, "probe": depot.probe(timeline(removed["pk"]), EXPORT)}


@pytest.fixture(scope="module")
def renamed_by_hand(depot, removed, renamed):
    """Step 4: `name` renamed `title` in a migration written by hand; makemigrations then
    sees only the event model's field go and another come (it asks whether it was renamed:
    no; then for a default of the new field: 'x'); then a change of the title."""
    previous = depot.migration_path("0003").stem
    by_hand = depot.directory / "depot" / "migrations" / "0004_rename_by_hand.py"
    by_hand.write_text(RENAME_BY_HAND.format(previous=previous))
    changed = depot.change(
        models_source(ITEM_V4, weight=False),
        "0005",
        save_kettle(title="kettle 3"),
        input="n\n1\n'x'\n",
    )
    return {**changed, "probe": depot.probe(timeline(removed["pk"]), EXPORT)}


@pytest.fixture(scope="module")
def retyped(depot, removed, renamed_by_hand):
    """Step 5: the items' codes made numeric (an update), then `code` an IntegerField and
    `size` a BigIntegerField; makemigrations, migrate, a new code; and an old event's revert
    tried."""
    depot.shell("from depot.models import Item\nItem.objects.update(code='12')\n")
    changed = depot.change(
        models_source(ITEM_V5, weight=False),
        "0006",
        save_kettle(code=13),
    )
    tried = depot.manage(
        "shell",
        "--verbosity=0",
        "-c",
        "from depot.models import ItemEvent\n"
        "try:\n"
        "    ItemEvent.objects.order_by('pgh_id').first().revert()\n"
        "except RuntimeError as error:\n"
        "    print('refused:', error)\n",
    )
    probe = depot.probe(timeline(removed["pk"]), EXPORT)
    return {**changed, "probe": probe, "revert": tried.stdout}


@pytest.fixture(scope="module")
def refused(depot, retyped):
    """Step 6: a migration written by hand with Django's RemoveField of an event model's
    field (as 3.9, or another makemigrations, would write it): migrate stops; the migration
    is then taken away."""
    previous = depot.migration_path("0006").stem
    path = depot.directory / "depot" / "migrations" / "0007_by_hand.py"
    path.write_text(REMOVE_BY_HAND.format(previous=previous))
    stopped = run_step_failing(depot, "migrate")
    showed = depot.manage("showmigrations", "depot").stdout
    path.unlink()
    return {"stopped": stopped, "showed": showed, "probe": depot.probe()}


@pytest.fixture(scope="module")
def deleted(depot, removed, refused):
    """Step 7: `Item` deleted from the models; makemigrations, migrate."""
    depot.write_models(models_source("", weight=False, item=False))
    made = depot.manage("makemigrations", "depot")
    migration = depot.migration("0007")
    depot.manage("migrate")
    pages = (timeline(removed["pk"]), EXPORT, "/history/?model=depot.item", "/history/")
    probe = depot.probe(*pages)
    return {
        "made": made.stdout,
        "migration": migration,
        "probe": probe,
        "snapshot": depot.snapshot(),
    }


@pytest.fixture(scope="module")
def dropped(depot, deleted):
    """Step 8: what is retired listed, then a column and a deleted model's table dropped on
    purpose (once answering no)."""
    listed = depot.manage("pghistory_retired").stdout
    wrong = run_step_failing(depot, "pghistory_retired", "--drop", "depot.CrateEvent.colour")
    kept = depot.manage("pghistory_retired", "--drop", "depot.ItemEvent", input="n\n")
    gone = depot.manage(
        "pghistory_retired",
        "--drop",
        "depot.ItemEvent",
        "--drop",
        "depot.CrateEvent.weight",
        "--no-input",
    )
    return {
        "listed": listed,
        "wrong": wrong,
        "kept": kept.stdout,
        "gone": gone.stdout,
        "probe": depot.probe(),
        "after": depot.manage("pghistory_retired").stdout,
    }


def test_step_1_history_is_written(created):
    assert [event["label"] for event in events(created, "depot.ItemEvent")] == [
        "insert",
        "update",
        "update",
    ]
    assert "owner_id" in columns(created, "depot.ItemEvent")
    assert "pgh_generation" not in columns(created, "depot.ItemEvent")


def test_removing_a_field_writes_a_migration_that_retires_its_column(removed):
    assert "pghistory: depot.0002" in removed["made"]
    assert "itemevent.owner: retired with its recorded values" in removed["made"]
    migration = compact(removed["migration"])
    assert "importpghistory.operations" in migration
    assert "pghistory.operations.RetireField(model_name='itemevent',name='owner',)" in migration
    assert "pghistory.operations.RetireField(model_name='crateevent',name='weight',)" in migration
    # The tracked models lose their fields as Django removes them.
    assert "migrations.RemoveField(model_name='item',name='owner',)" in migration
    assert "migrations.RemoveField(model_name='crate',name='weight',)" in migration
    assert "RemoveField(model_name='itemevent'" not in migration
    assert "RemoveField(model_name='crateevent'" not in migration


def test_a_removed_fields_column_stays_with_every_recorded_value(created, removed):
    probe = removed["probe"]
    item_columns = columns(probe, "depot.ItemEvent")
    assert "owner_id" not in item_columns
    assert item_columns["pgh_retired_owner_id"]["type"] == "integer"
    assert item_columns["pgh_retired_owner_id"]["not_null"] is False
    assert comment(probe, "depot.ItemEvent", "pgh_retired_owner_id") == {
        "pghistory": "retired",
        "key": "owner_id",
        "name": "owner",
        "verbose_name": "owner",
        "reason": "removed",
        "related_model": "auth.user",
        "until": 1,
        "retired_at": comment(probe, "depot.ItemEvent", "pgh_retired_owner_id")["retired_at"],
    }
    alice, bob = (event["fields"]["owner_id"] for event in events(created, "depot.ItemEvent")[:2])
    # The ORM accessor: what each event recorded; the event written after has nothing.
    assert [event["retired"] for event in events(probe, "depot.ItemEvent")] == [
        {"owner_id": alice},
        {"owner_id": bob},
        {"owner_id": None},
        {},
    ]
    # The append-only table stays append-only.
    assert removed["append_only"] == "refused\n"
    assert [event["retired"] for event in events(probe, "depot.CrateEvent")] == [
        {"weight": 5},
        {"weight": 6},
        {},
    ]


def test_events_keep_a_removed_fields_values_and_diffs(created, removed):
    probe = removed["probe"]
    alice, bob = (event["fields"]["owner_id"] for event in events(created, "depot.ItemEvent")[:2])
    rows = aggregated(probe, "depot.ItemEvent")
    assert [row["pgh_data"].get("owner_id", "absent") for row in rows] == [
        alice,
        bob,
        None,
        "absent",
    ]
    assert [row["pgh_diff"] for row in rows] == [
        None,
        {"owner_id": [alice, bob], "code": ["A12", "B7"], "note": ["first", "second"]},
        {"owner_id": [bob, None]},
        {"name": ["kettle", "kettle 2"]},
    ]
    crates = aggregated(probe, "depot.CrateEvent")
    assert [row["pgh_diff"] for row in crates] == [
        None,
        {"weight": [5, 6]},
        {"label": ["c1", "c2"]},
    ]


def test_the_timeline_and_the_export_show_a_removed_field(created, removed):
    probe = removed["probe"]
    event = page_text(probe, removed["event_page"])
    assert "Owner (removed field) alice bob" in event
    text = page_text(probe, timeline(removed["pk"]))
    # Each change of it, under its old verbose name, the users named as before.
    assert "Owner (removed field) bob —" in text
    assert "Note first second Owner (removed field) alice bob" in text
    assert "Size 3 Owner (removed field) alice" in text  # the insert's stored row
    alice, bob = (event["fields"]["owner_id"] for event in events(created, "depot.ItemEvent")[:2])
    rows = csv_rows(probe, EXPORT)
    # The export names fields by name; a retired one keeps its own, after the others.
    assert [(row["label"], row["changed_fields"], row["diff"]) for row in rows] == [
        ("update", "name", '{"name": ["kettle", "kettle 2"]}'),
        ("update", "owner", f'{{"owner": [{bob}, null]}}'),
        (
            "update",
            "code, note, owner",
            f'{{"code": ["A12", "B7"], "note": ["first", "second"], "owner": [{alice}, {bob}]}}',
        ),
        ("insert", "", ""),
    ]
    fetched = probe["pages"][EXPORT_JSONL]
    assert fetched["status"] == 200
    lines = [json.loads(line) for line in fetched["body"].splitlines()]
    assert [(line["changed_fields"], line["diff"]) for line in lines] == [
        (["name"], {"name": ["kettle", "kettle 2"]}),
        (["owner"], {"owner": [bob, None]}),
        (
            ["code", "note", "owner"],
            {"code": ["A12", "B7"], "note": ["first", "second"], "owner": [alice, bob]},
        ),
        ([], {}),
    ]


def test_the_triggers_write_exactly_the_fields_the_model_has_then(created, removed):
    crate_context = ["pgh_obj_id", "pgh_context", "pgh_context_id"]  # denormalized
    item_context = ["pgh_obj_id", "pgh_context_id"]
    assert created["inserts"] == {
        "depot_crateevent": [
            ["pgh_created_at", "pgh_label", "id", "label", "weight", *crate_context]
        ]
        * 3,
        "depot_itemevent": [
            [
                "pgh_created_at",
                "pgh_label",
                "id",
                "name",
                "owner_id",
                "code",
                "note",
                "size",
                *item_context,
            ]
        ]
        * 3,
    }
    assert removed["probe"]["inserts"] == {
        "depot_crateevent": [["pgh_created_at", "pgh_label", "id", "label", *crate_context]] * 3,
        "depot_itemevent": [
            ["pgh_created_at", "pgh_label", "id", "name", "code", "note", "size", *item_context]
        ]
        * 3,
    }


def serve(depot: Depot, tmp_path):
    """runserver of `depot` (--insecure: the static files too, with DEBUG off)."""
    manage = depot.directory / "manage.py"
    return runserver(manage, depot.directory, depot.env, tmp_path / "log", "--insecure")


def test_a_timeline_in_a_browser_shows_a_removed_field(removed, page, tmp_path):
    with serve(removed["snapshot"], tmp_path) as url:  # (the project as step 2 left it)
        sign_in(page, SimpleNamespace(url=url), "root")
        page.goto(url + timeline(removed["pk"]))
        renamed, cleared, changed, inserted = page.locator("article.pgh-event").all()
        assert renamed.locator("tr[data-field=owner]").count() == 0
        owner = cleared.locator("tr[data-field=owner]")
        assert owner.locator("th").inner_text() == "Owner (removed field)"
        assert owner.locator("td").all_inner_texts() == ["bob", "—"]
        owner = changed.locator("tr[data-field=owner]")
        assert owner.locator("td").all_inner_texts() == ["alice", "bob"]
        assert changed.locator("tr[data-field=note] th").inner_text() == "Note"
        assert inserted.locator("tr[data-field=owner] td").inner_text() == "alice"
        page.screenshot(path=ARTIFACTS / "timeline-removed-field.png", full_page=True)


def test_a_rename_makemigrations_asked_about_renames_the_event_models_field(renamed):
    assert "itemevent.note: renamed to remark, as the tracked field was" in renamed["made"]
    migration = compact(renamed["migration"])
    assert (
        "migrations.RenameField(model_name='item',old_name='note',new_name='remark',)" in migration
    )
    assert (
        "migrations.RenameField(model_name='itemevent',old_name='note',new_name='remark',)"
        in migration
    )
    assert "model_name='itemevent',name='note'" not in migration
    assert "model_name='itemevent',name='remark'" not in migration  # no AddField
    probe = renamed["probe"]
    item_columns = columns(probe, "depot.ItemEvent")
    assert "remark" in item_columns and "note" not in item_columns
    assert not [column for column in item_columns if "note" in column or "remark" in column[4:]]
    assert [event["fields"]["remark"] for event in events(probe, "depot.ItemEvent")] == [
        "first",
        "second",
        "second",
        "second",
        "third",
    ]
    alice, bob = (event["retired"]["owner_id"] for event in events(probe, "depot.ItemEvent")[:2])
    diffs = [row["pgh_diff"] for row in aggregated(probe, "depot.ItemEvent")]
    assert diffs[1] == {
        "owner_id": [alice, bob],
        "code": ["A12", "B7"],
        "remark": ["first", "second"],
    }
    assert diffs[4] == {"remark": ["second", "third"]}
    text = page_text(probe, timeline(renamed_pk(probe)))
    assert "Remark second third" in text
    assert "Remark first second" in text


def test_a_rename_written_by_hand_renames_the_event_models_field(renamed_by_hand):
    assert "itemevent.name: renamed to title, as the tracked field was" in renamed_by_hand["made"]
    migration = compact(renamed_by_hand["migration"])
    assert (
        "migrations.RenameField(model_name='itemevent',old_name='name',new_name='title',)"
        in migration
    )
    assert "model_name='itemevent',name='name'" not in migration
    assert "model_name='itemevent',name='title'" not in migration
    probe = renamed_by_hand["probe"]
    item_columns = columns(probe, "depot.ItemEvent")
    assert "title" in item_columns and "name" not in item_columns
    assert [event["fields"]["title"] for event in events(probe, "depot.ItemEvent")] == [
        "kettle",
        "kettle",
        "kettle",
        "kettle 2",
        "kettle 2",
        "kettle 3",
    ]
    diffs = [row["pgh_diff"] for row in aggregated(probe, "depot.ItemEvent")]
    assert diffs[3] == {"title": ["kettle", "kettle 2"]}
    assert diffs[5] == {"title": ["kettle 2", "kettle 3"]}
    assert "Title kettle 2 kettle 3" in page_text(probe, timeline(renamed_pk(probe)))
    exported = [(row["changed_fields"], row["diff"]) for row in csv_rows(probe, EXPORT)]
    assert exported[0] == ("title", '{"title": ["kettle 2", "kettle 3"]}')
    assert exported[1] == ("remark", '{"remark": ["second", "third"]}')
    # The triggers write the renamed columns.
    item_columns = ["id", "title", "code", "remark", "size", "pgh_obj_id", "pgh_context_id"]
    assert (
        probe["inserts"]["depot_itemevent"] == [["pgh_created_at", "pgh_label", *item_columns]] * 3
    )


def test_a_type_change_keeps_the_old_values_as_recorded(retyped):
    migration = compact(retyped["migration"])
    assert "pghistory.operations.AlterEventField(model_name='itemevent',name='code'," in migration
    assert "pghistory.operations.AlterEventField(model_name='itemevent',name='size'," in migration
    assert "migrations.AlterField(model_name='item',name='code'," in migration
    probe = retyped["probe"]
    item_columns = columns(probe, "depot.ItemEvent")
    # `code` did not fit: its column retired, a new one recorded from generation 2 on.
    assert item_columns["code"]["type"] == "integer"
    assert comment(probe, "depot.ItemEvent", "code") == {
        "pghistory": "stored",
        "key": "code",
        "name": "code",
        "since": 2,
    }
    assert item_columns["pgh_retired_code"]["type"] == "character varying(10)"
    retired_code = comment(probe, "depot.ItemEvent", "pgh_retired_code")
    assert (retired_code["reason"], retired_code["until"]) == ("type changed", 2)
    # `size` did: altered in place.
    assert item_columns["size"]["type"] == "bigint"
    assert not [column for column in item_columns if "size" in column and column != "size"]

    item_events = events(probe, "depot.ItemEvent")
    assert [event["fields"]["code"] for event in item_events] == [None] * 7 + [13]
    assert [event["retired"].get("code") for event in item_events] == [
        "A12",
        "B7",
        "B7",
        "B7",
        "B7",
        "B7",
        "12",
        None,
    ]
    rows = aggregated(probe, "depot.ItemEvent")
    assert [row["pgh_data"]["code"] for row in rows] == [
        "A12",
        "B7",
        "B7",
        "B7",
        "B7",
        "B7",
        "12",
        13,
    ]
    assert [row["pgh_diff"] for row in rows][6:] == [{"code": ["B7", "12"]}, {"code": ["12", 13]}]
    assert "Code 12 13" in page_text(probe, timeline(renamed_pk(probe)))
    assert csv_rows(probe, EXPORT)[0]["diff"] == '{"code": ["12", 13]}'


def test_an_event_written_before_a_type_change_is_not_reverted_with_a_guess(retyped):
    assert retyped["revert"].strip() == (
        "refused: This event was written before code changed type: it holds no value of the"
        " new type to put back (its old value is in pgh_retired)."
    )


def test_migrate_stops_before_a_django_operation_drops_recorded_values(refused):
    assert refused["stopped"] == (
        "CommandError: migrate stopped before applying anything: these operations would"
        " delete recorded history (pghistory event models).\n"
        "  depot.0007_by_hand: RemoveField(model_name='crateevent', name='label') drops the"
        " column label of depot.CrateEvent and the values events recorded in it.\n"
        "    Instead: pghistory.operations.RetireField(model_name='crateevent',"
        " name='label').\n"
        'pghistory\'s makemigrations (the one `manage.py makemigrations` runs when "pghistory"'
        " is in INSTALLED_APPS) writes these operations itself. To delete such history on"
        " purpose, retire it first and then run `manage.py pghistory_retired --drop`.\n"
    )
    assert "[ ] 0007_by_hand" in refused["showed"]  # nothing applied
    assert "label" in columns(refused["probe"], "depot.CrateEvent")


def test_deleting_a_tracked_model_keeps_its_event_table(retyped, deleted):
    assert "depot.0007_" in deleted["made"]
    assert "ItemEvent: retired with its table and events (instead of deleted)" in deleted["made"]
    migration = compact(deleted["migration"])
    assert "pghistory.operations.RetireEventModel(name='ItemEvent',)" in migration
    assert "migrations.DeleteModel(name='Item',)" in migration
    assert "DeleteModel(name='ItemEvent'" not in migration
    assert "model_name='itemevent'" not in migration  # no RemoveField of its foreign keys
    probe = deleted["probe"]
    assert "depot.ItemEvent" not in probe["tables"]  # (the project has no such model now)
    assert set(probe["inserts"]) == {"depot_crateevent"}  # (Item's table and triggers are gone)
    # Events reads the kept table as before: every event, its stored row and its diff.
    assert aggregated(probe, "depot.ItemEvent") == aggregated(retyped["probe"], "depot.ItemEvent")


def test_a_deleted_models_history_shows_in_the_browser_timeline_and_export(deleted, removed):
    probe = deleted["probe"]
    text = page_text(probe, timeline(removed["pk"]))
    assert "History of Item object (1)" in text
    assert "Code 12 13" in text and "Owner (removed field) alice bob" in text
    assert "Revert to this version" not in text  # (there is no table to write to)
    browser = page_text(probe, "/history/?model=depot.item")
    assert browser.count("Item (removed)") >= 9  # the filter's choice, and each of 8 rows
    assert "Item (removed)" in page_text(probe, "/history/")
    rows = csv_rows(probe, EXPORT)
    assert [row["model"] for row in rows] == ["depot.Item"] * 8
    assert rows[0]["diff"] == '{"code": ["12", 13]}'


def test_a_deleted_models_events_in_a_browser(deleted, page, tmp_path):
    with serve(deleted["snapshot"], tmp_path) as url:  # (the project as step 7 left it)
        sign_in(page, SimpleNamespace(url=url), "root")
        page.goto(url + "/history/?model=depot.item")
        assert cells(page, "Object")[0] == "Item (removed) Item object (1) deleted"
        assert len(cells(page, "Object")) == 8
        page.screenshot(path=ARTIFACTS / "browser-deleted-model.png", full_page=True)
        follow(page, page.locator("a.pgh-object").first)
        assert page.locator("h1").inner_text() == "History of Item object (1)"
        assert page.locator("article.pgh-event").count() == 8
        code = page.locator("article.pgh-event").first.locator("tr[data-field=code] td")
        assert code.all_inner_texts() == ["12", "13"]


def test_what_is_retired_is_listed_and_deleted_only_on_purpose(dropped):
    listed = dropped["listed"].splitlines()
    assert len(listed) == 2
    assert listed[0].startswith("depot.ItemEvent (model deleted, ")
    assert listed[0].endswith(": table pgh_retired_depot_itemevent, the events of depot.Item")
    assert listed[1].startswith("depot.CrateEvent.weight (removed, ")
    assert listed[1].endswith(
        ": column pgh_retired_weight, the values of weight that events of generation 0 to 0"
        " recorded"
    )
    assert dropped["wrong"] == (
        'CommandError: "depot.CrateEvent.colour" is neither a retired field nor a deleted'
        " model's events: give app_label.EventModel.field or app_label.EventModel, one of"
        " depot.ItemEvent, depot.CrateEvent.weight.\n"
    )
    assert dropped["kept"].endswith("Kept depot.ItemEvent: the events (8 recorded).\n")
    assert dropped["gone"] == (
        "Deleted depot.ItemEvent: the events (8 recorded).\n"
        "Deleted depot.CrateEvent.weight: the values (2 recorded).\n"
    )
    assert dropped["after"] == "No retired columns or tables.\n"
    probe = dropped["probe"]
    assert aggregated(probe, "depot.ItemEvent") == []
    assert "pgh_retired_weight" not in columns(probe, "depot.CrateEvent")
    assert [row["pgh_data"] for row in aggregated(probe, "depot.CrateEvent")][0] == {
        "id": 1,
        "label": "c1",
    }
