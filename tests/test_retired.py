"""The catalog of retired history (`pghistory.retired`) on a real table: retiring a column and
taking it back, retiring a table and taking it back, and which type changes keep values."""

import json

import pytest
from django.db import connection, models

from pghistory import retired

pytestmark = pytest.mark.django_db


@pytest.fixture
def table():
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE scratch_events (pgh_id serial PRIMARY KEY, pgh_label text NOT NULL,"
            " owner_id integer NOT NULL DEFAULT 1, note varchar(20))"
        )
        cursor.execute("CREATE INDEX scratch_owner ON scratch_events (owner_id)")
        cursor.execute("INSERT INTO scratch_events (pgh_label, owner_id) VALUES ('insert', 7)")
    yield "scratch_events"
    retired.forget()


def column_shape(table: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname, a.attnotnull, pg_get_expr(d.adbin, d.adrelid),"
            " col_description(a.attrelid, a.attnum) FROM pg_attribute a LEFT JOIN pg_attrdef d"
            " ON d.adrelid = a.attrelid AND d.adnum = a.attnum WHERE a.attrelid = %s::regclass"
            " AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            [table],
        )
        return {name: (not_null, default, comment) for name, not_null, default, comment in cursor}


def indexes(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [table])
        return {name for (name,) in cursor.fetchall()}


def test_a_retired_column_keeps_its_values_and_takes_its_name_back(table):
    described = retired.StoredColumn(
        key="owner_id", column="owner_id", name="owner", verbose_name="owner", reason="removed"
    )
    with connection.schema_editor() as editor:
        stored = retired.retire_column(editor, table, described)

    shape = column_shape(table)
    assert list(shape) == ["pgh_id", "pgh_label", "pgh_retired_owner_id", "note", "pgh_generation"]
    not_null, default, comment = shape["pgh_retired_owner_id"]
    assert (not_null, default) == (False, None)
    assert json.loads(comment) == {
        "pghistory": "retired",
        "key": "owner_id",
        "name": "owner",
        "verbose_name": "owner",
        "reason": "removed",
        "until": 1,
        "retired_at": stored.retired_at,
    }
    assert shape["pgh_generation"][:2] == (True, "1")
    assert indexes(table) == {"scratch_events_pkey"}
    assert retired.history(table).retired == (stored,)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pgh_generation, pgh_retired_owner_id FROM {table}")
        assert cursor.fetchall() == [(0, 7)]
        cursor.execute(f"INSERT INTO {table} (pgh_label) VALUES ('update')")
        cursor.execute(f"SELECT pgh_generation, pgh_retired_owner_id FROM {table} ORDER BY 1")
        assert cursor.fetchall() == [(0, 7), (1, None)]

    with connection.schema_editor() as editor:
        retired.unretire_column(editor, table, "owner_id")

    shape = column_shape(table)
    assert "owner_id" in shape and "pgh_retired_owner_id" not in shape
    assert shape["owner_id"][2] is None  # (recorded by every event again: no marks)
    assert retired.history(table).retired == ()


def test_a_second_retirement_of_a_name_gets_a_name_of_its_own(table):
    described = retired.StoredColumn(key="note", column="note", name="note", reason="removed")
    with connection.schema_editor() as editor:
        retired.retire_column(editor, table, described)
        editor.execute(f"ALTER TABLE {table} ADD COLUMN note text")
        again = retired.retire_column(editor, table, described)

    assert again.column == "pgh_retired_note_2"
    assert [(column.column, column.until) for column in retired.history(table).retired] == [
        ("pgh_retired_note", 1),
        ("pgh_retired_note_2", 2),
    ]


@pytest.mark.parametrize(
    ("old", "new", "kept"),
    [
        (models.IntegerField(), models.BigIntegerField(), True),
        (models.BigIntegerField(), models.IntegerField(), False),
        (models.CharField(max_length=10), models.CharField(max_length=20), True),
        (models.CharField(max_length=20), models.CharField(max_length=10), False),
        (models.CharField(max_length=10), models.TextField(), True),
        (models.TextField(), models.CharField(max_length=10), False),
        (models.CharField(max_length=10), models.IntegerField(), False),
        (
            models.DecimalField(max_digits=6, decimal_places=2),
            models.DecimalField(max_digits=8, decimal_places=3),
            True,
        ),
        (
            models.DecimalField(max_digits=6, decimal_places=2),
            models.DecimalField(max_digits=6, decimal_places=3),
            False,
        ),
        (models.DateTimeField(), models.DateField(), False),
    ],
)
def test_which_type_changes_keep_every_value(old, new, kept):
    assert retired.keeps_values(old, new, connection) is kept
