"""`pghistory.models.Events`: every event table read as one model, with data, diffs and context.

The `history` fixture scripts a few changes across the test app's models and gives each event
a known creation time, so that rows can be compared whole.
"""

import datetime as dt
import re
import types
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import connection, models
from django.db.models import OuterRef, Q, Subquery, TextField, Value
from django.db.models.functions import Cast

import pghistory
from pghistory.models import Events, MiddlewareEvents
from tests.testapp.models import (
    Account,
    AccountEvent,
    Author,
    Book,
    BookEvent,
    BookTag,
    BookTagEvent,
    CustomKey,
    DenormContext,
    LoudBook,
    Note,
    RowModel,
    RowModelEvent,
    Tag,
)

T0 = dt.datetime(2024, 1, 1, 9, 0, tzinfo=dt.UTC)

#: `pgh_data` of a `RowModel` created with `int_field=1` and nothing else.
ROW_DATA = {
    "int_field": 1,
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


def _at(minutes):
    return T0 + dt.timedelta(minutes=minutes)


def _newest(event_model):
    return event_model.objects.latest("pgh_id")


def _stamp(events):
    """Give the events, in order, creation times one minute apart from T0."""
    for minutes, event in enumerate(events):
        type(event).objects.filter(pgh_id=event.pgh_id).update(pgh_created_at=_at(minutes))


def _slug(event):
    return f"{event._meta.label}:{event.pgh_id}"


def _slugs(queryset):
    return list(queryset.order_by("pgh_created_at").values_list("pgh_slug", flat=True))


@pytest.fixture
def history(db):
    """Books, a tag, an account and a row, changed with and without a context.

    The writes without a context come first: inside the test's transaction, a context's
    settings outlast its block.
    """
    ann = Author.objects.create(name="Ann")
    bob = Author.objects.create(name="Bob")
    tag = Tag.objects.create(name="scifi")
    book = Book.objects.create(title="Dune", author=ann)
    book_inserted = _newest(BookEvent)
    row = RowModel.objects.create(int_field=1)
    row_inserted = _newest(RowModelEvent)
    with pghistory.context(source="editor") as editing:
        context_id = editing.id
        book.title = "Dune Messiah"
        book.author = bob
        book.save()
        book_updated = _newest(BookEvent)
        book.tags.add(tag)
        tag_added = _newest(BookTagEvent)
        account = Account.objects.create(owner="Ann", balance=5000)
        account_opened = _newest(AccountEvent)
        account_audited = pghistory.create_event(account, label="audit")
        row_id = row.pk
        row.delete()
        row_deleted = _newest(RowModelEvent)

    events = [
        book_inserted,
        row_inserted,
        book_updated,
        tag_added,
        account_opened,
        account_audited,
        row_deleted,
    ]
    _stamp(events)
    return types.SimpleNamespace(
        ann=ann,
        bob=bob,
        tag=tag,
        book=book,
        account=account,
        row_id=row_id,
        context_id=context_id,
        slugs=[_slug(event) for event in events],
        events=events,
    )


# The aggregate's rows


def test_events_hold_every_event_with_all_its_fields(history):
    book, account, row_id = history.book, history.account, history.row_id
    through = BookTag.objects.get()
    editor = {"pgh_context_id": history.context_id, "pgh_context": {"source": "editor"}}
    no_context = {"pgh_context_id": None, "pgh_context": None}
    book_data = {"id": book.pk, "title": "Dune", "author_id": history.ann.pk, "cover_id": None}
    moved_book_data = {**book_data, "title": "Dune Messiah", "author_id": history.bob.pk}
    account_data = {"id": account.pk, "owner": "Ann", "balance": 5000}
    ids = [event.pgh_id for event in history.events]

    assert list(Events.objects.order_by("pgh_created_at").values()) == [
        {
            "pgh_slug": f"testapp.BookEvent:{ids[0]}",
            "pgh_model": "testapp.BookEvent",
            "pgh_id": ids[0],
            "pgh_created_at": _at(0),
            "pgh_label": "insert",
            "pgh_data": book_data,
            "pgh_diff": None,
            **no_context,
            "pgh_obj_model": "testapp.Book",
            "pgh_obj_id": str(book.pk),
        },
        {
            "pgh_slug": f"testapp.RowModelEvent:{ids[1]}",
            "pgh_model": "testapp.RowModelEvent",
            "pgh_id": ids[1],
            "pgh_created_at": _at(1),
            "pgh_label": "insert",
            "pgh_data": {"id": row_id, **ROW_DATA},
            "pgh_diff": None,
            **no_context,
            "pgh_obj_model": "testapp.RowModel",
            "pgh_obj_id": str(row_id),
        },
        {
            "pgh_slug": f"testapp.BookEvent:{ids[2]}",
            "pgh_model": "testapp.BookEvent",
            "pgh_id": ids[2],
            "pgh_created_at": _at(2),
            "pgh_label": "update",
            "pgh_data": moved_book_data,
            "pgh_diff": {
                "title": ["Dune", "Dune Messiah"],
                "author_id": [history.ann.pk, history.bob.pk],
            },
            **editor,
            "pgh_obj_model": "testapp.Book",
            "pgh_obj_id": str(book.pk),
        },
        {
            "pgh_slug": f"testapp.BookTagEvent:{ids[3]}",
            "pgh_model": "testapp.BookTagEvent",
            "pgh_id": ids[3],
            "pgh_created_at": _at(3),
            "pgh_label": "tag.add",
            "pgh_data": {"id": through.pk, "book_id": book.pk, "tag_id": history.tag.pk},
            "pgh_diff": None,
            **editor,
            "pgh_obj_model": "testapp.BookTag",
            "pgh_obj_id": None,
        },
        {
            "pgh_slug": f"testapp.AccountEvent:{ids[4]}",
            "pgh_model": "testapp.AccountEvent",
            "pgh_id": ids[4],
            "pgh_created_at": _at(4),
            "pgh_label": "big_opening",
            "pgh_data": account_data,
            "pgh_diff": None,
            **editor,
            "pgh_obj_model": "testapp.Account",
            "pgh_obj_id": str(account.pk),
        },
        {
            "pgh_slug": f"testapp.AccountEvent:{ids[5]}",
            "pgh_model": "testapp.AccountEvent",
            "pgh_id": ids[5],
            "pgh_created_at": _at(5),
            "pgh_label": "audit",
            "pgh_data": account_data,
            "pgh_diff": None,
            **editor,
            "pgh_obj_model": "testapp.Account",
            "pgh_obj_id": str(account.pk),
        },
        {
            "pgh_slug": f"testapp.RowModelEvent:{ids[6]}",
            "pgh_model": "testapp.RowModelEvent",
            "pgh_id": ids[6],
            "pgh_created_at": _at(6),
            "pgh_label": "delete",
            "pgh_data": {"id": row_id, **ROW_DATA},
            "pgh_diff": None,
            **editor,
            "pgh_obj_model": "testapp.RowModel",
            "pgh_obj_id": str(row_id),
        },
    ]


def test_events_are_model_instances_keyed_by_slug(history):
    event = Events.objects.get(pk=history.slugs[2])

    assert (event.pgh_model, event.pgh_label, event.pgh_obj_id) == (
        "testapp.BookEvent",
        "update",
        str(history.book.pk),
    )


def test_events_count_every_event(history):
    assert Events.objects.count() == 7


def test_events_are_empty_without_history(db):
    assert list(Events.objects.all()) == []


def test_default_manager_is_the_always_empty_no_objects(history):
    assert Events._default_manager is Events.no_objects
    assert list(Events.no_objects.all()) == []


# Narrowing to objects and event models


def test_tracks_gives_the_events_of_the_object(history):
    assert _slugs(Events.objects.tracks(history.book)) == [history.slugs[0], history.slugs[2]]


def test_tracks_gives_the_events_of_several_objects(history):
    other = Book.objects.create(title="Emma", author=history.ann)

    assert _slugs(Events.objects.tracks(history.book, other)) == [
        history.slugs[0],
        history.slugs[2],
        _slug(_newest(BookEvent)),
    ]


def test_tracks_accepts_a_queryset_of_objects(history):
    other = Book.objects.create(title="Emma", author=history.ann)

    assert _slugs(
        Events.objects.tracks(Book.objects.filter(pk__in=[history.book.pk, other.pk]))
    ) == [
        history.slugs[0],
        history.slugs[2],
        _slug(_newest(BookEvent)),
    ]


def test_tracks_accepts_a_list_of_objects(history):
    assert _slugs(Events.objects.tracks([history.book])) == [history.slugs[0], history.slugs[2]]


def test_tracks_of_an_empty_queryset_gives_no_events(history):
    assert _slugs(Events.objects.tracks(Book.objects.none())) == []


def test_references_accepts_a_queryset_of_objects(history):
    assert _slugs(Events.objects.references(Author.objects.filter(pk=history.bob.pk))) == [
        history.slugs[2]
    ]


def test_tracks_accepts_a_proxy_of_the_tracked_model(history):
    loud_book = LoudBook.objects.get(pk=history.book.pk)

    assert _slugs(Events.objects.tracks(loud_book)) == [history.slugs[0], history.slugs[2]]


def test_tracks_of_an_untracked_object_gives_no_events(history):
    assert _slugs(Events.objects.tracks(history.ann)) == []


def test_references_gives_events_with_a_foreign_key_to_the_object(history):
    assert _slugs(Events.objects.references(history.ann)) == [history.slugs[0]]
    assert _slugs(Events.objects.references(history.bob)) == [history.slugs[2]]


def test_references_gives_the_objects_own_events_and_other_models_pointing_to_it(history):
    assert _slugs(Events.objects.references(history.book)) == [
        history.slugs[0],
        history.slugs[2],
        history.slugs[3],
    ]


def test_references_gives_events_of_several_objects(history):
    assert _slugs(Events.objects.references(history.ann, history.bob)) == [
        history.slugs[0],
        history.slugs[2],
    ]


@pytest.mark.parametrize("model", ["testapp.BookEvent", BookEvent], ids=["label", "class"])
def test_across_gives_the_events_of_an_event_model(history, model):
    assert _slugs(Events.objects.across(model)) == [history.slugs[0], history.slugs[2]]


def test_across_gives_the_events_of_several_event_models(history):
    assert _slugs(Events.objects.across(BookEvent, "testapp.AccountEvent")) == [
        history.slugs[0],
        history.slugs[2],
        history.slugs[4],
        history.slugs[5],
    ]


def test_across_combines_with_tracks(history):
    assert _slugs(Events.objects.across(AccountEvent).tracks(history.book)) == []
    assert _slugs(Events.objects.across(BookEvent).tracks(history.book)) == [
        history.slugs[0],
        history.slugs[2],
    ]


@pytest.mark.parametrize("model", [Author, "testapp.Author", Book, "testapp.Book"], ids=repr)
def test_across_rejects_a_model_that_is_not_an_event_model(model):
    with pytest.raises(ValueError, match="is not an event model"):
        Events.objects.across(model)


def test_tracks_rejects_objects_of_two_models(history):
    with pytest.raises(
        ValueError, match=r"^The objects passed to tracks\(\) are not of the same type\.$"
    ):
        Events.objects.tracks(history.book, history.ann)


def test_references_rejects_objects_of_two_models(history):
    with pytest.raises(
        ValueError, match=r"^The objects passed to references\(\) are not of the same type\.$"
    ):
        Events.objects.references([history.book, history.ann])


def test_tracks_then_references_is_rejected(history):
    with pytest.raises(ValueError, match=r"^Cannot use both tracks\(\) and references\(\)\.$"):
        Events.objects.tracks(history.book).references(history.ann)


def test_references_then_tracks_is_rejected(history):
    with pytest.raises(ValueError, match=r"^Cannot use both tracks\(\) and references\(\)\.$"):
        Events.objects.references(history.ann).tracks(history.book)


# Filters


def test_filter_by_event_model(history):
    assert _slugs(Events.objects.filter(pgh_model="testapp.RowModelEvent")) == [
        history.slugs[1],
        history.slugs[6],
    ]


def test_filter_by_label(history):
    assert _slugs(Events.objects.filter(pgh_label="insert")) == [
        history.slugs[0],
        history.slugs[1],
    ]


def test_filter_by_creation_time_range(history):
    between = Events.objects.filter(pgh_created_at__gte=_at(2), pgh_created_at__lt=_at(4))

    assert _slugs(between) == [history.slugs[2], history.slugs[3]]


def test_filter_by_context_id(history):
    assert _slugs(Events.objects.filter(pgh_context_id=history.context_id)) == history.slugs[2:]


def test_filter_by_a_context_key(history):
    assert _slugs(Events.objects.filter(pgh_context__source="editor")) == history.slugs[2:]


def test_filter_by_a_missing_context_key(history):
    assert _slugs(Events.objects.filter(pgh_context__source__isnull=True)) == history.slugs[:2]


def test_filter_by_tracked_object(history):
    by_object = Events.objects.filter(
        pgh_obj_model="testapp.Book", pgh_obj_id=str(history.book.pk)
    )

    assert _slugs(by_object) == [history.slugs[0], history.slugs[2]]


def test_filter_by_an_object_id_no_event_table_can_hold_gives_no_events(history):
    assert _slugs(Events.objects.filter(pgh_obj_id="not-a-number")) == []


def test_filter_by_a_uuid_object_id(db):
    first = CustomKey.objects.create(int_field=1)
    CustomKey.objects.create(int_field=2)

    assert list(
        Events.objects.filter(pgh_obj_id=str(first.pk)).values_list("pgh_obj_model", "pgh_data")
    ) == [("testapp.CustomKey", {"id": str(first.pk), "integer_column": 1})]


def test_filter_by_either_of_two_conditions(history):
    either = Events.objects.filter(Q(pgh_model="testapp.BookEvent") | Q(pgh_label="audit"))

    assert _slugs(either) == [history.slugs[0], history.slugs[2], history.slugs[5]]


def test_exclude_an_event_model(history):
    assert _slugs(Events.objects.exclude(pgh_model="testapp.BookEvent")) == [
        history.slugs[1],
        *history.slugs[3:],
    ]


def test_filter_by_several_event_models(history):
    several = Events.objects.filter(pgh_model__in=["testapp.BookTagEvent", "testapp.AccountEvent"])

    assert _slugs(several) == history.slugs[3:6]


def test_filter_by_data(history):
    assert _slugs(Events.objects.filter(pgh_data__title="Dune Messiah")) == [history.slugs[2]]


def test_latest_event_of_each_object_through_a_subquery(history):
    latest = (
        Events.objects.filter(
            pgh_obj_model="testapp.Book", pgh_obj_id=Cast(OuterRef("pk"), TextField())
        )
        .order_by("-pgh_id")
        .values("pgh_label")[:1]
    )

    assert list(
        Book.objects.annotate(last_event=Subquery(latest)).values_list("title", "last_event")
    ) == [("Dune Messiah", "update")]


# Diffs


@pytest.mark.parametrize(
    ("field", "old", "new", "diff"),
    [
        ("int_field", 1, 2, [1, 2]),
        ("int_field", None, 2, [None, 2]),
        ("big_int_field", 9223372036854775807, -1, [9223372036854775807, -1]),
        ("decimal_field", Decimal("1.50"), Decimal("-2.25"), [1.5, -2.25]),
        ("float_field", 0.5, -1.25, [0.5, -1.25]),
        ("bool_field", False, True, [False, True]),
        ("char_field", "s", "l", ["s", "l"]),
        ("text_field", "one", 'it\'s "two"', ["one", 'it\'s "two"']),
        ("date_field", dt.date(2024, 1, 1), dt.date(2024, 1, 2), ["2024-01-01", "2024-01-02"]),
        (
            "datetime_field",
            dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.UTC),
            dt.datetime(2024, 1, 1, 13, 30, 0, 250000, tzinfo=dt.UTC),
            ["2024-01-01T12:00:00+00:00", "2024-01-01T13:30:00.25+00:00"],
        ),
        ("time_field", dt.time(9, 0), dt.time(17, 30, 0, 5), ["09:00:00", "17:30:00.000005"]),
        (
            "duration_field",
            dt.timedelta(days=1, hours=2),
            dt.timedelta(minutes=90),
            ["1 day 02:00:00", "01:30:00"],
        ),
        (
            "uuid_field",
            uuid.UUID("00000000-0000-0000-0000-000000000001"),
            uuid.UUID("00000000-0000-0000-0000-000000000002"),
            ["00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"],
        ),
        (
            "json_field",
            {"tags": ["a"], "nested": {"n": 1}},
            {"tags": ["a", "b"], "nested": {"n": None}},
            [{"tags": ["a"], "nested": {"n": 1}}, {"tags": ["a", "b"], "nested": {"n": None}}],
        ),
        ("binary_field", b"\x00\xff", b"\xca\xfe", ["\\x00ff", "\\xcafe"]),
        ("file_field", "a.txt", "b/c.txt", ["a.txt", "b/c.txt"]),
    ],
    ids=[
        "int",
        "int-from-null",
        "big-int",
        "decimal",
        "float",
        "bool",
        "char",
        "text",
        "date",
        "datetime",
        "time",
        "duration",
        "uuid",
        "json",
        "binary",
        "file",
    ],
)
def test_diff_of_each_field_type(db, field, old, new, diff):
    row = RowModel.objects.create(**{field: old})
    RowModel.objects.filter(pk=row.pk).update(**{field: new})

    assert list(Events.objects.tracks(row).order_by("pgh_id").values_list("pgh_diff")) == [
        (None,),
        ({field: diff},),
    ]


