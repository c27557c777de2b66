"""The event models that tracking generates: their fields, names, relations and registration,
the settings that shape them, and the events of models with relations, inheritance, proxies,
generated columns and append-only history."""

import decimal
import json

import pgtrigger
import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.db import DatabaseError, connection, models, transaction
from django.test import override_settings
from django.test.utils import isolate_apps

import pghistory
from pghistory.aggregation import data_sources, stored_row_sql
from pghistory.models import Context
from pghistory.retired import TableHistory
from tests.testapp import models as testapp_models
from tests.testapp.models import (
    Account,
    AccountEvent,
    Author,
    Bar,
    Book,
    BookEvent,
    BookTag,
    BookTagEvent,
    Computed,
    ComputedEvent,
    Cover,
    CustomKey,
    CustomKeyEvent,
    Item,
    ItemEvent,
    Ledger,
    LedgerEvent,
    LoudBook,
    Note,
    NoteEvent,
    NoteTitleEvent,
    Place,
    PlaceEvent,
    Restaurant,
    RowModelEvent,
    Tag,
    TrackedUser,
    TrackedUserEvent,
    Unique,
    UniqueEvent,
)


def event_models():
    return [
        model
        for model in apps.get_app_config("testapp").get_models()
        if issubclass(model, pghistory.models.Event)
    ]


def table_constraints(model):
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, model._meta.db_table)


def field_names(model):
    return [field.name for field in model._meta.concrete_fields]


@pytest.fixture
def scratch_apps():
    """An app registry for models that a test defines; their triggers are unregistered after."""
    with isolate_apps("tests.testapp") as registry:
        yield registry
    for model, trigger in pgtrigger.registered():
        if model._meta.apps is registry:
            trigger.unregister(model)


def define_gadget():
    """A fresh, untracked model in the `scratch_apps` registry."""

    class Gadget(models.Model):
        name = models.CharField(max_length=32)
        maker = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="+")

        class Meta:
            app_label = "testapp"

    return Gadget


# Copied fields


def test_an_auto_primary_key_is_copied_as_a_plain_integer():
    copied = RowModelEvent._meta.get_field("id")

    assert type(copied) is models.IntegerField
    assert not copied.primary_key
    assert RowModelEvent._meta.pk.name == "pgh_id"


@pytest.mark.django_db
def test_a_custom_uuid_primary_key_is_copied_as_a_uuid_keeping_custom_columns():
    obj = CustomKey.objects.create(int_field=7)

    assert type(CustomKeyEvent._meta.get_field("id")) is models.UUIDField
    assert not CustomKeyEvent._meta.get_field("id").primary_key
    assert CustomKeyEvent._meta.get_field("int_field").column == "integer_column"
    assert list(
        CustomKeyEvent.objects.values_list("pgh_label", "pgh_obj_id", "id", "int_field")
    ) == [("insert", obj.pk, obj.pk, 7)]


def test_unique_and_index_flags_are_not_copied():
    code = UniqueEvent._meta.get_field("code")
    group = UniqueEvent._meta.get_field("group")

    assert (code.unique, code.db_index) == (False, False)
    assert (group.unique, group.db_index) == (False, False)
    assert UniqueEvent._meta.constraints == []
    # Only the event table's own indexes: the tracked model's are not copied.
    assert [(index.fields, index.include) for index in UniqueEvent._meta.indexes] == [
        (["pgh_created_at", "pgh_id"], ()),
        (["pgh_obj", "pgh_id"], ("pgh_created_at",)),
    ]


@pytest.mark.django_db
def test_event_tables_have_no_unique_constraint_but_the_primary_key():
    unique = {
        model.__name__: sorted(
            name
            for name, constraint in table_constraints(model).items()
            if constraint["unique"] and not constraint["primary_key"]
        )
        for model in event_models()
    }

    assert {name: names for name, names in unique.items() if names} == {}


