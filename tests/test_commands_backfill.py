"""`manage.py pghistory_backfill`: one snapshot event of each row that has no history yet, in
batches, in one context per run, never twice and never beside real history."""

import io
import uuid

import pgtrigger
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pghistory.models import Context
from tests.testapp.models import (
    Author,
    Book,
    BookTag,
    CustomKey,
    DenormContext,
    Note,
    Place,
    Restaurant,
    RowModel,
    StatementModel,
    Tag,
)

pytestmark = pytest.mark.django_db


def untracked(model, *rows):
    """Rows written with every trigger off, as if they predate tracking."""
    with pgtrigger.ignore():
        return [model.objects.create(**values) for values in rows]


def backfill(*args) -> tuple[str, str]:
    """Run the command; (standard output, standard error)."""
    out, err = io.StringIO(), io.StringIO()
    call_command("pghistory_backfill", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def every_event(*event_models):
    return {
        model._meta.label: list(model.objects.order_by("pgh_id").values())
        for model in event_models
    }


def test_each_row_without_history_gets_one_snapshot_with_its_values():
    rows = untracked(RowModel, {"int_field": 1}, {"int_field": 2, "char_field": "s"})

    out, _ = backfill("testapp.RowModel")

    events = RowModel.pgh_event_model.objects.order_by("pgh_id")
    assert list(events.values_list("pgh_obj_id", "pgh_label", "int_field", "char_field")) == [
        (rows[0].pk, "snapshot", 1, ""),
        (rows[1].pk, "snapshot", 2, "s"),
    ]
    assert "testapp.RowModelEvent: 2 snapshot events written, 0 of 2 rows had history" in out


def test_the_snapshots_of_one_run_share_one_context_with_the_given_metadata():
    untracked(RowModel, {"int_field": 1})
    untracked(StatementModel, {"int_field": 2})

    out, _ = backfill(
        "testapp.RowModel",
        "testapp.StatementModel",
        "--label",
        "imported",
        "--context",
        '{"reason": "migration", "ticket": 42}',
    )

    context = Context.objects.get()
    assert context.metadata == {"reason": "migration", "ticket": 42}
    for model in (RowModel, StatementModel):
        assert list(model.pgh_event_model.objects.values_list("pgh_label", "pgh_context")) == [
            ("imported", context.pk)
        ]
    assert out.endswith(f"2 events written, in context {context.pk}.\n")


def test_the_default_context_says_it_was_a_backfill():
    untracked(RowModel, {"int_field": 1})

    backfill("testapp.RowModel")

    assert Context.objects.get().metadata == {"reason": "backfill"}


def test_running_it_again_adds_nothing():
    untracked(RowModel, {"int_field": 1}, {"int_field": 2})
    backfill("testapp.RowModel")
    before = every_event(RowModel.pgh_event_model)

    out, _ = backfill("testapp.RowModel")

    assert every_event(RowModel.pgh_event_model) == before
    assert Context.objects.count() == 1
    assert out.endswith("Nothing to backfill: every row has history already.\n")


def test_rows_with_history_get_no_snapshot_and_their_events_stay_as_they_were():
    tracked = RowModel.objects.create(int_field=1)
    RowModel.objects.filter(pk=tracked.pk).update(int_field=5)
    (new,) = untracked(RowModel, {"int_field": 2})
    before = every_event(RowModel.pgh_event_model)[RowModel.pgh_event_model._meta.label]

    out, _ = backfill("testapp.RowModel")

    events = RowModel.pgh_event_model.objects.order_by("pgh_id")
    assert list(events.values()[:2]) == before
    assert list(events.values_list("pgh_obj_id", "pgh_label", "int_field")) == [
        (tracked.pk, "insert", 1),
        (tracked.pk, "update", 5),
        (new.pk, "snapshot", 2),
    ]
    assert "1 snapshot event written, 1 of 2 rows had history already" in out


def test_batches_smaller_than_the_table_cover_every_row_in_key_order():
    rows = untracked(RowModel, *({"int_field": i} for i in range(7)))
    RowModel.objects.filter(pk=rows[3].pk).update(int_field=30)  # history of its own

    _, err = backfill("testapp.RowModel", "--batch-size", "3")

    events = RowModel.pgh_event_model.objects.filter(pgh_label="snapshot").order_by("pgh_id")
    assert list(events.values_list("pgh_obj_id", flat=True)) == [
        row.pk for i, row in enumerate(rows) if i != 3
    ]
    # Not a terminal: a plain line as each batch (3, 3 and 1 rows) passes another tenth.
    assert err == (
        "testapp.RowModelEvent 0% 0/7\n"
        "testapp.RowModelEvent 42% 3/7\n"
        "testapp.RowModelEvent 85% 6/7\n"
        "testapp.RowModelEvent 100% 7/7\n"
    )


def test_a_batch_size_of_exactly_the_table_ends_with_an_empty_batch():
    rows = untracked(RowModel, {"int_field": 1}, {"int_field": 2})

    backfill("testapp.RowModel", "--batch-size", "2")

    assert list(RowModel.pgh_event_model.objects.values_list("pgh_obj_id", flat=True)) == [
        row.pk for row in rows
    ]


def test_uuid_primary_keys_are_read_in_batches_too():
    rows = untracked(CustomKey, *({"id": uuid.UUID(int=i), "int_field": i} for i in (3, 1, 2)))

    backfill("testapp.CustomKey", "--batch-size", "1")

    events = CustomKey.pgh_event_model.objects.order_by("pgh_id")
    assert list(events.values_list("pgh_obj_id", "int_field")) == [
        (uuid.UUID(int=1), 1),
        (uuid.UUID(int=2), 2),
        (uuid.UUID(int=3), 3),
    ]
    assert len(rows) == 3


def test_every_event_model_of_a_tracked_model_gets_its_own_snapshot():
    (note,) = untracked(Note, {"title": "Plan", "body": "Draft", "pinned": True})

    backfill("testapp.Note")

    title_events, body_events = (
        Note.pgh_event_models["insert"],
        Note.pgh_event_models["body_update"],
    )
    assert list(title_events.objects.values_list("pgh_obj_id", "pgh_label", "title")) == [
        (note.pk, "snapshot", "Plan")
    ]
    assert list(body_events.objects.values_list("pgh_obj_id", "pgh_label", "body", "pinned")) == [
        (note.pk, "snapshot", "Draft", True)
    ]


def test_a_multi_table_child_snapshot_holds_its_parents_fields():
    (restaurant,) = untracked(
        Restaurant, {"name": "Luigi's", "address": "Via 1", "serves_pizza": True}
    )
    (place,) = untracked(Place, {"name": "Park"})

    backfill("testapp.Restaurant")

    events = Restaurant.pgh_event_model.objects.values_list(
        "pgh_obj_id", "pgh_label", "name", "address", "serves_pizza"
    )
    assert list(events) == [(restaurant.pk, "snapshot", "Luigi's", "Via 1", True)]
    assert not Place.pgh_event_model.objects.exists()

    backfill("testapp.Place")

    assert list(
        Place.pgh_event_model.objects.order_by("pgh_id").values_list("pgh_obj_id", "name")
    ) == [(restaurant.pk, "Luigi's"), (place.pk, "Park")]


def test_a_denormalised_context_is_copied_into_each_snapshot():
    (row,) = untracked(DenormContext, {"int_field": 7})

    backfill("testapp.DenormContext", "--context", '{"reason": "backfill", "by": "ops"}')

    event = DenormContext.pgh_event_model.objects.get()
    assert (event.pgh_obj_id, event.pgh_label, event.int_field) == (row.pk, "snapshot", 7)
    assert event.pgh_context == {"reason": "backfill", "by": "ops"}
    assert event.pgh_context_id is not None
    assert not Context.objects.exists()


def test_event_models_without_pgh_obj_are_skipped_with_the_reason():
    book = Book.objects.create(title="Dune", author=Author.objects.create(name="Frank"))
    with pgtrigger.ignore():
        book.tags.add(Tag.objects.create(name="sf"))

    out, err = backfill("testapp.BookTag")

    assert not BookTag.pgh_event_model.objects.exists()
    assert err == (
        "testapp.BookTagEvent: skipped, it has no pgh_obj field, so there is no telling which"
        " rows already have history.\n"
    )
    assert out == "Nothing to backfill: every row has history already.\n"


def test_without_model_names_every_tracked_model_is_backfilled():
    untracked(RowModel, {"int_field": 1})
    untracked(Place, {"name": "Park"})

    out, _ = backfill()

    assert RowModel.pgh_event_model.objects.get().pgh_label == "snapshot"
    assert Place.pgh_event_model.objects.get().pgh_label == "snapshot"
    assert out.endswith("2 events written, in context " + str(Context.objects.get().pk) + ".\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["testapp.Author"], '"testapp.Author" is neither a tracked model nor an event model.'),
        (["nothing"], '"nothing" is not a model (use app_label.ModelName).'),
        (["--context", "[1]"], "--context must be a JSON object"),
        (["--context", "{oops"], "--context is not JSON"),
        (["--label", " "], "--label cannot be empty."),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(args, message):
    untracked(RowModel, {"int_field": 1})

    with pytest.raises(CommandError) as refused:
        backfill(*args)

    assert str(refused.value).startswith(message)
    assert not RowModel.pgh_event_model.objects.exists()


def test_a_batch_size_below_one_is_refused():
    with pytest.raises(CommandError, match="--batch-size"):
        backfill("--batch-size", "0")