def test_values_equal_in_sql_but_written_differently_are_a_change(db):
    # An interval of 1 day equals one of 24 hours in SQL, but they read differently: the diff
    # shows what was stored.
    row = RowModel.objects.create(duration_field=dt.timedelta(days=1), int_field=1)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {RowModel._meta.db_table}"
            " SET duration_field = interval '24 hours', int_field = 2 WHERE id = %s",
            [row.pk],
        )

    assert list(Events.objects.tracks(row).order_by("pgh_id").values_list("pgh_diff")) == [
        (None,),
        ({"duration_field": ["1 day", "24:00:00"], "int_field": [1, 2]},),
    ]


def test_first_event_of_an_object_has_no_diff(db):
    row = RowModel.objects.create(int_field=1)

    assert Events.objects.tracks(row).get().pgh_diff is None


def test_event_that_changes_nothing_has_no_diff(db):
    row = RowModel.objects.create(int_field=1)
    row_id = row.pk
    row.delete()

    assert list(
        Events.objects.filter(pgh_obj_id=str(row_id)).order_by("pgh_id").values_list("pgh_diff")
    ) == [(None,), (None,)]


@pytest.mark.django_db(transaction=True)  # (two transactions: the events are not siblings)
def test_an_sql_null_and_a_json_null_read_the_same_and_make_no_diff():
    row = RowModel.objects.create(json_field=None, int_field=1)  # SQL NULL
    RowModel.objects.filter(pk=row.pk).update(json_field=Value(None, models.JSONField()))

    events = Events.objects.tracks(row).order_by("pgh_id")
    assert [event.pgh_data["json_field"] for event in events] == [None, None]
    assert [event.pgh_diff for event in events] == [None, None]