@pytest.mark.django_db
def test_events_may_repeat_values_that_are_unique_in_the_tracked_table():
    first = Unique.objects.create(code="A-1", group=1, rank=1)
    first_id = first.pk
    first.delete()
    again = Unique.objects.create(code="A-1", group=1, rank=1)
    again.rank = 2
    again.save()

    events = UniqueEvent.objects.order_by("pgh_id")
    assert list(events.values_list("pgh_label", "pgh_obj_id", "code", "group", "rank")) == [
        ("insert", first_id, "A-1", 1, 1),
        ("delete", first_id, "A-1", 1, 1),
        ("insert", again.pk, "A-1", 1, 1),
        ("update", again.pk, "A-1", 1, 2),
    ]


@pytest.mark.django_db
def test_an_event_table_indexes_its_relations_time_order_and_each_objects_events():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT regexp_replace(indexdef, '^.* USING ', '') FROM pg_indexes"
            " WHERE tablename = %s ORDER BY 1",
            [UniqueEvent._meta.db_table],
        )
        indexed = [definition for (definition,) in cursor]

    # The object index carries each event's time, for choosing an object's newest events.
    assert indexed == [
        "btree (pgh_context_id)",
        "btree (pgh_created_at, pgh_id)",
        "btree (pgh_id)",
        "btree (pgh_obj_id, pgh_id) INCLUDE (pgh_created_at)",
    ]


def test_a_foreign_key_is_copied_unconstrained_indexed_and_without_reverse_relation():
    author = BookEvent._meta.get_field("author")

    assert type(author) is models.ForeignKey
    assert author.related_model is Author
    assert author.remote_field.on_delete is models.DO_NOTHING
    assert author.db_constraint is False
    assert author.db_index is True
    assert author.remote_field.related_name == "+"


def test_a_one_to_one_is_copied_as_a_foreign_key():
    cover = BookEvent._meta.get_field("cover")

    assert type(cover) is models.ForeignKey
    assert cover.related_model is Cover
    assert cover.unique is False
    assert cover.db_constraint is False


@pytest.mark.django_db
def test_event_tables_have_no_foreign_key_constraints():
    constrained = {
        model.__name__: sorted(
            name
            for name, constraint in table_constraints(model).items()
            if constraint["foreign_key"]
        )
        for model in event_models()
    }

    assert {name: names for name, names in constrained.items() if names} == {}


@pytest.mark.django_db
def test_events_outlive_the_rows_they_reference():
    author = Author.objects.create(name="Ann")
    cover = Cover.objects.create(color="red")
    book = Book.objects.create(title="Dune", author=author, cover=cover)
    book_id, author_id, cover_id = book.pk, author.pk, cover.pk

    cover.delete()
    author.delete()

    events = BookEvent.objects.order_by("pgh_id")
    assert list(
        events.values_list("pgh_label", "pgh_obj_id", "title", "author_id", "cover_id")
    ) == [
        ("insert", book_id, "Dune", author_id, cover_id),
        ("update", book_id, "Dune", author_id, None),
        ("delete", book_id, "Dune", author_id, None),
    ]


# The pgh_* fields


def test_pgh_obj_points_to_the_tracked_model_as_events():
    pgh_obj = BookEvent._meta.get_field("pgh_obj")

    assert pgh_obj.related_model is Book
    assert pgh_obj.remote_field.related_name == "events"
    assert pgh_obj.db_constraint is False
    assert pgh_obj.remote_field.on_delete is models.DO_NOTHING


@pytest.mark.django_db
def test_tracked_objects_list_their_own_events():
    author = Author.objects.create(name="Ann")
    dune = Book.objects.create(title="Dune", author=author)
    emma = Book.objects.create(title="Emma", author=author)
    dune.title = "Dune Messiah"
    dune.save()

    assert list(dune.events.order_by("pgh_id").values_list("pgh_label", "title")) == [
        ("insert", "Dune"),
        ("update", "Dune Messiah"),
    ]
    assert list(emma.events.values_list("pgh_label", "title")) == [("insert", "Emma")]
    assert list(Book.objects.filter(events__title="Dune Messiah")) == [dune]


