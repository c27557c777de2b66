"""`manage.py pghistory_export`: one line per event (JSON Lines or CSV) with the stored row
and its diff as `Events` defines them, the event browser's filters, gzip, a file written in
full or not at all, and bad arguments answered with a clear error."""

import contextlib
import csv
import datetime
import gzip
import io
import json
import os
import stat
import uuid

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

import pghistory
from pghistory import bulk_export, retired
from pghistory.models import Events
from tests.limits import file_size_limit
from tests.testapp.models import Account, DenormContext, Note, Place, RowModel

pytestmark = pytest.mark.django_db

PlaceEvent = Place.pgh_event_model
HEADER = (
    "model,tracked_model,pgh_id,pgh_created_at,pgh_label,pgh_obj_id,pgh_context_id,"
    "pgh_context,data,diff"
)


def export(*args) -> str:
    """Run the command; its standard output."""
    out = io.StringIO()
    call_command("pghistory_export", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def lines(*args) -> list[dict]:
    return [json.loads(line) for line in export(*args).splitlines()]


def iso(moment) -> str:
    """As the lines write times: UTC, microseconds without their trailing zeros."""
    text = moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return text.rstrip("0").rstrip(".") + "+00:00"


@pytest.fixture
def places():
    """A pier created outside any context; a park created in a context of alice's and renamed
    in one of bob's. Returns the events in pgh_id order."""
    alice = User.objects.create(username="alice")
    bob = User.objects.create(username="bob")
    Place.objects.create(name="Pier")
    with pghistory.context(user=alice.pk, url="/places/"):
        park = Place.objects.create(name='Park "Nord"', address="1 Way\\Road")
    with pghistory.context(user=bob.pk):
        Place.objects.filter(pk=park.pk).update(name="Park, north")
    return list(PlaceEvent.objects.order_by("pgh_id"))


def test_json_lines_hold_each_event_with_its_row_context_and_diff(places):
    pier, created, renamed = places
    alice, bob = User.objects.order_by("pk").values_list("pk", flat=True)

    assert export("testapp.Place").splitlines() == [
        '{"model": "testapp.PlaceEvent", "tracked_model": "testapp.Place",'
        f' "pgh_id": {pier.pgh_id}, "pgh_created_at": "{iso(pier.pgh_created_at)}",'
        f' "pgh_label": "insert", "pgh_obj_id": "{pier.pgh_obj_id}",'
        ' "pgh_context_id": null, "pgh_context": null,'
        f' "data": {{"id": {pier.pgh_obj_id}, "name": "Pier", "address": ""}}, "diff": null}}',
        '{"model": "testapp.PlaceEvent", "tracked_model": "testapp.Place",'
        f' "pgh_id": {created.pgh_id}, "pgh_created_at": "{iso(created.pgh_created_at)}",'
        f' "pgh_label": "insert", "pgh_obj_id": "{created.pgh_obj_id}",'
        f' "pgh_context_id": "{created.pgh_context_id}",'
        f' "pgh_context": {{"url": "/places/", "user": {alice}}},'
        f' "data": {{"id": {created.pgh_obj_id}, "name": "Park \\"Nord\\"",'
        ' "address": "1 Way\\\\Road"}, "diff": null}',
        '{"model": "testapp.PlaceEvent", "tracked_model": "testapp.Place",'
        f' "pgh_id": {renamed.pgh_id}, "pgh_created_at": "{iso(renamed.pgh_created_at)}",'
        f' "pgh_label": "update", "pgh_obj_id": "{created.pgh_obj_id}",'
        f' "pgh_context_id": "{renamed.pgh_context_id}", "pgh_context": {{"user": {bob}}},'
        f' "data": {{"id": {created.pgh_obj_id}, "name": "Park, north",'
        ' "address": "1 Way\\\\Road"}, "diff": {"name": ["Park \\"Nord\\"", "Park, north"]}}',
    ]


def test_csv_is_rfc_4180_with_a_header_and_json_in_cells(places):
    _, created, renamed = places
    bob = User.objects.get(username="bob").pk

    text = export("testapp.Place", "--format", "csv", "--label", "update")

    assert text == (
        f"{HEADER}\r\n"
        f"testapp.PlaceEvent,testapp.Place,{renamed.pgh_id},{iso(renamed.pgh_created_at)},"
        f'update,{created.pgh_obj_id},{renamed.pgh_context_id},"{{""user"": {bob}}}",'
        f'"{{""id"": {created.pgh_obj_id}, ""name"": ""Park, north"",'
        ' ""address"": ""1 Way\\\\Road""}",'
        '"{""name"": [""Park \\""Nord\\"""", ""Park, north""]}"\r\n'
    )
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert json.loads(rows[1][9]) == {"name": ['Park "Nord"', "Park, north"]}


def test_csv_and_json_lines_hold_the_same_values(places):
    text = export("testapp.Place", "--format", "csv")
    as_csv = list(csv.DictReader(io.StringIO(text, newline="")))
    as_json = lines("testapp.Place")

    assert len(as_csv) == len(as_json) == 3
    for row, line in zip(as_csv, as_json, strict=True):
        for key in ("model", "tracked_model", "pgh_created_at", "pgh_label", "pgh_obj_id"):
            assert row[key] == line[key]
        assert int(row["pgh_id"]) == line["pgh_id"]
        assert (row["pgh_context_id"] or None) == line["pgh_context_id"]
        for key in ("pgh_context", "data", "diff"):
            assert (json.loads(row[key]) if row[key] else None) == line[key]


def test_every_field_type_is_the_stored_row_and_the_diff_that_events_gives():
    row = RowModel.objects.create(
        int_field=1,
        decimal_field="1.50",
        float_field=0.5,
        char_field="s",
        text_field="tab\there\nline, \\ and ☃",
        date_field="2026-11-27",
        datetime_field="2026-11-27T10:00:00.5Z",
        time_field="10:00",
        duration_field="1 day",
        uuid_field=uuid.UUID(int=7),
        json_field={"nested": ["a", 1, None]},
        binary_field=b"\x00\xff",
    )
    RowModel.objects.filter(pk=row.pk).update(text_field="x", json_field=[1], float_field=None)
    row.delete()
    events = Events.objects.across(RowModel.pgh_event_model).order_by("pgh_id")

    got = [(line["data"], line["diff"]) for line in lines("testapp.RowModel")]

    assert len(got) == 3
    assert got == [
        (json.loads(data), json.loads(diff) if diff else None) for data, diff in _as_text(events)
    ]
    assert got[1][1] == {"text_field": ["tab\there\nline, \\ and ☃", "x"],
                         "json_field": [{"nested": ["a", 1, None]}, [1]],
                         "float_field": [0.5, None]}  # fmt: skip


def _as_text(events):
    """Events' pgh_data and pgh_diff as the database renders them."""
    sql, params = events.values_list("pgh_data", "pgh_diff").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pgh_data::text, pgh_diff::text FROM ({sql}) q", params)
        return cursor.fetchall()


def test_events_come_table_by_table_in_the_order_named_each_in_pgh_id_order():
    note = Note.objects.create(title="a", body="b")
    Place.objects.create(name="p")
    Note.objects.filter(pk=note.pk).update(title="c", body="d")

    got = [(line["model"], line["pgh_label"]) for line in lines("testapp.Place", "testapp.Note")]

    # In the order named: Place's event model, then Note's two (by label).
    assert got == [
        ("testapp.PlaceEvent", "insert"),
        ("testapp.NoteEvent", "body_update"),
        ("testapp.NoteTitleEvent", "insert"),
        ("testapp.NoteTitleEvent", "update"),
    ]


def test_events_of_one_change_by_several_trackers_each_show_the_change():
    account = Account.objects.create(owner="ann", balance=150)
    Account.objects.filter(pk=account.pk).update(balance=50)
    Account.objects.filter(pk=account.pk).update(owner="bo")

    got = [(line["pgh_label"], line["diff"]) for line in lines("testapp.Account")]

    # The previous event passes over a sibling (the same change by another tracker), as
    # Events' does: each of the change's events shows it.
    assert got == [
        ("balance_changed", None),
        ("every_update", {"balance": [150, 50]}),
        ("fell_below_100", {"balance": [150, 50]}),
        ("owner_kept", {"balance": [150, 50]}),
        ("every_update", {"owner": ["ann", "bo"]}),
    ]
    assert got == list(
        Events.objects.tracks(account).order_by("pgh_id").values_list("pgh_label", "pgh_diff")
    )


@pytest.mark.django_db(transaction=True)  # (the parts' connections see committed rows only)
@pytest.mark.parametrize("format", ["jsonl", "csv"])
def test_a_big_table_read_in_parts_on_two_connections_gives_the_same_lines(format, monkeypatch):
    places = [Place.objects.create(name=f"Place {i}") for i in range(5)]
    for place in places:
        Place.objects.filter(pk=place.pk).update(name=f"{place.name}, renamed")
    whole = export("testapp.Place", "--format", format)
    read = []

    def read_part(*args):
        read.append(args[0])
        return real_read_part(*args)

    real_read_part = bulk_export._read_part
    monkeypatch.setattr(bulk_export, "_read_part", read_part)
    monkeypatch.setattr(bulk_export, "PART_SIZE", 3)

    assert export("testapp.Place", "--format", format) == whole
    assert len(whole.splitlines()) == 10 + (format == "csv")
    assert len(read) == 4  # 10 pgh_ids in parts of 3


@pytest.fixture
def retired_column():
    """PlaceEvent with a column `floor` that two events recorded (3 and null) and that was
    then retired, as a removed field's column is; a third event written after."""
    table = PlaceEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{table}" ADD COLUMN floor integer')
        park = Place.objects.create(name="Park")
        cursor.execute(f'UPDATE "{table}" SET floor = 3')
        Place.objects.filter(pk=park.pk).update(name="Big park")
    described = retired.StoredColumn(key="floor", column="floor", name="floor", reason="removed")
    with connection.schema_editor() as editor:
        retired.retire_column(editor, table, described)
    retired.forget()
    Place.objects.filter(pk=park.pk).update(name="Park")
    yield
    retired.forget()


def test_a_retired_column_keeps_the_values_events_recorded_as_events_holds_them(retired_column):
    events = Events.objects.across(PlaceEvent).order_by("pgh_id")

    got = [(line["data"], line["diff"]) for line in lines("testapp.Place")]

    assert [data.get("floor", "not recorded") for data, _ in got] == [3, None, "not recorded"]
    assert got == [
        (json.loads(data), json.loads(diff) if diff else None) for data, diff in _as_text(events)
    ]
    assert got[1][1] == {"name": ["Park", "Big park"], "floor": [3, None]}


def test_a_denormalized_context_is_exported_from_the_event_row():
    with pghistory.context(reason="import"):
        DenormContext.objects.create(int_field=1)

    (line,) = lines("testapp.DenormContext")

    assert line["pgh_context"] == {"reason": "import"}
    assert uuid.UUID(line["pgh_context_id"])


# -- filters ----------------------------------------------------------------------------------


def ids(*args) -> list[int]:
    return [line["pgh_id"] for line in lines(*args)]


def test_labels_filter_and_repeat(places):
    pier, created, renamed = places
    assert ids("testapp.Place", "--label", "update") == [renamed.pgh_id]
    assert ids("--label", "update", "--label", "insert", "testapp.Place") == [
        pier.pgh_id,
        created.pgh_id,
        renamed.pgh_id,
    ]


def test_a_user_is_named_by_user_name_or_by_the_id_of_a_deleted_user(places):
    _, created, renamed = places
    bob = User.objects.get(username="bob").pk
    assert ids("testapp.Place", "--user", "alice") == [created.pgh_id]
    assert ids("testapp.Place", "--user", str(bob)) == [renamed.pgh_id]
    User.objects.filter(pk=bob).delete()
    assert ids("testapp.Place", "--user", str(bob)) == [renamed.pgh_id]


def test_a_context_keeps_its_events(places):
    _, created, _ = places
    assert ids("--context", str(created.pgh_context_id)) == [created.pgh_id]


def test_dates_alone_mean_whole_days_and_moments_are_exact(places):
    first, second, third = places
    PlaceEvent.objects.filter(pgh_id=first.pgh_id).update(pgh_created_at="2026-11-26T23:59Z")
    PlaceEvent.objects.filter(pgh_id=second.pgh_id).update(pgh_created_at="2026-11-27T00:00Z")
    PlaceEvent.objects.filter(pgh_id=third.pgh_id).update(pgh_created_at="2026-11-27T23:59Z")
    place = ["testapp.Place"]

    assert ids(*place, "--since", "2026-11-27", "--until", "2026-11-27") == [
        second.pgh_id,
        third.pgh_id,
    ]
    assert ids(*place, "--until", "2026-11-26") == [first.pgh_id]
    assert ids(*place, "--since", "2026-11-27T12:00") == [third.pgh_id]
    assert ids(*place, "--since", "2026-11-27T00:00:00+01:00") == [
        first.pgh_id,
        second.pgh_id,
        third.pgh_id,
    ]


def test_a_model_named_by_its_event_model_exports_that_table_only():
    note = Note.objects.create(title="a", body="b")
    Note.objects.filter(pk=note.pk).update(body="c")
    assert [line["model"] for line in lines("testapp.NoteEvent")] == ["testapp.NoteEvent"]


def test_no_event_gives_no_line_and_csv_its_header_only():
    assert export("testapp.Place") == ""
    assert export("testapp.Place", "--format", "csv") == f"{HEADER}\r\n"


# -- files ------------------------------------------------------------------------------------


def test_output_and_gzip_hold_the_same_bytes_as_standard_output(places, tmp_path):
    expected = export("testapp.Place", "--format", "csv").encode()
    csv_of_places = ["pghistory_export", "testapp.Place", "--format", "csv"]

    call_command(*csv_of_places, "--output", str(tmp_path / "a.csv"))
    call_command(*csv_of_places, "--gzip", "--output", str(tmp_path / "b"))

    assert (tmp_path / "a.csv").read_bytes() == expected
    assert gzip.decompress((tmp_path / "b").read_bytes()) == expected
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.csv", "b"]


def test_the_output_says_how_many_events_it_wrote(places, tmp_path):
    err = io.StringIO()
    call_command("pghistory_export", "testapp.Place", "--output", str(tmp_path / "a"), stderr=err)
    assert err.getvalue() == f"3 events written to {tmp_path / 'a'}.\n"


def test_a_terminal_gets_a_progress_bar_and_anything_else_the_count_only(places, tmp_path):
    controller, terminal = os.openpty()
    with open(terminal, "w") as stderr:
        call_command("pghistory_export", "testapp.Place", "--output", os.devnull, stderr=stderr)
    os.set_blocking(controller, False)
    drawn = b""
    with contextlib.suppress(OSError):  # EIO, once all is read: the other end is closed
        while chunk := os.read(controller, 4096):
            drawn += chunk
    os.close(controller)

    bar = "exporting [{}] {}% {}/3"
    assert drawn.decode().split("\r") == [
        "",
        bar.format("." * 30, 0, 0),
        bar.format("#" * 30, 100, 3),
        bar.format("#" * 30, 100, 3),
        "\n3 events written to /dev/null.",
        "\n",
    ]


def test_a_device_or_a_symbolic_link_is_written_through_never_replaced(places, tmp_path):
    (tmp_path / "real.jsonl").write_text("")
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "real.jsonl")

    call_command("pghistory_export", "testapp.Place", "--output", "/dev/null")
    call_command("pghistory_export", "testapp.Place", "--output", str(tmp_path / "link.jsonl"))

    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert (tmp_path / "link.jsonl").is_symlink()
    assert (tmp_path / "real.jsonl").read_text() == export("testapp.Place")


