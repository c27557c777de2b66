"""`manage.py pghistory_prune`: events older than an age, or all but each object's newest few,
deleted in short batches; a dry run that counts; append-only history refused unless asked;
and nothing that another connection writes meanwhile is lost."""

import datetime
import gzip
import io
import json
import threading
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connections, transaction

from pghistory import maintenance
from tests.limits import file_size_limit
from tests.testapp.models import Author, Book, BookTag, CustomKey, Ledger, Place, RowModel

pytestmark = pytest.mark.django_db

RowEvent = RowModel.pgh_event_model
PlaceEvent = Place.pgh_event_model
LedgerEvent = Ledger.pgh_event_model


def prune(*args) -> tuple[str, str]:
    """Run the command; (standard output, standard error)."""
    out, err = io.StringIO(), io.StringIO()
    call_command("pghistory_prune", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def aged(event_model, days_by_pgh_id: dict[int, float]) -> None:
    """Move events back in time: `days_by_pgh_id` maps a pgh_id to its age in days."""
    now = maintenance.database_now()
    for pgh_id, days in days_by_pgh_id.items():
        event_model.objects.filter(pgh_id=pgh_id).update(
            pgh_created_at=now - datetime.timedelta(days=days)
        )


def pgh_ids(event_model) -> list[int]:
    return list(event_model.objects.order_by("pgh_id").values_list("pgh_id", flat=True))


@pytest.fixture
def history():
    """Two rows with 4 and 3 events, spread over 100 days; one place with 2 events.

    Returns the pgh_ids: {"first": [...4], "second": [...3], "place": [...2]}.
    """
    first = RowModel.objects.create(int_field=0)
    second = RowModel.objects.create(int_field=0)
    for value in (1, 2, 3):
        RowModel.objects.filter(pk=first.pk).update(int_field=value)
    for value in (1, 2):
        RowModel.objects.filter(pk=second.pk).update(int_field=value)
    place = Place.objects.create(name="Park")
    Place.objects.filter(pk=place.pk).update(name="Big park")
    ids = {
        "first": list(first.events.order_by("pgh_id").values_list("pgh_id", flat=True)),
        "second": list(second.events.order_by("pgh_id").values_list("pgh_id", flat=True)),
        "place": pgh_ids(PlaceEvent),
    }
    # first: 100, 95, 40 and 1 day old; second: 91, 89, 2; the place's: 120 and 3.
    aged(RowEvent, dict(zip(ids["first"], (100, 95, 40, 1))))
    aged(RowEvent, dict(zip(ids["second"], (91, 89, 2))))
    aged(PlaceEvent, dict(zip(ids["place"], (120, 3))))
    return ids


def test_older_than_deletes_the_events_written_before_that_age(history):
    out, _ = prune("testapp.RowModel", "testapp.Place", "--older-than", "90d")

    first, second, place = history["first"], history["second"], history["place"]
    assert pgh_ids(RowEvent) == [first[2], first[3], second[1], second[2]]
    assert pgh_ids(PlaceEvent) == [place[1]]
    assert out.splitlines()[1:] == [
        "testapp.RowModelEvent: deleted 3 events",
        "testapp.PlaceEvent: deleted 1 event",
        "Deleted 4 events in all.",
    ]


@pytest.mark.parametrize(
    ("age", "kept"), [("12h", 0), ("36h", 1), ("1w", 2), ("6w", 3), ("2200h", 5)]
)
def test_ages_are_given_in_hours_days_or_weeks(history, age, kept):
    prune("testapp.RowModel", "--older-than", age)

    assert RowEvent.objects.count() == kept


def test_keep_last_keeps_the_newest_events_of_each_object(history):
    out, _ = prune("testapp.RowModel", "--keep-last", "2")

    first, second = history["first"], history["second"]
    assert pgh_ids(RowEvent) == [first[2], first[3], second[1], second[2]]
    assert out.splitlines() == [
        "Events beyond the 2 newest of each object:",
        "testapp.RowModelEvent: deleted 3 events",
        "Deleted 3 events in all.",
    ]


def test_keep_last_in_batches_smaller_than_one_object_s_events(history):
    _, err = prune("testapp.RowModel", "--keep-last", "1", "--batch-size", "2")

    assert pgh_ids(RowEvent) == [history["first"][3], history["second"][2]]
    assert err.splitlines()[-1] == "testapp.RowModelEvent 100% 5/5"


def test_older_than_in_batches_deletes_exactly_the_old_events(history):
    _, err = prune("testapp.RowModel", "--older-than", "30d", "--batch-size", "1")

    assert pgh_ids(RowEvent) == [history["first"][3], history["second"][2]]
    # One batch per event: the progress line moves once per tenth passed.
    assert err.splitlines() == [
        "testapp.RowModelEvent 0% 0/5",
        "testapp.RowModelEvent 20% 1/5",
        "testapp.RowModelEvent 40% 2/5",
        "testapp.RowModelEvent 60% 3/5",
        "testapp.RowModelEvent 80% 4/5",
        "testapp.RowModelEvent 100% 5/5",
    ]


def test_a_dry_run_counts_per_event_model_and_deletes_nothing(history):
    before = {
        model: list(model.objects.order_by("pgh_id").values()) for model in (RowEvent, PlaceEvent)
    }

    out, err = prune("testapp.RowModel", "testapp.Place", "--older-than", "90d", "--dry-run")

    assert out.splitlines()[1:] == [
        "testapp.RowModelEvent: would delete 3 events",
        "testapp.PlaceEvent: would delete 1 event",
        "Would delete 4 events in all (dry run: nothing was deleted).",
    ]
    assert err == ""
    after = {
        model: list(model.objects.order_by("pgh_id").values()) for model in (RowEvent, PlaceEvent)
    }
    assert after == before


def test_a_keep_last_dry_run_counts_exactly(history):
    out, _ = prune("testapp.RowModel", "--keep-last", "1", "--dry-run")

    assert "testapp.RowModelEvent: would delete 5 events" in out.splitlines()
    assert RowEvent.objects.count() == 7


def test_an_event_model_can_be_named_by_itself(history):
    prune("testapp.PlaceEvent", "--older-than", "90d")

    assert pgh_ids(PlaceEvent) == [history["place"][1]]
    assert RowEvent.objects.count() == 7


def test_keep_last_skips_event_models_without_pgh_obj():
    book = Book.objects.create(title="Dune", author=Author.objects.create(name="Frank"))
    book.tags.create(name="sf")

    out, err = prune("testapp.BookTag", "--keep-last", "1")

    assert BookTag.pgh_event_model.objects.count() == 1
    assert err == (
        "testapp.BookTagEvent: skipped, it has no pgh_obj field, so its events belong to no"
        " object.\n"
    )
    assert out.splitlines()[-1] == "Deleted 0 events in all."


# -- append-only history --------------------------------------------------------------------


def test_append_only_event_models_are_refused_and_nothing_is_deleted(history):
    Ledger.objects.create(amount=10)

    with pytest.raises(CommandError) as refused:
        prune("testapp.RowModel", "testapp.Ledger", "--older-than", "90d")

    assert str(refused.value) == (
        "testapp.LedgerEvent: append-only event model, whose events are kept on purpose."
        " Nothing was deleted. Name the other models, or pass --allow-append-only to delete"
        " from these too."
    )
    assert LedgerEvent.objects.count() == 1
    assert RowEvent.objects.count() == 7


def test_all_event_models_include_the_append_only_ones_so_they_are_refused_too():
    with pytest.raises(CommandError, match="testapp.LedgerEvent: append-only"):
        prune("--keep-last", "1", "--dry-run")


def test_allow_append_only_deletes_and_the_protection_stays_for_everyone_else():
    entry = Ledger.objects.create(amount=10)
    Ledger.objects.filter(pk=entry.pk).update(amount=20)
    Ledger.objects.filter(pk=entry.pk).update(amount=30)
    newest = pgh_ids(LedgerEvent)[-1]

    out, _ = prune(
        "testapp.Ledger", "--keep-last", "1", "--allow-append-only", "--batch-size", "1"
    )

    assert pgh_ids(LedgerEvent) == [newest]
    assert "testapp.LedgerEvent: deleted 2 events" in out
    with pytest.raises(DatabaseError, match="Cannot update or delete"), transaction.atomic():
        LedgerEvent.objects.all().delete()
    assert pgh_ids(LedgerEvent) == [newest]


# -- arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize("age", ["90", "0d", "3m", "1.5d", "d"])
def test_ages_that_are_no_duration_are_refused(age):
    with pytest.raises(CommandError, match=f'"{age}" is not a duration'):
        prune("testapp.RowModel", "--older-than", age)


@pytest.mark.parametrize(
    "args",
    [
        ["testapp.RowModel"],
        ["testapp.RowModel", "--older-than", "1d", "--keep-last", "1"],
        ["testapp.RowModel", "--keep-last", "0"],
        ["testapp.RowModel", "--older-than", "1d", "--batch-size", "0"],
    ],
)
def test_one_rule_is_needed_and_numbers_must_be_positive(args):
    with pytest.raises(CommandError):
        prune(*args)


# -- while another connection writes -------------------------------------------------------


class Writer(threading.Thread):
    """Writes events on its own connection, one at a time, each committed: an update of
    `obj` (or a new row when `obj` is None) whenever `turn` is set."""

    def __init__(self, obj=None):
        super().__init__()
        self.obj = obj
        self.turn = threading.Event()
        self.done_one = threading.Event()
        self.stop = False
        self.written: list[int] = []

    def run(self):
        try:
            while True:
                self.turn.wait()
                self.turn.clear()
                if self.stop:
                    return
                if self.obj is None:
                    row = RowModel.objects.create(int_field=-1)
                else:
                    row = self.obj
                    RowModel.objects.filter(pk=row.pk).update(int_field=len(self.written) + 100)
                self.written.append(row.events.order_by("pgh_id").last().pgh_id)
                self.done_one.set()
        finally:
            connections.close_all()

    def write_one(self, *_):
        """Have one event written and committed, and wait for it."""
        self.done_one.clear()
        self.turn.set()
        assert self.done_one.wait(10)

    def finish(self):
        self.stop = True
        self.turn.set()
        self.join(10)


@pytest.mark.django_db(transaction=True)
def test_pruning_by_age_keeps_everything_written_meanwhile():
    old = [RowModel.objects.create(int_field=i) for i in range(6)]
    aged(RowEvent, {pgh_id: 200 for pgh_id in pgh_ids(RowEvent)})
    writer = Writer()
    writer.start()
    try:
        writer.write_one()  # before the prune, and between every two of its batches
        deleted = maintenance.prune(
            RowEvent,
            maintenance.OlderThan(maintenance.database_now() - datetime.timedelta(days=90)),
            batch_size=2,
            on_batch=writer.write_one,
        )
    finally:
        writer.finish()

    assert deleted == len(old)
    assert len(writer.written) == 5  # one before, one after each of the four batches
    assert pgh_ids(RowEvent) == writer.written


@pytest.mark.django_db(transaction=True)
def test_pruning_to_the_last_events_keeps_everything_written_meanwhile():
    quiet = RowModel.objects.create(int_field=0)
    busy = RowModel.objects.create(int_field=0)  # after quiet in the prune's order
    for value in (1, 2, 3):
        RowModel.objects.filter(pk__in=[quiet.pk, busy.pk]).update(int_field=value)
    quiet_newest = quiet.events.order_by("pgh_id").last().pgh_id
    writer = Writer(busy)
    writer.start()
    try:
        deleted = maintenance.prune(
            RowEvent, maintenance.KeepLast(1), batch_size=3, on_batch=writer.write_one
        )
    finally:
        writer.finish()

    # Batches of 3 over quiet's 4 events and busy's 4: busy gets a new event after each,
    # and the last batch reaches busy's events after two of them were written. Those are not
    # busy's newest by then, yet they stay: they were written after the prune started.
    assert len(writer.written) == 3
    assert deleted == 3 + 4
    assert pgh_ids(RowEvent) == [quiet_newest, *writer.written]


def test_keep_last_walks_objects_with_uuid_keys_in_batches():
    first = CustomKey.objects.create(id=uuid.UUID(int=1), int_field=0)
    second = CustomKey.objects.create(id=uuid.UUID(int=2), int_field=0)
    for value in (1, 2):
        CustomKey.objects.filter(pk__in=[first.pk, second.pk]).update(int_field=value)
    events = CustomKey.pgh_event_model.objects.order_by("pgh_id")
    newest = {obj: pgh_id for obj, pgh_id in events.values_list("pgh_obj_id", "pgh_id")}

    prune("testapp.CustomKey", "--keep-last", "1", "--batch-size", "1")

    assert list(events.values_list("pgh_obj_id", "pgh_id")) == sorted(
        newest.items(), key=lambda item: item[1]
    )


# -- --archive --------------------------------------------------------------------------------


def exported(*args) -> list[str]:
    """pghistory_export's JSON Lines of these arguments."""
    out = io.StringIO()
    call_command("pghistory_export", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().splitlines()


def test_archive_holds_exactly_the_deleted_events_as_the_export_writes_them(history, tmp_path):
    before = exported("testapp.RowModel", "testapp.Place")
    archive = tmp_path / "old.jsonl"

    out, _ = prune(
        "testapp.RowModel", "testapp.Place", "--older-than", "90d", "--archive", str(archive)
    )

    first, place = history["first"], history["place"]
    # Table by table; in each, a batch's events in pgh_id order.
    deleted = [*sorted([first[0], first[1], history["second"][0]]), place[0]]
    archived = archive.read_text().splitlines()
    # The lines the export wrote of those events before the prune (their diffs against
    # their previous events, which the prune deletes with them), byte for byte.
    assert archived == [line for line in before if json.loads(line)["pgh_id"] in deleted]
    assert [json.loads(line)["pgh_id"] for line in archived] == deleted
    assert pgh_ids(RowEvent) == [first[2], first[3], *history["second"][1:]]
    assert pgh_ids(PlaceEvent) == [place[1]]
    assert out.splitlines()[1:] == [
        f"Archived 4 events to {archive}.",
        "testapp.RowModelEvent: deleted 3 events",
        "testapp.PlaceEvent: deleted 1 event",
        "Deleted 4 events in all.",
    ]


def test_a_keep_last_archive_in_batches_holds_each_diff_as_before(history, tmp_path):
    before = exported("testapp.RowModel")
    archive = tmp_path / "old.jsonl.gz"

    prune("testapp.RowModel", "--keep-last", "1", "--batch-size", "2", "--archive", str(archive))

    kept = [history["first"][-1], history["second"][-1]]
    archived = gzip.decompress(archive.read_bytes()).decode().splitlines()
    assert sorted(archived) == sorted(
        line for line in before if json.loads(line)["pgh_id"] not in kept
    )
    assert pgh_ids(RowEvent) == kept


def unchanged(history) -> bool:
    rows = sorted(history["first"] + history["second"])
    return pgh_ids(RowEvent) == rows and pgh_ids(PlaceEvent) == history["place"]


def test_an_archive_that_cannot_be_created_deletes_nothing(history, tmp_path):
    archive = tmp_path / "missing" / "old.jsonl"

    with pytest.raises(CommandError) as error:
        prune("--older-than", "90d", "testapp.RowModel", "--archive", str(archive))

    assert str(error.value) == (
        f"Cannot write the archive {archive}: No such file or directory. Nothing was deleted."
    )
    assert unchanged(history)


def test_an_archive_whose_disk_fills_up_deletes_nothing_and_leaves_no_file(history, tmp_path):
    archive = tmp_path / "old.jsonl"

    with pytest.raises(CommandError) as error, file_size_limit(600):  # a line or two fit
        prune(
            "--older-than",
            "90d",
            "testapp.RowModel",
            "--batch-size",
            "1",
            "--archive",
            str(archive),
        )

    assert str(error.value) == (
        f"Cannot write the archive {archive}: File too large. Nothing was deleted."
    )
    assert unchanged(history)
    assert list(tmp_path.iterdir()) == []


def test_an_archive_never_replaces_a_file(history, tmp_path):
    archive = tmp_path / "old.jsonl"
    archive.write_text("last month's archive\n")

    with pytest.raises(
        CommandError, match="exists .an archive never replaces another.\\. Nothing"
    ):
        prune("--older-than", "90d", "testapp.RowModel", "--archive", str(archive))

    assert archive.read_text() == "last month's archive\n"
    assert unchanged(history)


def test_an_archive_with_a_dry_run_is_refused(history, tmp_path):
    with pytest.raises(CommandError, match="choose one"):
        prune("--older-than", "90d", "--dry-run", "--archive", str(tmp_path / "a"))
    assert not (tmp_path / "a").exists()


@pytest.mark.django_db(transaction=True)
def test_an_archive_leaves_out_and_keeps_what_is_written_meanwhile(tmp_path):
    old = [RowModel.objects.create(int_field=i) for i in range(4)]
    aged(RowEvent, {pgh_id: 200 for pgh_id in pgh_ids(RowEvent)})
    rule = maintenance.OlderThan(maintenance.database_now() - datetime.timedelta(days=90))
    writer = Writer()
    writer.start()
    archived = []
    try:
        writer.write_one()  # before the prune, and while it archives each batch

        def archive(batch):
            archived.extend(batch)
            writer.write_one()

        selected = maintenance.select_pruned(RowEvent, rule, batch_size=2, on_batch=archive)
        deleted = maintenance.delete_selected(RowEvent, selected)
    finally:
        writer.finish()

    assert deleted == len(archived) == len(old)
    assert [pgh_id for batch in selected for pgh_id in batch] == archived
    assert pgh_ids(RowEvent) == writer.written  # one before, one per batch of the two