def test_diff_compares_with_the_previous_event_of_the_same_object(db):
    first = RowModel.objects.create(int_field=1)
    second = RowModel.objects.create(int_field=10)
    RowModel.objects.filter(pk=first.pk).update(int_field=2)
    RowModel.objects.filter(pk=second.pk).update(int_field=20)
    RowModel.objects.filter(pk=first.pk).update(int_field=3)

    assert list(Events.objects.order_by("pgh_id").values_list("pgh_obj_id", "pgh_diff")) == [
        (str(first.pk), None),
        (str(second.pk), None),
        (str(first.pk), {"int_field": [1, 2]}),
        (str(second.pk), {"int_field": [10, 20]}),
        (str(first.pk), {"int_field": [2, 3]}),
    ]


def test_diff_compares_within_one_event_table(db):
    note = Note.objects.create(title="Draft", body="a")
    Note.objects.filter(pk=note.pk).update(title="Final")
    Note.objects.filter(pk=note.pk).update(body="b")

    assert list(
        Events.objects.order_by("pgh_model", "pgh_id").values_list(
            "pgh_model", "pgh_label", "pgh_diff"
        )
    ) == [
        ("testapp.NoteEvent", "body_update", None),
        ("testapp.NoteTitleEvent", "insert", None),
        ("testapp.NoteTitleEvent", "update", {"title": ["Draft", "Final"]}),
    ]


