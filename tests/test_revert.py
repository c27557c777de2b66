"""`Event.revert()` puts a tracked row back exactly as an event stored it."""

import decimal
import uuid

import pytest

from tests.test_tracking import FIRST_VALUES, SECOND_VALUES, TRACKED_FIELDS, plain
from tests.testapp.models import (
    Computed,
    ComputedEvent,
    CustomKey,
    CustomKeyEvent,
    Note,
    NoteEvent,
    NoteTitleEvent,
    Place,
    Restaurant,
    RestaurantEvent,
    RowModel,
    RowModelEvent,
    StatementModel,
    Timestamped,
)

both_levels = pytest.mark.parametrize(
    "tracked_model", [RowModel, StatementModel], ids=["row-level", "statement-level"]
)


def stored_values(model, pk, using="default"):
    return plain(model.objects.using(using).values(*TRACKED_FIELDS).get(pk=pk))


def first_event(model, label, using="default"):
    return model.pgh_event_model.objects.using(using).filter(pgh_label=label).earliest("pgh_id")


@both_levels
@pytest.mark.django_db
def test_reverting_an_old_event_restores_every_field_value(tracked_model):
    obj = tracked_model.objects.create(**FIRST_VALUES)
    for name, value in SECOND_VALUES.items():
        setattr(obj, name, value)
    obj.save()

    first_event(tracked_model, "insert").revert()

    assert stored_values(tracked_model, obj.pk) == {"id": obj.pk, **FIRST_VALUES}


@pytest.mark.django_db
def test_revert_returns_the_reverted_object():
    obj = RowModel.objects.create(**FIRST_VALUES)
    obj.text_field = "changed"
    obj.save()

    reverted = first_event(RowModel, "insert").revert()

    assert isinstance(reverted, RowModel)
    assert (reverted.pk, reverted.text_field, bytes(reverted.binary_field)) == (
        obj.pk,
        FIRST_VALUES["text_field"],
        FIRST_VALUES["binary_field"],
    )


@pytest.mark.django_db
def test_reverting_is_itself_tracked_as_an_update():
    obj = RowModel.objects.create(**FIRST_VALUES)
    obj.text_field = "changed"
    obj.save()

    first_event(RowModel, "insert").revert()

    events = RowModelEvent.objects.order_by("pgh_id").values_list("pgh_label", "text_field")
    assert list(events) == [
        ("insert", FIRST_VALUES["text_field"]),
        ("update", "changed"),
        ("update", FIRST_VALUES["text_field"]),
    ]


@both_levels
@pytest.mark.django_db
def test_reverting_a_delete_event_recreates_the_row_with_the_same_primary_key(tracked_model):
    obj = tracked_model.objects.create(**FIRST_VALUES)
    obj_id = obj.pk
    tracked_model.objects.create(**SECOND_VALUES)
    obj.delete()

    first_event(tracked_model, "delete").revert()

    assert stored_values(tracked_model, obj_id) == {"id": obj_id, **FIRST_VALUES}
    assert tracked_model.objects.count() == 2


@pytest.mark.django_db
def test_reverting_a_deleted_row_with_a_uuid_primary_key_recreates_it():
    key = uuid.UUID("00000000-0000-0000-0000-00000000beef")
    CustomKey.objects.create(id=key, int_field=1).delete()

    CustomKeyEvent.objects.get(pgh_label="delete").revert()

    assert list(CustomKey.objects.values_list("id", "int_field")) == [(key, 1)]


@pytest.mark.django_db
def test_reverting_keeps_the_stored_automatic_timestamps():
    obj = Timestamped.objects.create(body="first")
    original = Timestamped.objects.values("created_at", "updated_at", "body").get()
    obj.body = "second"
    obj.save()
    assert Timestamped.objects.get().updated_at > original["updated_at"]

    obj.events.get(pgh_label="insert").revert()

    assert Timestamped.objects.values("created_at", "updated_at", "body").get() == original


@pytest.mark.django_db
def test_reverting_a_child_model_restores_its_parents_fields_too():
    obj = Restaurant.objects.create(name="Luigi's", address="1 Main St", serves_pizza=False)
    obj.name, obj.address, obj.serves_pizza = "Mario's", "2 Side St", True
    obj.save()

    RestaurantEvent.objects.get(pgh_label="insert").revert()

    assert list(Restaurant.objects.values_list("pk", "name", "address", "serves_pizza")) == [
        (obj.pk, "Luigi's", "1 Main St", False)
    ]
    assert list(Place.objects.values_list("pk", "name", "address")) == [
        (obj.pk, "Luigi's", "1 Main St")
    ]


@pytest.mark.django_db
def test_reverting_a_deleted_child_model_recreates_the_parent_row_too():
    obj = Restaurant.objects.create(name="Luigi's", address="1 Main St", serves_pizza=True)
    obj_id = obj.pk
    obj.delete()
    assert not Place.objects.exists()

    RestaurantEvent.objects.get(pgh_label="delete").revert()

    assert list(Restaurant.objects.values_list("pk", "name", "address", "serves_pizza")) == [
        (obj_id, "Luigi's", "1 Main St", True)
    ]
    assert list(Place.objects.values_list("pk", "name")) == [(obj_id, "Luigi's")]


@pytest.mark.django_db
def test_reverting_recomputes_generated_columns():
    obj = Computed.objects.create(price=decimal.Decimal("2.50"), quantity=4)
    obj.quantity = 3
    obj.save()

    ComputedEvent.objects.get(pgh_label="insert").revert()

    assert list(Computed.objects.values_list("price", "quantity", "total", "status")) == [
        (decimal.Decimal("2.50"), 4, decimal.Decimal("10.00"), "new")
    ]


def test_an_event_model_that_tracks_every_field_can_revert():
    assert RowModelEvent().can_revert is True


@pytest.mark.parametrize("event_model", [NoteTitleEvent, NoteEvent])
@pytest.mark.django_db
def test_an_event_model_missing_some_fields_cannot_revert(event_model):
    note = Note.objects.create(title="draft", body="text")
    note.title, note.body = "final", "more text"
    note.save()
    event = event_model.objects.earliest("pgh_id")

    assert event.can_revert is False
    with pytest.raises(RuntimeError, match="every field"):
        event.revert()
    assert list(Note.objects.values_list("title", "body")) == [("final", "more text")]


@pytest.mark.django_db(databases=["default", "other"])
def test_revert_writes_to_the_given_database():
    obj = RowModel.objects.using("other").create(**FIRST_VALUES)
    obj.text_field = "changed"
    obj.save(using="other")

    reverted = first_event(RowModel, "insert", using="other").revert(using="other")

    assert reverted._state.db == "other"
    assert stored_values(RowModel, obj.pk, using="other") == {"id": obj.pk, **FIRST_VALUES}
    assert not RowModel.objects.using("default").exists()
    assert not RowModelEvent.objects.using("default").exists()