def test_a_reader_that_goes_away_is_a_clear_error(places):
    reader, writer = os.pipe()
    os.close(reader)
    with open(writer, "w") as stdout, pytest.raises(CommandError) as error:
        call_command("pghistory_export", "testapp.Place", stdout=stdout)
    assert str(error.value) == "Standard output was closed before the export ended."


def test_a_run_that_fails_mid_way_leaves_the_previous_file_and_no_part(places, tmp_path):
    target = tmp_path / "events.jsonl"
    target.write_bytes(b"yesterday's export\n")

    with (
        pytest.raises(CommandError, match=f"Cannot write {target}: File too large"),
        file_size_limit(300),  # the first line fits, the second does not
    ):
        call_command("pghistory_export", "testapp.Place", "--output", str(target))

    assert target.read_bytes() == b"yesterday's export\n"
    assert [path.name for path in tmp_path.iterdir()] == ["events.jsonl"]


# -- bad arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["shop.Nothing"], '"shop.Nothing" is not a model (use app_label.ModelName).'),
        (["auth.Group"], '"auth.Group" is neither a tracked model nor an event model.'),
        (["--format", "xml"], 'Unknown format "xml": use jsonl or csv.'),
        (["--since", "yesterday"], '--since "yesterday" is not a date or a date and time'),
        (["--until", "2026-02-30"], '--until "2026-02-30" is not a date or a date and time'),
        (["--context", "12"], '--context "12" is not a uuid.'),
        (["--user", "nobody"], 'There is no user "nobody".'),
        (["--output", "/nonexistent/dir/a.jsonl"], "Cannot write /nonexistent/dir/a.jsonl: No"),
    ],
)
def test_bad_arguments_are_a_clear_error(args, message):
    with pytest.raises(CommandError) as error:
        export(*args)
    assert str(error.value).startswith(message)
