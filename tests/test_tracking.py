"""Every way of writing to a tracked table stores the same events, at row and statement level.

`RowModel` and `StatementModel` have one field of each common type and are tracked by
`InsertEvent`, `UpdateEvent` and `DeleteEvent`; the first with row-level triggers, the second
with statement-level ones. Each test runs against both.
"""

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import F

from tests.testapp.models import RowModel, StatementModel

UTC = dt.UTC

#: A value of every field type, chosen so that a lossy copy would show.
FIRST_VALUES = {
    "int_field": -2147483648,
    "big_int_field": 9223372036854775807,
    "decimal_field": Decimal("-9876543210.12"),
    "float_field": 3.141592653589793,
    "bool_field": True,
    "char_field": "l",
    "text_field": "multi\nline 'quoted' \"text\" ünïcødé",
    "date_field": dt.date(2024, 2, 29),
    "datetime_field": dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
    "time_field": dt.time(12, 30, 15, 123456),
    "duration_field": dt.timedelta(days=400, hours=5, microseconds=7),
    "uuid_field": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "json_field": {"list": [1, 2.5, None, True], "nested": {"ü": "x"}},
    "binary_field": b"\x00\x01\xfe\xff",
    "file_field": "uploads/report.pdf",
}

#: A different value of every field type.
SECOND_VALUES = {
    "int_field": 2147483647,
    "big_int_field": -9223372036854775808,
    "decimal_field": Decimal("0.01"),
    "float_field": -0.5,
    "bool_field": False,
    "char_field": "s",
    "text_field": "",
    "date_field": dt.date(1999, 12, 31),
    "datetime_field": dt.datetime(1999, 12, 31, 0, 0, tzinfo=UTC),
    "time_field": dt.time(0, 0),
    "duration_field": dt.timedelta(seconds=-1),
    "uuid_field": uuid.UUID("87654321-4321-8765-4321-876543218765"),
    "json_field": ["a", {"b": []}],
    "binary_field": b"",
    "file_field": "",
}

#: What a row created without values holds.
EMPTY_VALUES = {
    "int_field": None,
    "big_int_field": None,
    "decimal_field": None,
    "float_field": None,
    "bool_field": False,
    "char_field": "",
    "text_field": "",
    "date_field": None,
    "datetime_field": None,
    "time_field": None,
    "duration_field": None,
    "uuid_field": None,
    "json_field": None,
    "binary_field": None,
    "file_field": "",
}

TRACKED_FIELDS = ["id", *FIRST_VALUES]

both_levels = pytest.mark.parametrize(
    "tracked_model", [RowModel, StatementModel], ids=["row-level", "statement-level"]
)


def plain(values):
    """Binary values come back as memoryview; compare them as bytes."""
    return {
        key: bytes(value) if isinstance(value, memoryview) else value
        for key, value in values.items()
    }


def event_rows(tracked_model):
    """The stored events of `tracked_model`, oldest first, as a user reads them."""
    events = tracked_model.pgh_event_model.objects.order_by("pgh_id")
    return [plain(row) for row in events.values("pgh_label", "pgh_obj_id", *TRACKED_FIELDS)]


def event(label, obj_id, values):
    return {"pgh_label": label, "pgh_obj_id": obj_id, "id": obj_id, **values}


def table(model):
    return connection.ops.quote_name(model._meta.db_table)


def raw_insert(model, *rows):
    """Insert `rows` (dicts of every field) with one hand-written `INSERT` statement."""
    columns = list(FIRST_VALUES)
    placeholders = ", ".join("%s::jsonb" if column == "json_field" else "%s" for column in columns)
    params = [
        json.dumps(row[column]) if column == "json_field" else row[column]
        for row in rows
        for column in columns
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table(model)} ({', '.join(columns)}) VALUES "
            + ", ".join(f"({placeholders})" for _ in rows)
            + " RETURNING id",
            params,
        )
        return [row[0] for row in cursor.fetchall()]


