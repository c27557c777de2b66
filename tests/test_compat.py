"""What code and migrations written for django-pghistory 3.9.2 rely on, beyond the tracking
API itself: module paths, migration names, return types, messages and deprecated forms."""

import importlib
import warnings

import pgtrigger
import pytest
from django.contrib.auth.models import User
from django.core import checks
from django.db import models
from django.db.migrations.loader import MigrationLoader

import pghistory
from pghistory import constants, utils
from pghistory.models import Events
from tests.testapp.models import (
    Author,
    Book,
    BookInsertEvent,
    DenormContext,
    DenormInsertEvent,
    ReasonEvents,
)

# The migrations of django-pghistory 3.9.2's `pghistory` app, in order.
MIGRATIONS_OF_3_9 = [
    "0001_initial",
    "0002_aggregateevent",
    "0003_auto_20201023_1636",
    "0004_auto_20220906_1625",
    "0005_events_middlewareevents",
    "0006_delete_aggregateevent",
    "0007_auto_20250421_0444",
]


def test_the_migrations_of_3_9_are_there_and_ours_follow_them():
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    plan = [name for app, name in graph.forwards_plan(("pghistory", "0009_context_parent_time"))]

    assert [name for name in plan if name in MIGRATIONS_OF_3_9] == MIGRATIONS_OF_3_9
    assert graph.leaf_nodes("pghistory") == [("pghistory", "0009_context_parent_time")]
    assert plan[-2:] == ["0008_attach_context", "0009_context_parent_time"]


def test_a_migration_that_3_9_generated_for_a_denormalized_context_resolves():
    # 3.9.2's makemigrations writes `pghistory.utils.JSONField(null=True)` for `pgh_context`
    # under ContextJSONField(); it is the field our event models have, so no change follows.
    written = utils.JSONField(null=True)
    ours = DenormContext.pgh_event_models["insert"]._meta.get_field("pgh_context")

    assert isinstance(written, models.JSONField)
    assert written.deconstruct()[1:] == ours.deconstruct()[1:]
    assert ours.deconstruct()[1] == "pghistory.utils.JSONField"


@pytest.mark.parametrize(
    "module, names",
    [
        ("pghistory", ["ProxyField", "DEFAULT", "New", "Old", "track", "context"]),
        ("pghistory.utils", ["JSONField", "related_model", "psycopg_version"]),
        ("pghistory.constants", ["Default", "Unset", "DEFAULT", "UNSET"]),
        ("pghistory.core", ["ProxyField", "RelatedField", "create_event_model", "track"]),
        ("pghistory.models", ["EventQuerySet", "EventsQuerySet", "NoObjectsManager"]),
        ("pghistory.models", ["PGHistoryJSONField", "PghEventModel", "Context", "Event"]),
        ("pghistory.middleware", ["HistoryMiddleware"]),
        ("pghistory.runtime", ["context"]),
        ("pghistory.trigger", ["Event"]),
        ("pghistory.apps", ["PGHistoryConfig"]),
        ("pghistory.config", ["Field", "ContextJSONField", "admin_all_events", "level"]),
    ],
)
def test_the_names_that_3_9_code_imports_resolve(module, names):
    imported = importlib.import_module(module)

    assert [name for name in names if not hasattr(imported, name)] == []


def test_core_event_models_narrows_to_what_references_or_tracks_a_model():
    from pghistory.core import event_models
    from tests.testapp.models import Author, BookTag

    book_event = Book.pgh_event_models["insert"]
    book_tag_event = BookTag.pgh_event_models["tag.add"]

    assert event_models(references_model=Author) == [book_event]
    assert event_models([book_event, book_tag_event], tracks_model=Book) == [book_event]
    assert book_tag_event not in event_models(tracks_model=BookTag)
    assert event_models(tracks_model=BookTag, include_missing_pgh_obj=True) == [book_tag_event]