def test_object_id_filter_out_of_the_columns_range_matches_nothing(db):
    RowModel.objects.create(int_field=1)

    assert list(Events.objects.filter(pgh_obj_id="99999999999999999999")) == []
    assert list(Events.objects.filter(pgh_obj_id="not a number")) == []


def test_events_of_one_change_by_several_trackers_each_show_the_change(db):
    account = Account.objects.create(owner="ann", balance=150)
    Account.objects.filter(pk=account.pk).update(balance=50)
    Account.objects.filter(pk=account.pk).update(owner="bo")

    events = Events.objects.tracks(account).order_by("pgh_id")
    # balance_changed stores the old row: nothing differs from the opening balance yet.
    assert list(events.values_list("pgh_label", "pgh_diff")) == [
        ("balance_changed", None),
        ("every_update", {"balance": [150, 50]}),
        ("fell_below_100", {"balance": [150, 50]}),
        ("owner_kept", {"balance": [150, 50]}),
        ("every_update", {"owner": ["ann", "bo"]}),
    ]


# Context


def test_denormalized_context_is_read_from_the_event_row(db):
    with pghistory.context(source="import") as importing:
        context_id = importing.id
        DenormContext.objects.create(int_field=1)

    assert list(Events.objects.values_list("pgh_model", "pgh_context_id", "pgh_context")) == [
        ("testapp.DenormContextEvent", context_id, {"source": "import"})
    ]