def test_pgh_context_is_a_nullable_unconstrained_foreign_key_to_context():
    pgh_context = BookEvent._meta.get_field("pgh_context")

    assert type(pgh_context) is models.ForeignKey
    assert pgh_context.related_model is Context
    assert pgh_context.null is True
    assert pgh_context.db_constraint is False
    assert pgh_context.remote_field.on_delete is models.DO_NOTHING


def test_an_event_model_without_obj_field_has_no_pgh_obj():
    assert field_names(BookTagEvent) == [
        "pgh_id",
        "pgh_created_at",
        "pgh_label",
        "id",
        "book",
        "tag",
        "pgh_context",
    ]


def test_the_obj_field_related_name_can_be_configured():
    assert ItemEvent._meta.get_field("pgh_obj").remote_field.related_name == "custom_events"
    assert NoteEvent._meta.get_field("pgh_obj").remote_field.related_name == "body_events"


# Names, modules and registration


def test_event_models_are_named_after_the_model_and_its_tracked_fields():
    assert BookEvent._meta.label == "testapp.BookEvent"
    assert NoteTitleEvent._meta.label == "testapp.NoteTitleEvent"
    assert NoteEvent._meta.label == "testapp.NoteEvent"


def test_event_models_live_in_the_tracked_models_module():
    assert BookEvent.__module__ == "tests.testapp.models"
    assert testapp_models.BookEvent is BookEvent
    assert testapp_models.NoteTitleEvent is NoteTitleEvent
    assert apps.get_model("testapp", "BookEvent") is BookEvent


def test_event_models_know_their_tracked_model_and_trackers():
    assert BookEvent.pgh_tracked_model is Book
    assert [tracker.label for tracker in BookEvent.pgh_trackers] == ["insert", "update", "delete"]


def test_tracked_models_map_each_label_to_its_event_model():
    assert Book.pgh_event_models == {"insert": BookEvent, "update": BookEvent, "delete": BookEvent}
    assert Note.pgh_event_models == {
        "insert": NoteTitleEvent,
        "update": NoteTitleEvent,
        "body_update": NoteEvent,
    }
    assert Book.pgh_event_model is BookEvent


def test_pgh_event_model_refuses_to_choose_between_several_event_models():
    with pytest.raises(ValueError, match="more than one"):
        Note.pgh_event_model  # noqa: B018


def test_a_parent_and_its_child_keep_their_own_event_models():
    assert set(Place.pgh_event_models.values()) == {PlaceEvent}
    assert set(Restaurant.pgh_event_models.values()) == {testapp_models.RestaurantEvent}
    assert set(Bar.pgh_event_models.values()) == {testapp_models.BarEvent}


def test_a_label_already_tracked_by_another_event_model_is_refused():
    with pytest.raises(ValueError, match="already exists"):
        pghistory.InsertEvent().pghistory_setup(NoteEvent)

    assert Note.pgh_event_models["insert"] is NoteTitleEvent


def test_tracking_a_label_twice_with_two_decorators_is_refused(scratch_apps):
    gadget = define_gadget()
    pghistory.track(pghistory.InsertEvent())(gadget)

    with pytest.raises(ValueError, match="already exists"):
        pghistory.track(pghistory.InsertEvent(), model_name="GadgetAgainEvent")(gadget)


def test_tracking_a_label_twice_in_one_decorator_is_refused(scratch_apps):
    gadget = define_gadget()

    with pytest.raises(ValueError, match="already exists"):
        pghistory.track(pghistory.InsertEvent(), pghistory.InsertEvent())(gadget)