@both_levels
@pytest.mark.django_db
def test_create_stores_an_insert_event_with_every_field_value(tracked_model):
    obj = tracked_model.objects.create(**FIRST_VALUES)

    assert event_rows(tracked_model) == [event("insert", obj.pk, FIRST_VALUES)]


@both_levels
@pytest.mark.django_db
def test_create_without_values_stores_nulls_and_defaults(tracked_model):
    obj = tracked_model.objects.create()

    assert event_rows(tracked_model) == [event("insert", obj.pk, EMPTY_VALUES)]


@both_levels
@pytest.mark.django_db
def test_save_stores_an_update_event_with_the_new_values(tracked_model):
    obj = tracked_model.objects.create(**FIRST_VALUES)
    for name, value in SECOND_VALUES.items():
        setattr(obj, name, value)

    obj.save()

    assert event_rows(tracked_model) == [
        event("insert", obj.pk, FIRST_VALUES),
        event("update", obj.pk, SECOND_VALUES),
    ]


@both_levels
@pytest.mark.django_db
def test_save_of_one_changed_field_stores_the_whole_new_row(tracked_model):
    obj = tracked_model.objects.create(**FIRST_VALUES)

    obj.binary_field = b"changed"
    obj.save()

    assert event_rows(tracked_model)[1:] == [
        event("update", obj.pk, {**FIRST_VALUES, "binary_field": b"changed"})
    ]


@both_levels
@pytest.mark.django_db
def test_save_without_changes_stores_no_update_event(tracked_model):
    obj = tracked_model.objects.create(**FIRST_VALUES)

    obj.save()
    tracked_model.objects.get(pk=obj.pk).save()

    assert event_rows(tracked_model) == [event("insert", obj.pk, FIRST_VALUES)]


@both_levels
@pytest.mark.django_db
def test_delete_stores_a_delete_event_with_the_deleted_values(tracked_model):
    obj = tracked_model.objects.create(**FIRST_VALUES)
    obj_id = obj.pk

    obj.delete()

    assert event_rows(tracked_model) == [
        event("insert", obj_id, FIRST_VALUES),
        event("delete", obj_id, FIRST_VALUES),
    ]


@both_levels
@pytest.mark.django_db
def test_bulk_create_stores_an_insert_event_per_row(tracked_model):
    first, second, empty = tracked_model.objects.bulk_create(
        [tracked_model(**FIRST_VALUES), tracked_model(**SECOND_VALUES), tracked_model()]
    )

    assert event_rows(tracked_model) == [
        event("insert", first.pk, FIRST_VALUES),
        event("insert", second.pk, SECOND_VALUES),
        event("insert", empty.pk, EMPTY_VALUES),
    ]


@both_levels
@pytest.mark.django_db
def test_bulk_update_stores_an_update_event_per_changed_row(tracked_model):
    first, second, unchanged = tracked_model.objects.bulk_create(
        [tracked_model(**FIRST_VALUES), tracked_model(**FIRST_VALUES), tracked_model()]
    )
    first.text_field = "first changed"
    second.json_field = {"second": "changed"}

    tracked_model.objects.bulk_update(
        [first, second, unchanged], fields=["text_field", "json_field"]
    )

    assert event_rows(tracked_model)[3:] == [
        event("update", first.pk, {**FIRST_VALUES, "text_field": "first changed"}),
        event("update", second.pk, {**FIRST_VALUES, "json_field": {"second": "changed"}}),
    ]


@both_levels
@pytest.mark.django_db
def test_queryset_update_stores_an_update_event_per_changed_row(tracked_model):
    first = tracked_model.objects.create(**FIRST_VALUES)
    already_done = tracked_model.objects.create(**{**FIRST_VALUES, "text_field": "done"})
    tracked_model.objects.create(**SECOND_VALUES)

    updated = tracked_model.objects.filter(int_field=FIRST_VALUES["int_field"]).update(
        text_field="done", big_int_field=F("big_int_field") - 1
    )

    assert updated == 2
    assert event_rows(tracked_model)[3:] == [
        event(
            "update",
            first.pk,
            {**FIRST_VALUES, "text_field": "done", "big_int_field": 9223372036854775806},
        ),
        event(
            "update",
            already_done.pk,
            {**FIRST_VALUES, "text_field": "done", "big_int_field": 9223372036854775806},
        ),
    ]