@pytest.fixture
def requests_history(db):
    """Books written by two users' requests, as `HistoryMiddleware` records them."""
    ann = User.objects.create(username="ann")
    bob = User.objects.create(username="bob")
    author = Author.objects.create(name="Ann")
    with pghistory.context(user=ann.pk, url="/books/"):
        dune = Book.objects.create(title="Dune", author=author)
    with pghistory.context(user=bob.pk, url="/books/1/"):
        Book.objects.filter(pk=dune.pk).update(title="Dune Messiah")
    return types.SimpleNamespace(ann=ann, bob=bob, dune=dune)


def test_middleware_events_filter_by_user(requests_history):
    by_ann = MiddlewareEvents.objects.filter(user=requests_history.ann)

    assert list(by_ann.values_list("pgh_label", "pgh_data__title")) == [("insert", "Dune")]


def test_middleware_events_give_the_username_and_url(requests_history):
    assert list(
        MiddlewareEvents.objects.across(BookEvent)
        .order_by("pgh_id")
        .values("user__username", "url")
    ) == [
        {"user__username": "ann", "url": "/books/"},
        {"user__username": "bob", "url": "/books/1/"},
    ]


def test_a_page_of_middleware_events_is_chosen_by_the_contexts_user_and_url(requests_history):
    # A sliced, ordered query chooses its rows in each table first: by the context's values
    # when the filter or the order reads them.
    page = MiddlewareEvents.objects.across(BookEvent).order_by("-url")[:1]
    by_bob = MiddlewareEvents.objects.filter(user=requests_history.bob).order_by("-pgh_id")[:5]

    assert [(event.pgh_label, event.url) for event in page] == [("update", "/books/1/")]
    assert [(event.pgh_label, event.url) for event in by_bob] == [("update", "/books/1/")]