def test_the_sentinels_are_of_3_9s_types():
    assert isinstance(pghistory.DEFAULT, constants.Default)
    assert isinstance(constants.UNSET, constants.Unset)


def test_related_model_names_the_model_a_relation_points_to():
    assert utils.related_model(Book._meta.get_field("author")) is Book.author.field.related_model
    assert utils.related_model(Book._meta.get_field("title")) is None


def test_an_event_triggers_func_is_a_pgtrigger_func_that_renders_its_insert():
    trigger = next(t for t in Book._meta.triggers if t.name == "insert_insert")

    func = trigger.get_func(Book)
    rendered = trigger.render_func(Book)

    assert isinstance(func, pgtrigger.Func)
    assert rendered.startswith('INSERT INTO "testapp_bookevent" (')
    assert rendered.endswith(
        "CASE WHEN current_setting('pghistory.context_id', TRUE) <> ''"
        " THEN _pgh_attach_context() END); RETURN NULL;"
    )


def test_a_proxy_of_an_event_model_reads_its_proxy_fields_from_the_context(db):
    user = User.objects.create(username="ann")
    author = Author.objects.create(name="Frank")
    Book.objects.create(title="Emma", author=author)
    # (the context lasts until the test's transaction ends)
    with pghistory.context(user=user.pk, url="/books/add/"):
        book = Book.objects.create(title="Dune", author=author)

    rows = BookInsertEvent.objects.order_by("pgh_id").values("title", "url", "user__username")

    assert list(rows) == [
        {"title": "Emma", "url": None, "user__username": None},
        {"title": "Dune", "url": "/books/add/", "user__username": "ann"},
    ]
    assert list(BookInsertEvent.objects.filter(user=user).values_list("pgh_obj", flat=True)) == [
        book.pk
    ]
    assert BookInsertEvent.objects.get(url="/books/add/").user == user


def test_a_proxy_of_an_event_model_with_a_denormalized_context_reads_it(db):
    with pghistory.context(reason="import"):
        DenormContext.objects.create(int_field=1)

    assert list(DenormInsertEvent.objects.values_list("int_field", "reason")) == [(1, "import")]


def test_an_event_model_without_proxy_fields_reads_its_table_as_it_is(db):
    event_model = Book.pgh_event_models["insert"]

    assert isinstance(event_model.objects.all(), pghistory.models.EventQuerySet)
    assert 'FROM "testapp_bookevent"' in str(event_model.objects.all().query)


def test_an_events_proxy_with_plain_fields_passes_the_system_checks():
    assert [error.id for error in ReasonEvents.check()] == []
    assert "models.E017" not in [error.id for error in checks.run_checks()]


def test_an_events_proxy_reads_a_plain_field_from_the_context_key_of_its_name(db):
    user = User.objects.create(username="ann")
    with pghistory.context(reason="import", user=user.pk):
        book = Book.objects.create(title="Dune", author=Author.objects.create(name="Frank"))

    events = ReasonEvents.objects.tracks(book)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = list(events.values_list("pgh_label", "reason", "user__username"))

    assert rows == [("insert", "import", "ann")]
    assert {(w.category, str(w.message)) for w in caught} == {
        (
            DeprecationWarning,
            f'Field "{name}" of testapp.ReasonEvents is read from the context key "{name}":'
            f' declare it as pghistory.ProxyField("pgh_context__{name}", ...) instead.',
        )
        for name in ("reason", "user")
    }


def test_an_events_proxy_with_proxy_fields_only_warns_of_nothing(db):
    Book.objects.create(title="Dune", author=Author.objects.create(name="Frank"))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pghistory.models.MiddlewareEvents.objects.values_list("user", flat=True)[0] is None


def test_tracks_and_references_name_3_9s_objects_of_mixed_types(db):
    with pytest.raises(ValueError, match="are not of the same type"):
        Events.objects.tracks(Book(pk=1), User(pk=1))