def test_create_event_model_builds_an_abstract_model_and_tracks_nothing():
    draft = pghistory.create_event_model(Item, model_name="ItemDraftEvent")

    assert draft._meta.abstract is True
    assert [field.name for field in draft._meta.fields] == [
        "pgh_id",
        "pgh_created_at",
        "pgh_label",
        "id",
        "name",
        "price",
        "pgh_obj",
        "pgh_context",
    ]
    assert Item.pgh_event_models == {"insert": ItemEvent, "update": ItemEvent}
    with pytest.raises(LookupError):
        apps.get_model("testapp", "ItemDraftEvent")


def test_create_event_model_makes_a_tracked_concrete_model_on_request(scratch_apps):
    gadget = define_gadget()

    event_model = pghistory.create_event_model(gadget, pghistory.InsertEvent(), abstract=False)

    assert event_model._meta.abstract is False
    assert event_model._meta.label == "testapp.GadgetEvent"
    assert gadget.pgh_event_models == {"insert": event_model}
    assert [trigger.name for trigger in gadget._meta.triggers] == ["insert_insert"]


@pytest.mark.django_db
def test_a_custom_event_model_keeps_its_own_fields_and_indexes():
    item = Item.objects.create(name="pen", price=3)
    item.price = 4
    item.save()

    assert "item_event_price" in table_constraints(ItemEvent)
    assert table_constraints(ItemEvent)["item_event_price"]["columns"] == ["price"]
    assert list(
        item.custom_events.order_by("pgh_id").values_list("pgh_label", "price", "note")
    ) == [
        ("insert", 3, None),
        ("update", 4, None),
    ]


# Append-only events


@pytest.mark.django_db
def test_append_only_events_cannot_be_updated():
    Ledger.objects.create(amount=10)

    with pytest.raises(DatabaseError, match="Cannot update or delete"), transaction.atomic():
        LedgerEvent.objects.update(amount=0)

    assert list(LedgerEvent.objects.values_list("pgh_label", "amount")) == [("insert", 10)]


@pytest.mark.django_db
def test_append_only_events_cannot_be_deleted():
    Ledger.objects.create(amount=10)

    with pytest.raises(DatabaseError, match="Cannot update or delete"), transaction.atomic():
        LedgerEvent.objects.all().delete()

    assert LedgerEvent.objects.count() == 1


@pytest.mark.django_db
def test_the_tracked_rows_of_append_only_events_stay_writable():
    entry = Ledger.objects.create(amount=10)
    entry.amount = 20
    entry.save()
    entry.delete()

    assert list(LedgerEvent.objects.order_by("pgh_id").values_list("pgh_label", "amount")) == [
        ("insert", 10),
        ("update", 20),
    ]


@pytest.mark.django_db
def test_events_of_other_models_stay_writable():
    author = Author.objects.create(name="Ann")
    Book.objects.create(title="Dune", author=author)

    BookEvent.objects.update(title="Corrected")
    BookEvent.objects.all().delete()

    assert BookEvent.objects.count() == 0


# Manual events


@pytest.mark.django_db
def test_create_event_stores_the_objects_current_values_under_a_manual_label():
    account = Account.objects.create(owner="ann", balance=10)
    account.balance = 25
    account.save()

    event = pghistory.create_event(account, label="audit")

    assert isinstance(event, AccountEvent)
    audits = AccountEvent.objects.filter(pgh_label="audit")
    assert list(audits.values_list("pgh_obj_id", "id", "owner", "balance", "pgh_context_id")) == [
        (account.pk, account.pk, "ann", 25, None)
    ]
    assert audits.get().pgh_id == event.pgh_id


@pytest.mark.django_db
def test_create_event_for_a_model_without_obj_field():
    author = Author.objects.create(name="Ann")
    book = Book.objects.create(title="Dune", author=author)
    tag = Tag.objects.create(name="classic")
    link = BookTag.objects.create(book=book, tag=tag)

    pghistory.create_event(link, label="tag.remove")

    events = BookTagEvent.objects.order_by("pgh_id")
    assert list(events.values_list("pgh_label", "id", "book_id", "tag_id")) == [
        ("tag.add", link.pk, book.pk, tag.pk),
        ("tag.remove", link.pk, book.pk, tag.pk),
    ]


