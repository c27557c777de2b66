"""Trackers reach the database through migrations, as pgtrigger triggers."""

import io
import re

import pgtrigger
import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.utils.module_loading import import_string

import pghistory
from tests.testapp.models import Book, RowModel, StatementModel

# A PL/pgSQL exception handler: each time the block runs, Postgres opens a subtransaction.
EXCEPTION_BLOCK = re.compile(r"\bEXCEPTION\s+WHEN\b", re.IGNORECASE)


def registered_triggers():
    """(table, Postgres trigger name) of every trigger the models declare."""
    return {
        (model._meta.db_table, trigger.get_pgid(model))
        for model in apps.get_models()
        for trigger in getattr(model._meta, "triggers", [])
    }


def installed_triggers():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger"
            " WHERE tgname LIKE 'pgtrigger\\_%' AND NOT tgisinternal"
        )
        return set(cursor.fetchall())


def function_sources(where, params=()):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT proname, prosrc FROM pg_proc WHERE {where}", params)
        return dict(cursor.fetchall())


@pytest.mark.django_db
def test_migrations_are_up_to_date():
    out = io.StringIO()

    call_command("makemigrations", "--check", "--dry-run", stdout=out)

    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db
def test_migrate_installs_every_declared_trigger_and_no_other():
    assert installed_triggers() == registered_triggers()


@pytest.mark.django_db
def test_installed_triggers_match_their_current_definition():
    statuses = {
        (model._meta.label, trigger.name): trigger.get_installation_status(model)[0]
        for model in apps.get_models()
        for trigger in getattr(model._meta, "triggers", [])
    }

    assert {key: status for key, status in statuses.items() if status != "INSTALLED"} == {}


@pytest.mark.django_db
def test_each_tracker_installs_one_trigger_per_tracked_table():
    installed = installed_triggers()

    for model in (RowModel, StatementModel, Book):
        names = sorted(
            name.rsplit("_", 1)[0] for table, name in installed if table == model._meta.db_table
        )
        assert names == [
            "pgtrigger_delete_delete",
            "pgtrigger_insert_insert",
            "pgtrigger_update_update",
        ]


def test_adding_a_tracked_field_changes_the_trigger():
    def compiled_insert(fields):
        event_model = pghistory.create_event_model(
            Book, fields=fields, model_name="DraftBookEvent"
        )
        trigger = pghistory.trigger.Event(
            event_model=event_model, label="insert", operation=pgtrigger.Insert
        )
        return trigger.compile(Book)

    title_only = compiled_insert(["title"])
    with_author = compiled_insert(["title", "author"])

    assert title_only.hash != with_author.hash
    assert '"author_id"' not in title_only.install_sql
    assert '"author_id"' in with_author.install_sql


def test_paths_that_migrations_import_are_stable():
    assert issubclass(import_string("pghistory.trigger.Event"), pgtrigger.Trigger)
    assert import_string("pghistory.models.Context")._meta.db_table == "pghistory_context"


@pytest.mark.django_db
def test_trigger_functions_and_the_context_function_have_no_exception_block():
    sources = function_sources("proname LIKE 'pgtrigger\\_%%' OR proname = '_pgh_attach_context'")

    assert {"_pgh_attach_context", *(pgid for _, pgid in registered_triggers())} <= set(sources)
    assert [name for name, source in sources.items() if EXCEPTION_BLOCK.search(source)] == []


@pytest.mark.django_db
def test_functions_called_by_event_triggers_have_no_exception_block():
    # pgtrigger wraps every trigger function in a call to its "should ignore" function.
    (insert,) = [trigger for trigger in Book._meta.triggers if trigger.name == "insert_insert"]
    called = set(re.findall(r"(\w+)\(", insert.compile(Book).install_sql)) & set(
        function_sources("pronamespace = 'public'::regnamespace")
    )
    assert "_pgh_attach_context" in called

    sources = function_sources("proname = ANY(%s)", [sorted(called)])

    assert [name for name, source in sources.items() if EXCEPTION_BLOCK.search(source)] == []