def test_middleware_events_without_context_have_no_user_or_url(db):
    Book.objects.create(title="Dune", author=Author.objects.create(name="Ann"))

    assert list(MiddlewareEvents.objects.values("user", "url")) == [{"user": None, "url": None}]


# Query plans


@pytest.fixture
def many_book_events(db):
    """20,000 `BookEvent` rows (an insert and an update for each of 10,000 books), analyzed."""
    author = Author.objects.create(name="Ann")
    Book.objects.bulk_create([Book(title=f"Book {n}", author=author) for n in range(10_000)])
    Book.objects.update(title="Renamed")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE testapp_bookevent")
    return Book.objects.order_by("pk")[5_000]


def _plan(queryset):
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(line for (line,) in cursor.fetchall())


@pytest.mark.parametrize(
    "narrow",
    [
        lambda book: Events.objects.tracks(book).order_by("-pgh_id")[:50],
        lambda book: Events.objects.filter(pgh_obj_model="testapp.Book", pgh_obj_id=str(book.pk)),
    ],
    ids=["tracks", "filter"],
)
def test_one_objects_events_are_read_through_an_index(many_book_events, narrow):
    plan = _plan(narrow(many_book_events))

    scanned = re.findall(
        r"(Index Scan|Index Only Scan|Seq Scan|Bitmap Heap Scan)(?: Backward)? (?:using \S+ )?on (\w+)",
        plan,
    )
    event_tables = {table for _, table in scanned if table != "pghistory_context"}
    assert event_tables == {"testapp_bookevent"}
    assert "Seq Scan" not in {kind for kind, _ in scanned}


def test_a_page_of_newest_events_reads_each_table_through_its_time_index(many_book_events):
    plan = _plan(Events.objects.order_by("-pgh_created_at", "-pgh_model", "-pgh_id")[:51])

    # Django names the (pgh_created_at, pgh_id) index <table[:11]>_pgh_cre_<hash>_idx.
    assert re.search(
        r"Index (?:Only )?Scan Backward using testapp_boo_pgh_cre_\w+ on testapp_bookevent", plan
    )
    assert "Seq Scan on testapp_bookevent" not in plan