@pytest.mark.django_db
def test_create_event_refuses_an_unknown_label():
    account = Account.objects.create(owner="ann", balance=10)

    with pytest.raises(ValueError, match="nope"):
        pghistory.create_event(account, label="nope")

    assert not AccountEvent.objects.filter(pgh_label="nope").exists()


# Inheritance and proxies


MTI_CASES = pytest.mark.parametrize(
    ("child_model", "flag", "related_name"),
    [(Restaurant, "serves_pizza", "restaurant_events"), (Bar, "serves_beer", "bar_events")],
    ids=["row-level", "statement-level"],
)


@MTI_CASES
@pytest.mark.django_db
def test_a_child_models_events_carry_its_parents_fields(child_model, flag, related_name):
    obj = child_model.objects.create(name="Luigi's", address="1 Main St", **{flag: True})
    obj_id = obj.pk
    obj.name = "Luigi's Two"
    setattr(obj, flag, False)
    obj.save()
    obj.delete()

    events = child_model.pgh_event_model.objects.order_by("pgh_id")
    rows = events.values_list(
        "pgh_label", "pgh_obj_id", "id", "place_ptr_id", "name", "address", flag
    )
    assert list(rows) == [
        ("insert", obj_id, obj_id, obj_id, "Luigi's", "1 Main St", True),
        ("update", obj_id, obj_id, obj_id, "Luigi's Two", "1 Main St", False),
        ("delete", obj_id, obj_id, obj_id, "Luigi's Two", "1 Main St", False),
    ]
    assert child_model.pgh_event_model._meta.get_field("pgh_obj").remote_field.related_name == (
        related_name
    )


@pytest.mark.django_db
def test_a_child_models_writes_store_the_parents_events_too():
    obj = Restaurant.objects.create(name="Luigi's", address="1 Main St")
    obj_id = obj.pk
    obj.name = "Luigi's Two"
    obj.save()
    obj.delete()

    events = PlaceEvent.objects.order_by("pgh_id")
    assert list(events.values_list("pgh_label", "pgh_obj_id", "name")) == [
        ("insert", obj_id, "Luigi's"),
        ("update", obj_id, "Luigi's Two"),
        ("delete", obj_id, "Luigi's Two"),
    ]


@pytest.mark.django_db
def test_a_proxy_of_a_third_party_model_tracks_its_table_without_excluded_fields():
    user = User.objects.create_user("ann", email="ann@example.com", password="secret")
    user.set_password("another secret")
    user.save()
    user.email = "ann@example.org"
    user.save()

    assert "password" not in field_names(TrackedUserEvent)
    assert TrackedUserEvent._meta.get_field("pgh_obj").related_model is TrackedUser
    events = TrackedUser.objects.get(pk=user.pk).events.order_by("pgh_id")
    assert list(events.values_list("pgh_label", "pgh_obj_id", "username", "email")) == [
        ("insert", user.pk, "ann", "ann@example.com"),
        ("update", user.pk, "ann", "ann@example.org"),
    ]


@pytest.mark.django_db
def test_a_proxy_of_a_tracked_model_writes_the_tracked_models_events():
    author = Author.objects.create(name="Ann")
    loud = LoudBook.objects.create(title="DUNE", author=author)
    loud.title = "DUNE!"
    loud.save()

    assert LoudBook.pgh_event_model is BookEvent
    assert list(
        loud.events.order_by("pgh_id").values_list("pgh_label", "pgh_obj_id", "title")
    ) == [
        ("insert", loud.pk, "DUNE"),
        ("update", loud.pk, "DUNE!"),
    ]


