"""Event tables partitioned by month: the migration operation that rebuilds a table (rows,
sequence, indexes and triggers kept), tracking, `Events` and the UI on a partitioned table,
and `manage.py pghistory_partitions` (coming partitions, events moved out of the DEFAULT
partition, expired months dropped whole, dry runs, append-only history refused)."""

import csv
import datetime
import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

import pghistory
from pghistory import maintenance, partitions
from pghistory.models import Events
from pghistory.operations import PartitionEventTable
from pghistory_admin import pagination
from tests.html import event_rows
from tests.testapp.models import Ledger, PartitionedThing, RowModel, StatementModel

pytestmark = pytest.mark.django_db

ThingEvent = PartitionedThing.pgh_event_model
TABLE = ThingEvent._meta.db_table
MONTH = partitions.INTERVALS["month"]


def sql(statement, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else None


def months_from_now(*offsets) -> list[datetime.datetime]:
    """The first moment of the months `offsets` away from the database's current month."""
    this = MONTH.floor(maintenance.database_now())
    return [MONTH.shift(this, offset) for offset in offsets]


def name(table, month: datetime.datetime) -> str:
    return f"{table}_p{month:%Y_%m}"


def partition_names(table=TABLE) -> list[str]:
    return [partition.name for partition in partitions.layout_of(table).partitions]


def events(event_model=ThingEvent, *columns):
    columns = columns or ("pgh_label", "name", "count")
    return list(event_model.objects.order_by("pgh_id").values_list(*columns))


def where(event_model=ThingEvent) -> dict[int, str]:
    """pgh_id -> the partition that holds the event."""
    table = event_model._meta.db_table
    return dict(sql(f'SELECT pgh_id, tableoid::regclass::text FROM "{table}"'))


def age(event_model, pgh_ids, moment) -> None:
    """Move events to `moment` (an UPDATE that moves them to its partition)."""
    event_model.objects.filter(pgh_id__in=pgh_ids).update(pgh_created_at=moment)


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("pghistory_partitions", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def only_default():
    """The test table with its DEFAULT partition alone (it is empty when a test starts)."""
    for partition in partitions.layout_of(TABLE).partitions:
        sql(f'DROP TABLE "{partition.name}"')


def rebuild(table, every="month"):
    with connection.schema_editor() as editor:
        if every:
            partitions.partition_table(editor, table, every)
        else:
            partitions.unpartition_table(editor, table)


# -- the partitioned table --------------------------------------------------------------------


def test_the_migration_partitions_the_event_table_by_month_with_a_default_partition():
    (strategy, key), *_ = sql(
        "SELECT partstrat, (SELECT attname FROM pg_attribute WHERE attrelid = partrelid"
        " AND attnum = partattrs[0]) FROM pg_partitioned_table"
        " WHERE partrelid = %s::regclass",
        [TABLE],
    )
    layout = partitions.layout_of(TABLE)
    children = sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass ORDER BY 1",
        [TABLE],
    )

    assert (strategy, key) == ("r", "pgh_created_at")
    assert layout.default == f"{TABLE}_default"
    assert layout.interval is MONTH
    assert sorted([layout.default, *partition_names()]) == [name for (name,) in children]
    assert all(p.end == MONTH.shift(p.start, 1) for p in layout.partitions)


def test_the_primary_key_holds_the_partition_key_and_the_history_indexes_cascade():
    def index_columns(table):
        return sql(
            "SELECT indisprimary, ARRAY(SELECT attname FROM unnest(indkey) WITH ORDINALITY"
            " AS k(num, n) JOIN pg_attribute ON attrelid = indrelid AND attnum = k.num"
            " ORDER BY n) FROM pg_index WHERE indrelid = %s::regclass ORDER BY 2",
            [table],
        )

    expected = [
        (False, ["pgh_context_id"]),
        (False, ["pgh_created_at", "pgh_id"]),
        (True, ["pgh_id", "pgh_created_at"]),
        (False, ["pgh_obj_id", "pgh_id", "pgh_created_at"]),  # (the time is included)
    ]
    assert index_columns(TABLE) == expected
    for partition in [partitions.layout_of(TABLE).default, *partition_names()]:
        assert index_columns(partition) == expected
    assert ThingEvent._meta.pk.name == "pgh_id"


def test_inserts_updates_and_deletes_write_exact_events_in_the_months_partition():
    run("--ahead", "0")  # (this month's partition, should the test database be older)
    thing = PartitionedThing.objects.create(name="lamp", count=1)
    thing.count = 2
    thing.save()
    thing.save()  # no change: no event
    PartitionedThing.objects.bulk_create(
        [PartitionedThing(name="desk"), PartitionedThing(name="pen")]
    )
    PartitionedThing.objects.filter(name__in=["desk", "pen"]).update(count=5)
    PartitionedThing.objects.filter(pk=thing.pk).delete()

    assert events() == [
        ("insert", "lamp", 1),
        ("update", "lamp", 2),
        ("insert", "desk", 0),
        ("insert", "pen", 0),
        ("update", "desk", 5),
        ("update", "pen", 5),
        ("delete", "lamp", 2),
    ]
    (this,) = months_from_now(0)
    assert set(where().values()) == {name(TABLE, this)}
    assert list(thing.events.order_by("pgh_id").values_list("pgh_label", flat=True)) == [
        "insert",
        "update",
        "delete",
    ]


@pytest.mark.django_db(transaction=True)  # (a context lasts until its transaction ends)
def test_events_come_with_their_context_and_diffs():
    with pghistory.context(reason="stocktake") as stocktake:
        thing = PartitionedThing.objects.create(name="lamp", count=1)
    PartitionedThing.objects.filter(pk=thing.pk).update(name="big lamp", count=3)
    manual = ThingEvent.objects.order_by("pgh_id").first()

    rows = Events.objects.tracks(thing).order_by("pgh_id")

    assert list(rows.values_list("pgh_slug", "pgh_label", "pgh_diff", "pgh_context_id")) == [
        (f"testapp.PartitionedThingEvent:{manual.pgh_id}", "insert", None, stocktake.id),
        (
            f"testapp.PartitionedThingEvent:{manual.pgh_id + 1}",
            "update",
            {"name": ["lamp", "big lamp"], "count": [1, 3]},
            None,
        ),
    ]
    assert rows.last().pgh_data == {"id": thing.pk, "name": "big lamp", "count": 3}
    assert Events.objects.across(ThingEvent).count() == 2


@pytest.fixture
def root(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    client.force_login(user)
    return user


@pytest.mark.django_db(transaction=True)
def test_the_browser_timeline_and_csv_export_show_the_events(client, root):
    with pghistory.context(user=root.pk, url="/things/new/"):
        thing = PartitionedThing.objects.create(name="lamp", count=1)
    PartitionedThing.objects.filter(pk=thing.pk).update(count=4)
    update, insert = ThingEvent.objects.order_by("-pgh_id")

    page = client.get("/history/", {"model": "testapp.partitionedthing"})
    timeline = client.get(f"/history/object/testapp.partitionedthing/{thing.pk}/")
    export = client.get("/history/export.csv", {"model": "testapp.partitionedthing"})

    assert page.status_code == 200
    rows = event_rows(page.content)
    assert [(row["event"], row["What"]) for row in rows] == [
        (f"testapp.PartitionedThingEvent:{update.pgh_id}", "update"),
        (f"testapp.PartitionedThingEvent:{insert.pgh_id}", "insert"),
    ]
    assert "Count: 1 → 4" in rows[0]["Changes"]
    assert rows[1]["Who"] == "root"
    assert timeline.status_code == 200
    assert re.findall(r'data-event="([^"]+)"', timeline.content.decode()) == [
        f"testapp.PartitionedThingEvent:{event.pgh_id}" for event in (update, insert)
    ]
    lines = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert [(line["label"], line["object_id"], line["diff"], line["user"]) for line in lines] == [
        ("update", str(thing.pk), '{"count": [1, 4]}', ""),
        ("insert", str(thing.pk), "", "root"),
    ]


def test_maintenance_commands_work_on_the_partitioned_table():
    thing = PartitionedThing.objects.create(name="lamp")
    for count in (1, 2, 3):
        PartitionedThing.objects.filter(pk=thing.pk).update(count=count)

    call_command(
        "pghistory_prune", "testapp.PartitionedThing", "--keep-last", "2", stdout=io.StringIO()
    )
    (stats,) = maintenance.table_stats([ThingEvent])

    assert events() == [("update", "lamp", 2), ("update", "lamp", 3)]
    assert (stats.events, stats.estimated) == (2, False)
    assert stats.total_bytes > 0  # the partitions' sizes (the parent itself has no storage)


def test_the_browsers_estimate_adds_up_the_partitions(a_year_of_history):
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE "{TABLE}"')

    # The parent's own estimate is not kept up to date by autovacuum; its partitions' are.
    assert pagination.estimated_total([ThingEvent]) == 4


# -- the command ------------------------------------------------------------------------------


def test_the_command_creates_this_month_and_the_next_ones_once(only_default):
    months = months_from_now(0, 1, 2)
    expected = [name(TABLE, month) for month in months]

    out, _ = run("testapp.PartitionedThing", "--ahead", "2")
    again, _ = run("testapp.PartitionedThing", "--ahead", "2")

    assert partition_names() == expected
    assert out.splitlines() == [
        f"testapp.PartitionedThingEvent: created {partition}"
        f" ({start.date()} to {MONTH.shift(start, 1).date()})"
        for partition, start in zip(expected, months)
    ] + ["Created 3 and dropped 0 partitions."]
    assert again.splitlines() == [
        "testapp.PartitionedThingEvent: up to date",
        "Created 0 and dropped 0 partitions.",
    ]


def test_events_in_the_default_partition_move_into_the_partitions_created_for_them(only_default):
    things = [PartitionedThing.objects.create(name=f"n{n}") for n in range(3)]
    before = events(ThingEvent, "pgh_id", "pgh_created_at", "pgh_label", "name")
    old, this = months_from_now(-3, 0)
    age(ThingEvent, [before[0][0]], old + datetime.timedelta(days=2))
    before = events(ThingEvent, "pgh_id", "pgh_created_at", "pgh_label", "name")
    assert set(where().values()) == {f"{TABLE}_default"}

    out, _ = run("--ahead", "0")

    assert out.splitlines() == [
        f"testapp.PartitionedThingEvent: created {name(TABLE, old)}"
        f" ({old.date()} to {MONTH.shift(old, 1).date()}), moved 1 event out of the DEFAULT"
        " partition",
        f"testapp.PartitionedThingEvent: created {name(TABLE, this)}"
        f" ({this.date()} to {MONTH.shift(this, 1).date()}), moved 2 events out of the"
        " DEFAULT partition",
        "Created 2 and dropped 0 partitions.",
    ]
    assert events(ThingEvent, "pgh_id", "pgh_created_at", "pgh_label", "name") == before
    assert where() == {
        before[0][0]: name(TABLE, old),
        before[1][0]: name(TABLE, this),
        before[2][0]: name(TABLE, this),
    }
    # New events still get the next pgh_id and land in their month's partition.
    PartitionedThing.objects.filter(pk=things[0].pk).update(count=9)
    assert events(ThingEvent, "pgh_id")[-1] == (before[-1][0] + 1,)


@pytest.fixture
def a_year_of_history(only_default):
    """Events 14, 13 and 2 months old and of this month, each month in its partition."""
    thing = PartitionedThing.objects.create(name="lamp")
    for count in (1, 2, 3):
        PartitionedThing.objects.filter(pk=thing.pk).update(count=count)
    ids = [pgh_id for (pgh_id,) in events(ThingEvent, "pgh_id")]
    months = months_from_now(-14, -13, -2, 0)
    for pgh_id, month in zip(ids, months):
        age(ThingEvent, [pgh_id], month + datetime.timedelta(days=3))
    run("--ahead", "1")
    return dict(zip(months, ids))


def test_months_older_than_the_cutoff_are_dropped_whole(a_year_of_history):
    ids = list(a_year_of_history.values())
    oldest, older, recent, this = a_year_of_history

    with CaptureQueriesContext(connection) as queries:
        out, _ = run("testapp.PartitionedThing", "--drop-older-than", "12m", "--ahead", "1")

    assert out.splitlines()[1:] == [
        f"testapp.PartitionedThingEvent: dropped {name(TABLE, oldest)} (1 event)",
        f"testapp.PartitionedThingEvent: dropped {name(TABLE, older)} (1 event)",
        "Created 0 and dropped 2 partitions.",
    ]
    assert out.startswith("Partitions whose events are all older than 12m (before ")
    assert events(ThingEvent, "pgh_id") == [(ids[2],), (ids[3],)]
    assert partition_names() == [name(TABLE, month) for month in (recent, this)] + [
        name(TABLE, MONTH.shift(this, 1))
    ]
    # The months went as tables: no event was deleted row by row.
    statements = [query["sql"] for query in queries.captured_queries]
    assert not [s for s in statements if s.lstrip().upper().startswith("DELETE")]
    assert [s for s in statements if "DETACH PARTITION" in s] == [
        f'ALTER TABLE "{TABLE}" DETACH PARTITION "{name(TABLE, month)}"'
        for month in (oldest, older)
    ]


def test_a_dry_run_says_what_would_happen_and_changes_nothing(a_year_of_history):
    oldest, older, _, this = a_year_of_history
    sql(f'DROP TABLE "{name(TABLE, MONTH.shift(this, 1))}"')  # a coming month to create
    PartitionedThing.objects.create(name="far", count=0)
    age(ThingEvent, [events(ThingEvent, "pgh_id")[-1][0]], MONTH.shift(this, 1))
    before = (partition_names(), events(ThingEvent, "pgh_id"), where())

    out, _ = run("--drop-older-than", "1y", "--ahead", "1", "--dry-run")

    assert out.splitlines()[1:] == [
        f"testapp.PartitionedThingEvent: would create {name(TABLE, MONTH.shift(this, 1))}"
        f" ({MONTH.shift(this, 1).date()} to {MONTH.shift(this, 2).date()}), moving 1 event"
        " out of the DEFAULT partition",
        f"testapp.PartitionedThingEvent: would drop {name(TABLE, oldest)} (1 event)",
        f"testapp.PartitionedThingEvent: would drop {name(TABLE, older)} (1 event)",
        "Would create 1 and would drop 2 partitions (dry run: nothing was changed).",
    ]
    assert (partition_names(), events(ThingEvent, "pgh_id"), where()) == before


def test_append_only_event_models_are_refused_a_drop(a_year_of_history, monkeypatch):
    monkeypatch.setattr(ThingEvent, "_pgh_append_only", True)
    before = (partition_names(), events(ThingEvent, "pgh_id"))

    with pytest.raises(CommandError, match="testapp.PartitionedThingEvent: append-only"):
        run("--drop-older-than", "12m", "--ahead", "1")

    assert (partition_names(), events(ThingEvent, "pgh_id")) == before
    assert run("--ahead", "1")[0].splitlines()[0] == "testapp.PartitionedThingEvent: up to date"


@pytest.mark.django_db(transaction=True)
def test_a_step_gives_up_rather_than_queue_writes_behind_a_long_read(monkeypatch):
    monkeypatch.setattr(partitions, "LOCK_TIMEOUT", "100ms")
    before = partition_names()
    reader = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        reader.set_autocommit(False)
        with reader.cursor() as cursor:
            cursor.execute(f'SELECT count(*) FROM "{TABLE}"')  # (its lock lasts until rollback)
        with pytest.raises(CommandError, match="lock timeout.*run the command again"):
            run("--ahead", "5")
    finally:
        reader.rollback()
        reader.close()

    assert partition_names() == before
    PartitionedThing.objects.create(name="lamp")
    assert events() == [("insert", "lamp", 0)]


def test_plain_event_tables_are_skipped_and_bad_arguments_refused():
    out, err = run("testapp.RowModel")

    assert err == (
        "testapp.RowModelEvent: skipped, its table is not partitioned (see"
        " pghistory.operations.PartitionEventTable).\n"
    )
    assert out == "No partitioned event tables.\n"
    with pytest.raises(CommandError, match='"12x" is not an age'):
        run("--drop-older-than", "12x")
    with pytest.raises(CommandError, match="--ahead cannot be negative"):
        run("--ahead", "-1")


@pytest.mark.parametrize(
    "age, now, expected",
    [
        ("12m", "2026-03-31T10:00:00+00:00", "2025-03-31T10:00:00+00:00"),
        ("1m", "2026-03-31T10:00:00+00:00", "2026-02-28T10:00:00+00:00"),
        ("2y", "2024-02-29T00:00:00+00:00", "2022-02-28T00:00:00+00:00"),
        ("90d", "2026-03-31T10:00:00+00:00", "2025-12-31T10:00:00+00:00"),
        ("12h", "2026-03-31T10:00:00+00:00", "2026-03-30T22:00:00+00:00"),
    ],
)
def test_ages_are_months_years_hours_days_or_weeks(age, now, expected):
    cutoff = partitions.age_cutoff(age, datetime.datetime.fromisoformat(now))

    assert cutoff == datetime.datetime.fromisoformat(expected)


@pytest.mark.parametrize("age", ["0m", "m", "-1m", "3q"])
def test_ages_that_are_no_age_are_refused(age):
    with pytest.raises(ValueError, match="is not an age"):
        partitions.age_cutoff(age, datetime.datetime.now(datetime.UTC))


# -- rebuilding tables ------------------------------------------------------------------------


def test_a_table_with_events_of_several_months_is_rebuilt_partitioned_and_back():
    event_model = StatementModel.pgh_event_model
    table = event_model._meta.db_table
    rows = StatementModel.objects.bulk_create(
        [StatementModel(int_field=n, text_field=f"t{n}", json_field={"n": n}) for n in range(4)]
    )
    StatementModel.objects.filter(int_field__lt=2).update(bool_field=True)
    StatementModel.objects.filter(pk=rows[3].pk).delete()
    ids = [pgh_id for (pgh_id,) in events(event_model, "pgh_id")]
    old, this, following = months_from_now(-5, 0, 1)
    age(event_model, ids[:2], old + datetime.timedelta(hours=1))
    columns = [field.attname for field in event_model._meta.concrete_fields]
    before = events(event_model, *columns)
    indexes = sql("SELECT indexname FROM pg_indexes WHERE tablename = %s ORDER BY 1", [table])

    rebuild(table)

    assert partition_names(table) == [name(table, month) for month in (old, this, following)]
    assert events(event_model, *columns) == before
    assert set(where(event_model).values()) == {name(table, old), name(table, this)}
    assert (
        sql("SELECT indexname FROM pg_indexes WHERE tablename = %s ORDER BY 1", [table]) == indexes
    )
    # Statement-level triggers write into it; pgh_id continues from where it was.
    StatementModel.objects.create(int_field=10)
    StatementModel.objects.filter(int_field=10).update(int_field=11)
    StatementModel.objects.filter(int_field=11).delete()
    assert events(event_model, "pgh_id", "pgh_label", "int_field")[-3:] == [
        (ids[-1] + 1, "insert", 10),
        (ids[-1] + 2, "update", 11),
        (ids[-1] + 3, "delete", 11),
    ]

    after = events(event_model, *columns)
    rebuild(table, None)

    assert partitions.layout_of(table) is None
    assert events(event_model, *columns) == after
    assert sql(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass"
        " AND contype = 'p'",
        [table],
    ) == [("PRIMARY KEY (pgh_id)",)]
    assert (
        sql("SELECT indexname FROM pg_indexes WHERE tablename = %s ORDER BY 1", [table]) == indexes
    )
    StatementModel.objects.create(int_field=12)
    assert events(event_model, "pgh_id")[-1] == (ids[-1] + 4,)


def test_an_append_only_event_table_keeps_its_protection_and_its_partitions_are_kept():
    event_model = Ledger.pgh_event_model
    table = event_model._meta.db_table
    (trigger,) = event_model._meta.triggers
    Ledger.objects.create(amount=5)
    rebuild(table)
    Ledger.objects.create(amount=7)
    old, this, following = months_from_now(-14, 0, 1)
    # An old event, in the DEFAULT partition (events cannot be moved back: they are protected).
    sql(
        f'INSERT INTO "{table}" (pgh_created_at, pgh_label, id, amount, pgh_obj_id)'
        " VALUES (%s, 'insert', 99, 1, 99)",
        [old + datetime.timedelta(days=1)],
    )

    created, _ = run("testapp.Ledger", "--ahead", "1")
    with pytest.raises(CommandError, match="testapp.LedgerEvent: append-only"):
        run("testapp.Ledger", "--drop-older-than", "12m")
    kept = events(event_model, "pgh_label", "amount")
    dropped, _ = run(
        "testapp.Ledger", "--drop-older-than", "12m", "--allow-append-only", "--ahead", "1"
    )

    assert trigger.get_installation_status(event_model) == ("INSTALLED", True)
    assert created.splitlines() == [
        f"testapp.LedgerEvent: created {name(table, old)} ({old.date()} to"
        f" {MONTH.shift(old, 1).date()}), moved 1 event out of the DEFAULT partition",
        "Created 1 and dropped 0 partitions.",
    ]
    assert kept == [("insert", 5), ("insert", 7), ("insert", 1)]
    assert dropped.splitlines()[1:] == [
        f"testapp.LedgerEvent: dropped {name(table, old)} (1 event)",
        "Created 0 and dropped 1 partition.",
    ]
    assert events(event_model, "pgh_label", "amount") == [("insert", 5), ("insert", 7)]
    assert partition_names(table) == [name(table, this), name(table, following)]
    for statement in (f'UPDATE "{table}" SET amount = 0', f'DELETE FROM "{table}"'):
        with pytest.raises(DatabaseError, match="Cannot"), transaction.atomic():
            sql(statement)
    assert events(event_model, "amount") == [(5,), (7,)]


def test_a_serial_pgh_id_comments_grants_and_other_indexes_are_carried_over():
    sql(
        "CREATE TABLE legacy (pgh_id serial PRIMARY KEY, pgh_created_at timestamptz NOT NULL"
        " DEFAULT now(), pgh_label text NOT NULL CHECK (pgh_label <> ''))"
    )
    sql("CREATE INDEX legacy_time ON legacy (pgh_created_at, pgh_id)")
    sql("CREATE INDEX legacy_label ON legacy (lower(pgh_label)) WHERE pgh_label LIKE 'a%%'")
    sql("COMMENT ON TABLE legacy IS 'history from before'")
    sql("GRANT SELECT ON legacy TO PUBLIC")
    sql("INSERT INTO legacy (pgh_label) VALUES ('a'), ('b')")

    def shape():
        return sql(
            "SELECT pg_get_serial_sequence('legacy', 'pgh_id'),"
            " obj_description('legacy'::regclass, 'pg_class'),"
            " has_table_privilege('public', 'legacy', 'SELECT'),"
            " ARRAY(SELECT indexdef FROM pg_indexes WHERE tablename = 'legacy' ORDER BY 1),"
            " ARRAY(SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'legacy'::regclass AND contype = 'c')"
        )[0]

    before = shape()
    rebuild("legacy")
    sql("INSERT INTO legacy (pgh_label) VALUES ('c')")
    partitioned = shape()
    rebuild("legacy", None)
    sql("INSERT INTO legacy (pgh_label) VALUES ('d')")

    assert (
        partitioned[:3] == before[:3] == ("public.legacy_pgh_id_seq", "history from before", True)
    )
    assert partitioned[3] == [
        "CREATE INDEX legacy_label ON ONLY public.legacy USING btree (lower(pgh_label))"
        " WHERE (pgh_label ~~ 'a%'::text)",
        "CREATE INDEX legacy_time ON ONLY public.legacy USING btree (pgh_created_at, pgh_id)",
        "CREATE UNIQUE INDEX legacy_pkey ON ONLY public.legacy USING btree"
        " (pgh_id, pgh_created_at)",
    ]
    assert partitioned[4] == before[4] == ["CHECK ((pgh_label <> ''::text))"]
    assert shape() == before
    assert sql("SELECT pgh_id, pgh_label FROM legacy ORDER BY 1") == [
        (1, "a"),
        (2, "b"),
        (3, "c"),
        (4, "d"),
    ]


def test_a_table_that_foreign_keys_point_to_or_already_partitioned_is_refused():
    table = RowModel.pgh_event_model._meta.db_table
    sql(f'CREATE TABLE pointing (event_id integer REFERENCES "{table}" (pgh_id))')

    with pytest.raises(ValueError, match="cannot be rebuilt while foreign keys point to it"):
        rebuild(table)
    with pytest.raises(ValueError, match="is already partitioned"):
        rebuild(TABLE)
    with pytest.raises(ValueError, match="is not partitioned"):
        rebuild(table, None)


def test_the_operation_deconstructs_and_checks_its_arguments():
    operation = PartitionEventTable("OrderEvent", interval="week", ahead=2)

    assert operation.deconstruct() == (
        "PartitionEventTable",
        ["OrderEvent"],
        {"interval": "week", "ahead": 2},
    )
    assert PartitionEventTable("OrderEvent").deconstruct() == (
        "PartitionEventTable",
        ["OrderEvent"],
        {},
    )
    assert operation.describe() == "Partition the table of OrderEvent by week"
    with pytest.raises(ValueError, match='"fortnight" is not a partition interval'):
        PartitionEventTable("OrderEvent", interval="fortnight")