@both_levels
@pytest.mark.django_db
def test_queryset_update_that_changes_nothing_stores_no_event(tracked_model):
    obj = tracked_model.objects.create(**FIRST_VALUES)

    tracked_model.objects.filter(pk=obj.pk).update(text_field=FIRST_VALUES["text_field"])

    assert event_rows(tracked_model) == [event("insert", obj.pk, FIRST_VALUES)]


# Under the default condition a statement-level trigger stores each new row without an equal
# old row of the same key, so it sees a changed key too (a condition of its own pairs the old
# and new rows by key, and does not).
@both_levels
@pytest.mark.django_db
def test_an_update_that_changes_the_primary_key_stores_an_update_event(tracked_model):
    obj = tracked_model.objects.create(**FIRST_VALUES)
    new_id = obj.pk + 1000

    tracked_model.objects.filter(pk=obj.pk).update(id=new_id)

    assert event_rows(tracked_model) == [
        event("insert", obj.pk, FIRST_VALUES),
        event("update", new_id, FIRST_VALUES),
    ]


@both_levels
@pytest.mark.django_db
def test_statements_that_match_no_rows_store_no_events(tracked_model):
    tracked_model.objects.filter(pk=-1).update(text_field="nothing")
    tracked_model.objects.filter(pk=-1).delete()
    tracked_model.objects.bulk_create([])

    assert event_rows(tracked_model) == []


@both_levels
@pytest.mark.django_db
def test_queryset_delete_stores_a_delete_event_per_row(tracked_model):
    first = tracked_model.objects.create(**FIRST_VALUES)
    second = tracked_model.objects.create(**SECOND_VALUES)
    kept = tracked_model.objects.create()

    tracked_model.objects.exclude(pk=kept.pk).delete()

    assert event_rows(tracked_model)[3:] == [
        event("delete", first.pk, FIRST_VALUES),
        event("delete", second.pk, SECOND_VALUES),
    ]


@both_levels
@pytest.mark.django_db
def test_raw_sql_insert_stores_an_insert_event_per_row(tracked_model):
    first_id, second_id = raw_insert(tracked_model, FIRST_VALUES, SECOND_VALUES)

    assert event_rows(tracked_model) == [
        event("insert", first_id, FIRST_VALUES),
        event("insert", second_id, SECOND_VALUES),
    ]


@both_levels
@pytest.mark.django_db
def test_raw_sql_update_stores_an_update_event_per_changed_row(tracked_model):
    first_id, second_id = raw_insert(tracked_model, FIRST_VALUES, SECOND_VALUES)

    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table(tracked_model)} SET bool_field = TRUE, date_field = date_field + 1"
        )

    assert event_rows(tracked_model)[2:] == [
        event("update", first_id, {**FIRST_VALUES, "date_field": dt.date(2024, 3, 1)}),
        event(
            "update",
            second_id,
            {**SECOND_VALUES, "bool_field": True, "date_field": dt.date(2000, 1, 1)},
        ),
    ]


@both_levels
@pytest.mark.django_db
def test_raw_sql_delete_stores_a_delete_event_per_row(tracked_model):
    first_id, second_id = raw_insert(tracked_model, FIRST_VALUES, SECOND_VALUES)

    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table(tracked_model)} WHERE id = %s", [second_id])

    assert event_rows(tracked_model)[2:] == [event("delete", second_id, SECOND_VALUES)]


def transaction_now():
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0]