@pytest.mark.django_db
def test_create_event_on_a_proxy_uses_the_tracked_models_event_model():
    author = Author.objects.create(name="Ann")
    loud = LoudBook.objects.create(title="DUNE", author=author)

    event = pghistory.create_event(loud, label="update")

    assert type(event) is BookEvent
    assert list(BookEvent.objects.order_by("pgh_id").values_list("pgh_label", "title")) == [
        ("insert", "DUNE"),
        ("update", "DUNE"),
    ]


@pytest.mark.django_db
def test_generated_columns_and_database_defaults_are_stored_as_computed():
    obj = Computed.objects.create(price=decimal.Decimal("2.50"), quantity=4)
    obj.quantity = 3
    obj.save()

    events = ComputedEvent.objects.order_by("pgh_id")
    assert list(events.values_list("pgh_label", "price", "quantity", "total", "status")) == [
        ("insert", decimal.Decimal("2.50"), 4, decimal.Decimal("10.00"), "new"),
        ("update", decimal.Decimal("2.50"), 3, decimal.Decimal("7.50"), "new"),
    ]


@pytest.mark.django_db
def test_a_many_to_many_through_proxy_records_adds_and_removes():
    author = Author.objects.create(name="Ann")
    book = Book.objects.create(title="Dune", author=author)
    classic, scifi = Tag.objects.create(name="classic"), Tag.objects.create(name="sci-fi")

    book.tags.add(classic, scifi)
    book.tags.remove(classic)
    book.tags.clear()

    events = BookTagEvent.objects.order_by("pgh_id")
    rows = list(events.values_list("pgh_label", "book_id", "tag_id"))
    # add() inserts both rows in one statement, in the order of a set of primary keys.
    assert sorted(rows[:2]) == [
        ("tag.add", book.pk, classic.pk),
        ("tag.add", book.pk, scifi.pk),
    ]
    assert rows[2:] == [
        ("tag.remove", book.pk, classic.pk),
        ("tag.remove", book.pk, scifi.pk),
    ]


# Settings that shape newly created event models


def build_book_event_model(**kwargs):
    return pghistory.create_event_model(Book, model_name="SettingsBookEvent", **kwargs)


@override_settings(PGHISTORY_FIELD=pghistory.Field(null=True, editable=False))
def test_the_field_setting_applies_to_every_copied_field():
    event_model = build_book_event_model()

    for name in ("title", "author"):
        field = event_model._meta.get_field(name)
        assert (name, field.null, field.editable) == (name, True, False)


@override_settings(PGHISTORY_RELATED_FIELD=pghistory.RelatedField(null=True))
def test_the_related_field_setting_applies_to_copied_relations_only():
    event_model = build_book_event_model()

    assert event_model._meta.get_field("author").null is True
    assert event_model._meta.get_field("author").remote_field.related_name == "+"
    assert event_model._meta.get_field("title").null is False


@override_settings(PGHISTORY_FOREIGN_KEY_FIELD=pghistory.ForeignKey(db_index=False))
def test_the_foreign_key_setting_overrides_only_what_it_names():
    author = build_book_event_model()._meta.get_field("author")

    assert author.db_index is False
    assert author.db_constraint is False
    assert author.remote_field.on_delete is models.DO_NOTHING


@override_settings(PGHISTORY_OBJ_FIELD=pghistory.ObjForeignKey(related_name="history"))
def test_the_obj_field_setting_configures_pgh_obj():
    pgh_obj = build_book_event_model()._meta.get_field("pgh_obj")

    assert pgh_obj.related_model is Book
    assert pgh_obj.remote_field.related_name == "history"


@override_settings(PGHISTORY_OBJ_FIELD=None)
def test_the_obj_field_setting_can_remove_pgh_obj():
    assert "pgh_obj" not in field_names(build_book_event_model())