@both_levels
@pytest.mark.django_db(transaction=True)
def test_events_are_stamped_with_their_transactions_timestamp(tracked_model):
    with transaction.atomic():
        obj = tracked_model.objects.create(**FIRST_VALUES)
        inserted_at = transaction_now()
    with transaction.atomic():
        obj.text_field = "changed"
        obj.save()
        tracked_model.objects.filter(pk=obj.pk).update(int_field=1)
        updated_at = transaction_now()

    events = tracked_model.pgh_event_model.objects.order_by("pgh_id")
    assert inserted_at < updated_at
    assert list(events.values_list("pgh_label", "pgh_created_at")) == [
        ("insert", inserted_at),
        ("update", updated_at),
        ("update", updated_at),
    ]


@both_levels
@pytest.mark.django_db
def test_events_written_outside_a_context_have_no_context(tracked_model):
    obj = tracked_model.objects.create(**FIRST_VALUES)
    obj.text_field = "changed"
    obj.save()
    obj.delete()

    events = tracked_model.pgh_event_model.objects.order_by("pgh_id")
    assert list(events.values_list("pgh_label", "pgh_context_id")) == [
        ("insert", None),
        ("update", None),
        ("delete", None),
    ]


def run_script(tracked_model):
    """One of each kind of write to `tracked_model`."""
    obj = tracked_model.objects.create(**FIRST_VALUES)
    obj.text_field = "saved"
    obj.save()
    obj.save()
    second, third = tracked_model.objects.bulk_create(
        [tracked_model(**SECOND_VALUES), tracked_model()]
    )
    second.int_field, third.int_field = 5, None
    tracked_model.objects.bulk_update([second, third], fields=["int_field"])
    tracked_model.objects.filter(pk__in=[obj.pk, second.pk]).update(
        float_field=F("float_field") * 2
    )
    (raw_id,) = raw_insert(tracked_model, SECOND_VALUES)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table(tracked_model)} SET uuid_field = NULL WHERE id IN (%s, %s)",
            [raw_id, obj.pk],
        )
        cursor.execute(f"DELETE FROM {table(tracked_model)} WHERE id = %s", [raw_id])
    tracked_model.objects.filter(pk=third.pk).delete()
    obj.delete()


@pytest.mark.django_db
def test_row_and_statement_level_store_the_same_events():
    run_script(RowModel)
    run_script(StatementModel)

    def without_ids(tracked_model):
        return [
            {key: value for key, value in row.items() if key not in ("id", "pgh_obj_id")}
            for row in event_rows(tracked_model)
        ]

    assert [row["pgh_label"] for row in without_ids(RowModel)] == [
        "insert",
        "update",
        "insert",
        "insert",
        "update",
        "update",
        "update",
        "insert",
        "update",
        "update",
        "delete",
        "delete",
        "delete",
    ]
    assert without_ids(StatementModel) == without_ids(RowModel)


@both_levels
@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_leaves_no_events(tracked_model):
    kept = tracked_model.objects.create(**FIRST_VALUES)
    kept_id = kept.pk

    with pytest.raises(RuntimeError), transaction.atomic():
        obj = tracked_model.objects.create(**SECOND_VALUES)
        obj.text_field = "changed"
        obj.save()
        kept.delete()
        raise RuntimeError("roll back")

    assert list(tracked_model.objects.values_list("pk", flat=True)) == [kept_id]
    assert event_rows(tracked_model) == [event("insert", kept_id, FIRST_VALUES)]


@both_levels
@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_savepoint_leaves_only_the_outer_transactions_events(tracked_model):
    with transaction.atomic():
        outer = tracked_model.objects.create(**FIRST_VALUES)
        with pytest.raises(RuntimeError), transaction.atomic():
            tracked_model.objects.create(**SECOND_VALUES)
            outer.text_field = "inner change"
            outer.save()
            raise RuntimeError("roll back the savepoint")
        outer.refresh_from_db()
        outer.int_field = 1
        outer.save()

    assert event_rows(tracked_model) == [
        event("insert", outer.pk, FIRST_VALUES),
        event("update", outer.pk, {**FIRST_VALUES, "int_field": 1}),
    ]