@override_settings(PGHISTORY_DEFAULT_TRACKERS=[pghistory.DeleteEvent()])
def test_default_trackers_setting_applies_when_no_tracker_is_given(scratch_apps):
    assert [tracker.label for tracker in build_book_event_model().pgh_trackers] == ["delete"]

    gadget = define_gadget()
    pghistory.track()(gadget)

    assert list(gadget.pgh_event_models) == ["delete"]
    assert [trigger.name for trigger in gadget._meta.triggers] == ["delete_delete"]


def test_without_default_trackers_setting_inserts_and_updates_are_tracked():
    assert [tracker.label for tracker in build_book_event_model().pgh_trackers] == [
        "insert",
        "update",
    ]


@override_settings(PGHISTORY_APPEND_ONLY=True)
def test_append_only_setting_protects_new_event_models(scratch_apps):
    gadget = define_gadget()
    pghistory.track()(gadget)
    event_model = gadget.pgh_event_model

    (protect,) = event_model._meta.triggers
    assert isinstance(protect, pgtrigger.Protect)
    assert str(protect.operation) == str(pgtrigger.Update | pgtrigger.Delete)
    assert "RAISE EXCEPTION" in protect.compile(event_model).install_sql


def test_event_models_are_not_append_only_by_default(scratch_apps):
    gadget = define_gadget()
    pghistory.track()(gadget)

    assert getattr(gadget.pgh_event_model._meta, "triggers", []) == []


@override_settings(PGHISTORY_CREATED_AT_FUNCTION="clock_timestamp()")
def test_created_at_function_setting_is_used_by_the_triggers(scratch_apps):
    gadget = define_gadget()
    pghistory.track()(gadget)

    for trigger in gadget._meta.triggers:
        sql = trigger.compile(gadget).install_sql
        assert "clock_timestamp()" in sql
        assert "NOW()" not in sql


def test_triggers_use_now_by_default():
    for trigger in Book._meta.triggers:
        assert "VALUES (NOW(), " in trigger.compile(Book).install_sql


@override_settings(PGHISTORY_LEVEL=pghistory.Statement)
def test_level_setting_makes_new_triggers_statement_level(scratch_apps):
    gadget = define_gadget()
    pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent())(gadget)

    compiled = {
        trigger.name: trigger.compile(gadget).install_sql for trigger in gadget._meta.triggers
    }
    assert [trigger.level for trigger in gadget._meta.triggers] == [pgtrigger.Statement] * 2
    assert "FOR EACH STATEMENT" in compiled["insert_insert"]
    assert "REFERENCING NEW TABLE AS new_values" in compiled["insert_insert"]
    assert (
        "REFERENCING OLD TABLE AS old_values  NEW TABLE AS new_values" in compiled["update_update"]
    )


@override_settings(PGHISTORY_LEVEL=pghistory.Statement)
def test_an_explicit_level_wins_over_the_level_setting(scratch_apps):
    gadget = define_gadget()
    pghistory.track(pghistory.InsertEvent(), level=pghistory.Row)(gadget)

    (trigger,) = gadget._meta.triggers
    assert trigger.level == pgtrigger.Row
    assert "FOR EACH ROW" in trigger.compile(gadget).install_sql


@pytest.mark.django_db
def test_a_column_name_with_a_quote_is_a_key_of_the_stored_data(scratch_apps):
    class Odd(models.Model):
        size = models.IntegerField(db_column="it's")

        class Meta:
            app_label = "testapp"

    event_model = pghistory.create_event_model(Odd, pghistory.InsertEvent())
    plain = TableHistory()
    data_sql = stored_row_sql("e", data_sources(event_model, plain), plain)
    with connection.cursor() as cursor:
        cursor.execute(f"""SELECT {data_sql} FROM (SELECT 1 AS id, 7 AS "it's") e""")
        (data,) = cursor.fetchone()

    assert (json.loads(data) if isinstance(data, str) else data) == {"id": 1, "it's": 7}
