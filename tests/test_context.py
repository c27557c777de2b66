"""`pghistory.context`: how metadata reaches the events written while a context is active.

Most tests write `RowModel` rows (tracked by insert, update and delete triggers) and read back
`RowModelEvent` rows and the `pghistory_context` rows they point to. Tests that open their own
connections (threads, explicit transactions) use `transaction=True`; the others run inside the
test's transaction, where a context's settings last until that transaction ends.
"""

import asyncio
import copy
import functools
import inspect
import threading

import pytest
from asgiref.sync import async_to_sync
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

import pghistory
from pghistory.models import Context
from tests.testapp.models import (
    Account,
    AccountEvent,
    DenormContext,
    DenormContextEvent,
    RowModel,
    RowModelEvent,
)


def _events(using="default"):
    """(label, int_field, context id) of every `RowModel` event, oldest first."""
    return list(
        RowModelEvent.objects.using(using)
        .order_by("pgh_id")
        .values_list("pgh_label", "int_field", "pgh_context_id")
    )


def _contexts(using="default"):
    """(id, metadata) of every context row."""
    return list(Context.objects.using(using).values_list("id", "metadata"))


def _contexts_by(key):
    """Context ids by the value their metadata holds for `key`."""
    return {metadata[key]: context_id for context_id, metadata in _contexts()}


def _xmax(context_id):
    """The context row's xmax: 0 while no statement after its insert has written or locked it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT xmax::text FROM pghistory_context WHERE id = %s", [context_id])
        return cursor.fetchone()[0]


def _with_own_connection(target):
    """`target`, closing the connection it opened in its thread once it returns."""

    def run():
        try:
            target()
        finally:
            connection.close()

    return run


def _in_thread(target):
    """Run `target` in a plain thread with its own connection, and wait for it."""
    thread = threading.Thread(target=_with_own_connection(target))
    thread.start()
    thread.join()


# Entering a context


@pytest.mark.django_db
def test_events_written_outside_a_context_have_no_context():
    RowModel.objects.create(int_field=1)

    assert _events() == [("insert", 1, None)]
    assert _contexts() == []


@pytest.mark.django_db
def test_context_manager_attaches_its_metadata_to_events():
    with pghistory.context(source="import"):
        RowModel.objects.create(int_field=1)

    [(context_id, metadata)] = _contexts()
    assert metadata == {"source": "import"}
    assert _events() == [("insert", 1, context_id)]


@pytest.mark.django_db
def test_every_write_in_a_context_points_to_one_context_row():
    with pghistory.context(source="import"):
        row = RowModel.objects.create(int_field=1)
        RowModel.objects.filter(pk=row.pk).update(int_field=2)
        row.delete()

    [(context_id, _)] = _contexts()
    assert _events() == [
        ("insert", 1, context_id),
        ("update", 2, context_id),
        ("delete", 2, context_id),
    ]


@pytest.mark.django_db
def test_entered_context_keeps_the_id_its_events_point_to():
    with pghistory.context(source="import") as entered:
        RowModel.objects.create(int_field=1)

    [(context_id, _)] = _contexts()
    assert entered.id == context_id


def test_entered_context_exposes_the_merged_metadata():
    with pghistory.context(source="import") as outer, pghistory.context(step=2) as inner:
        pghistory.context(rows=10)

        assert outer.metadata == {"source": "import", "step": 2, "rows": 10}
        assert inner.metadata == {"source": "import", "step": 2, "rows": 10}


@pytest.mark.django_db
def test_decorated_function_runs_in_a_context():
    @pghistory.context(job="nightly")
    def job():
        RowModel.objects.create(int_field=1)

    job()

    [(context_id, metadata)] = _contexts()
    assert metadata == {"job": "nightly"}
    assert _events() == [("insert", 1, context_id)]


@pytest.mark.django_db
def test_each_call_of_a_decorated_function_gets_its_own_context():
    @pghistory.context(job="nightly")
    def job(value):
        pghistory.context(run=value)
        RowModel.objects.create(int_field=value)

    job(1)
    job(2)

    contexts = _contexts_by("run")
    assert _events() == [("insert", 1, contexts[1]), ("insert", 2, contexts[2])]
    assert contexts[1] != contexts[2]


def test_decorated_coroutine_function_stays_a_coroutine_function():
    @pghistory.context(job="nightly")
    async def job():
        pass

    assert inspect.iscoroutinefunction(job)


@pytest.mark.django_db
def test_decorated_coroutine_function_runs_in_a_context():
    @pghistory.context(job="nightly")
    async def job():
        await RowModel.objects.acreate(int_field=1)

    async_to_sync(job)()

    [(context_id, metadata)] = _contexts()
    assert metadata == {"job": "nightly"}
    assert _events() == [("insert", 1, context_id)]


@pytest.mark.django_db
def test_async_with_attaches_its_metadata_to_events():
    async def write():
        async with pghistory.context(source="async"):
            await RowModel.objects.acreate(int_field=1)

    async_to_sync(write)()

    [(context_id, metadata)] = _contexts()
    assert metadata == {"source": "async"}
    assert _events() == [("insert", 1, context_id)]


# Nesting and merging


@pytest.mark.django_db
def test_nested_contexts_share_one_id_and_merge_metadata():
    with pghistory.context(source="import"):
        RowModel.objects.create(int_field=1)
        with pghistory.context(step="second"):
            RowModel.objects.create(int_field=2)

    [(context_id, metadata)] = _contexts()
    assert metadata == {"source": "import", "step": "second"}
    assert _events() == [("insert", 1, context_id), ("insert", 2, context_id)]


@pytest.mark.django_db
def test_nested_context_overrides_a_key_of_the_outer_one():
    with pghistory.context(step="first"), pghistory.context(step="second"):
        RowModel.objects.create(int_field=1)

    assert [metadata for _, metadata in _contexts()] == [{"step": "second"}]


@pytest.mark.django_db
def test_metadata_of_an_exited_nested_context_stays_in_the_outer_one():
    with pghistory.context(source="import"):
        with pghistory.context(step="second"):
            pass
        RowModel.objects.create(int_field=1)

    assert [metadata for _, metadata in _contexts()] == [{"source": "import", "step": "second"}]


@pytest.mark.django_db
def test_decorated_function_called_in_a_context_joins_it():
    @pghistory.context(job="nightly")
    def job():
        RowModel.objects.create(int_field=2)

    with pghistory.context(source="cron"):
        RowModel.objects.create(int_field=1)
        job()

    [(context_id, metadata)] = _contexts()
    assert metadata == {"source": "cron", "job": "nightly"}
    assert _events() == [("insert", 1, context_id), ("insert", 2, context_id)]


@pytest.mark.django_db
def test_calling_context_without_entering_merges_into_the_active_context():
    with pghistory.context(source="import"):
        pghistory.context(rows=10)
        RowModel.objects.create(int_field=1)

    [(context_id, metadata)] = _contexts()
    assert metadata == {"source": "import", "rows": 10}
    assert _events() == [("insert", 1, context_id)]


@pytest.mark.django_db
def test_calling_context_without_entering_and_without_an_active_context_does_nothing():
    pghistory.context(rows=10)
    RowModel.objects.create(int_field=1)
    with pghistory.context(source="import"):
        RowModel.objects.create(int_field=2)

    [(context_id, metadata)] = _contexts()
    assert metadata == {"source": "import"}
    assert _events() == [("insert", 1, None), ("insert", 2, context_id)]


@pytest.mark.django_db
def test_metadata_changed_between_writes_rewrites_the_context_row():
    with pghistory.context(source="import"):
        RowModel.objects.create(int_field=1)
        assert [metadata for _, metadata in _contexts()] == [{"source": "import"}]
        pghistory.context(rows=10)
        RowModel.objects.create(int_field=2)

    assert [metadata for _, metadata in _contexts()] == [{"source": "import", "rows": 10}]


@pytest.mark.django_db
def test_metadata_keeps_quotes_backslashes_and_percent_signs():
    text = "50% of O'Brien's \"rows\" \\ %s %(name)s"
    with pghistory.context(note=text):
        RowModel.objects.create(int_field=1)

    assert [metadata for _, metadata in _contexts()] == [{"note": text}]


# Transactions


@pytest.mark.django_db(transaction=True)
def test_context_is_attached_to_each_autocommitted_write():
    with pghistory.context(source="import"):
        RowModel.objects.create(int_field=1)
        RowModel.objects.create(int_field=2)

    [(context_id, _)] = _contexts()
    assert _events() == [("insert", 1, context_id), ("insert", 2, context_id)]


@pytest.mark.django_db(transaction=True)
def test_context_spans_several_transactions():
    with pghistory.context(source="import"):
        with transaction.atomic():
            RowModel.objects.create(int_field=1)
        with transaction.atomic():
            RowModel.objects.create(int_field=2)

    [(context_id, _)] = _contexts()
    assert _events() == [("insert", 1, context_id), ("insert", 2, context_id)]


@pytest.mark.django_db(transaction=True)
def test_in_autocommit_mode_writes_after_the_context_exits_have_no_context():
    with pghistory.context(source="import"):
        RowModel.objects.create(int_field=1)
    RowModel.objects.create(int_field=2)

    [(context_id, _)] = _contexts()
    assert _events() == [("insert", 1, context_id), ("insert", 2, None)]


@pytest.mark.django_db(transaction=True)
def test_inside_atomic_the_context_lasts_until_the_transaction_ends():
    with transaction.atomic():
        with pghistory.context(source="import"):
            RowModel.objects.create(int_field=1)
        RowModel.objects.create(int_field=2)
    RowModel.objects.create(int_field=3)

    [(context_id, _)] = _contexts()
    assert _events() == [
        ("insert", 1, context_id),
        ("insert", 2, context_id),
        ("insert", 3, None),
    ]


@pytest.mark.django_db
def test_context_first_written_in_a_rolled_back_savepoint_is_written_again():
    with pghistory.context(source="import"):
        with pytest.raises(RuntimeError), transaction.atomic():
            RowModel.objects.create(int_field=1)
            raise RuntimeError
        RowModel.objects.create(int_field=2)

    [(context_id, metadata)] = _contexts()
    assert metadata == {"source": "import"}
    assert _events() == [("insert", 2, context_id)]


# Statements that touch many rows


@pytest.mark.django_db
def test_bulk_create_of_100_rows_writes_the_context_row_once():
    with pghistory.context(source="import"):
        RowModel.objects.bulk_create([RowModel(int_field=n) for n in range(100)])

    [(context_id, _)] = _contexts()
    assert _events() == [("insert", n, context_id) for n in range(100)]
    assert _xmax(context_id) == "0"


@pytest.mark.django_db
def test_update_of_100_rows_writes_the_context_row_once():
    RowModel.objects.bulk_create([RowModel(int_field=n) for n in range(100)])
    with pghistory.context(source="import"):
        updated = RowModel.objects.update(int_field=-1)

    [(context_id, _)] = _contexts()
    assert updated == 100
    assert (
        _events() == [("insert", n, None) for n in range(100)] + [("update", -1, context_id)] * 100
    )
    assert _xmax(context_id) == "0"


@pytest.mark.django_db
def test_later_statements_with_unchanged_metadata_leave_the_context_row_alone():
    with pghistory.context(source="import"):
        row = RowModel.objects.create(int_field=1)
        RowModel.objects.filter(pk=row.pk).update(int_field=2)
        RowModel.objects.create(int_field=3)

    [(context_id, _)] = _contexts()
    assert _xmax(context_id) == "0"


@pytest.mark.django_db
def test_writes_in_a_context_return_their_usual_results():
    with pghistory.context(source="import"):
        created = RowModel.objects.bulk_create([RowModel(int_field=n) for n in range(3)])
        updated = RowModel.objects.filter(int_field__gte=1).update(int_field=9)
        deleted = RowModel.objects.filter(int_field=9).delete()

    assert [row.pk for row in created] == sorted(
        RowModelEvent.objects.filter(pgh_label="insert").values_list("pgh_obj_id", flat=True)
    )
    assert updated == 2
    assert deleted == (2, {"testapp.RowModel": 2})


# Denormalized context


@pytest.mark.django_db
def test_denormalized_events_keep_the_metadata_as_it_was_when_written():
    with pghistory.context(source="import") as entered:
        context_id = entered.id
        row = DenormContext.objects.create(int_field=1)
        with pghistory.context(step="second"):
            DenormContext.objects.filter(pk=row.pk).update(int_field=2)

    assert list(
        DenormContextEvent.objects.order_by("pgh_id").values_list(
            "pgh_label", "int_field", "pgh_context_id", "pgh_context"
        )
    ) == [
        ("insert", 1, context_id, {"source": "import"}),
        ("update", 2, context_id, {"source": "import", "step": "second"}),
    ]


@pytest.mark.django_db
def test_denormalized_events_write_no_context_row():
    with pghistory.context(source="import"):
        DenormContext.objects.create(int_field=1)

    assert _contexts() == []


@pytest.mark.django_db
def test_denormalized_event_outside_a_context_has_no_context():
    DenormContext.objects.create(int_field=1)

    assert list(DenormContextEvent.objects.values_list("pgh_context_id", "pgh_context")) == [
        (None, None)
    ]


# Concurrency


@pytest.mark.django_db(transaction=True)
def test_concurrent_threads_each_attach_their_own_context():
    barrier = threading.Barrier(2, timeout=10)

    def write(value):
        with pghistory.context(thread=value):
            barrier.wait()
            RowModel.objects.create(int_field=value)
            barrier.wait()
            RowModel.objects.create(int_field=value + 10)

    threads = [
        threading.Thread(target=_with_own_connection(functools.partial(write, value)))
        for value in (1, 2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    contexts = _contexts_by("thread")
    assert sorted(_events()) == [
        ("insert", 1, contexts[1]),
        ("insert", 2, contexts[2]),
        ("insert", 11, contexts[1]),
        ("insert", 12, contexts[2]),
    ]


@pytest.mark.django_db
def test_concurrent_asyncio_tasks_each_attach_their_own_context():
    async def write(value, entered, other_entered):
        async with pghistory.context(task=value):
            entered.set()
            await other_entered.wait()
            await RowModel.objects.acreate(int_field=value)
            await asyncio.sleep(0)
            await RowModel.objects.acreate(int_field=value + 10)

    async def main():
        first, second = asyncio.Event(), asyncio.Event()
        await asyncio.gather(write(1, first, second), write(2, second, first))

    async_to_sync(main)()

    contexts = _contexts_by("task")
    assert sorted(_events()) == [
        ("insert", 1, contexts[1]),
        ("insert", 2, contexts[2]),
        ("insert", 11, contexts[1]),
        ("insert", 12, contexts[2]),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_plain_thread_does_not_inherit_the_context():
    with pghistory.context(source="import"):
        _in_thread(lambda: RowModel.objects.create(int_field=1))

    assert _events() == [("insert", 1, None)]


@pytest.mark.django_db(transaction=True)
def test_resumed_context_carries_events_into_a_thread():
    def write_resumed(captured):
        with pghistory.resume_context(captured):
            RowModel.objects.create(int_field=2)

    with pghistory.context(source="import"):
        RowModel.objects.create(int_field=1)
        captured = pghistory.capture_context()
        _in_thread(lambda: write_resumed(captured))

    [(context_id, metadata)] = _contexts()
    assert metadata == {"source": "import"}
    assert _events() == [("insert", 1, context_id), ("insert", 2, context_id)]


def test_capture_context_outside_a_context_gives_none():
    assert pghistory.capture_context() is None


@pytest.mark.django_db
def test_resume_context_of_none_attaches_nothing():
    with pghistory.resume_context(None):
        RowModel.objects.create(int_field=1)

    assert _events() == [("insert", 1, None)]
    assert _contexts() == []


# Every way of writing


@pytest.mark.django_db(databases=["default", "other"])
def test_write_through_another_alias_carries_the_context_into_that_database():
    with pghistory.context(source="import"):
        RowModel.objects.using("other").create(int_field=1)

    [(context_id, metadata)] = _contexts(using="other")
    assert metadata == {"source": "import"}
    assert _events(using="other") == [("insert", 1, context_id)]
    assert _contexts(using="default") == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("UPDATE testapp_rowmodel SET int_field = %s", [2]),
        ("UPDATE testapp_rowmodel SET int_field = 2, text_field = '100%'", None),
        ("  /* a comment */\n-- another\nupdate testapp_rowmodel SET int_field = 2", None),
        (
            "WITH changed AS (UPDATE testapp_rowmodel SET int_field = 2 RETURNING id) SELECT 1",
            None,
        ),
    ],
    ids=["with-params", "percent-without-params", "leading-comments", "with-cte"],
)
def test_raw_sql_write_in_a_context_carries_it(sql, params):
    RowModel.objects.create(int_field=1)
    with pghistory.context(source="raw"), connection.cursor() as cursor:
        cursor.execute(sql, params)

    [(context_id, _)] = _contexts()
    assert _events() == [("insert", 1, None), ("update", 2, context_id)]


@pytest.mark.django_db
def test_raw_sql_in_a_context_returns_its_own_rows():
    RowModel.objects.create(int_field=1)
    with pghistory.context(source="raw"), connection.cursor() as cursor:
        cursor.execute("UPDATE testapp_rowmodel SET int_field = %s RETURNING int_field", [2])

        assert cursor.fetchall() == [(2,)]


@pytest.mark.django_db
def test_executemany_in_a_context_carries_it():
    with pghistory.context(source="raw"), connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO testapp_rowmodel"
            " (int_field, bool_field, char_field, text_field, file_field)"
            " VALUES (%s, false, '', '', '')",
            [(1,), (2,)],
        )

    [(context_id, _)] = _contexts()
    assert _events() == [("insert", 1, context_id), ("insert", 2, context_id)]


@pytest.fixture
def server_side_binding():
    """Swap this thread's default connection for one that binds parameters on the server,
    where a write and the context settings cannot share one statement."""
    original = connections["default"]
    settings_dict = copy.deepcopy(original.settings_dict)
    settings_dict["OPTIONS"] = {**settings_dict["OPTIONS"], "server_side_binding": True}
    connections["default"] = type(original)(settings_dict, alias="default")
    try:
        yield
    finally:
        connections["default"].close()
        connections["default"] = original


@pytest.mark.django_db(transaction=True)
def test_writes_with_server_side_binding_carry_the_context(server_side_binding):
    with pghistory.context(source="import"):
        row = RowModel.objects.create(int_field=1)
        RowModel.objects.filter(pk=row.pk).update(int_field=2)

    [(context_id, _)] = _contexts()
    assert _events() == [("insert", 1, context_id), ("update", 2, context_id)]


@pytest.mark.django_db
def test_reads_in_a_context_are_sent_unchanged():
    row = RowModel.objects.create(int_field=1)
    with pghistory.context(source="import"), CaptureQueriesContext(connection) as queries:
        list(RowModel.objects.all())
        RowModel.objects.filter(pk=row.pk).exists()

    assert [query["sql"].split()[0] for query in queries.captured_queries] == ["SELECT"] * 2
    assert not any("pghistory.context" in query["sql"] for query in queries.captured_queries)


@pytest.mark.django_db
def test_writes_in_a_context_are_sent_with_the_context_settings():
    with pghistory.context(source="import"), CaptureQueriesContext(connection) as queries:
        RowModel.objects.create(int_field=1)

    [(context_id, _)] = _contexts()
    [query] = queries.captured_queries
    assert query["sql"].startswith(
        f"SET LOCAL pghistory.context_id = '{context_id}';"
        ' SET LOCAL pghistory.context_metadata = \'{"source": "import"}\'; INSERT'
    )


@pytest.mark.django_db
def test_writes_outside_a_context_are_sent_unchanged():
    with CaptureQueriesContext(connection) as queries:
        RowModel.objects.create(int_field=1)

    [query] = queries.captured_queries
    assert query["sql"].startswith('INSERT INTO "testapp_rowmodel"')


# Manual events


@pytest.mark.django_db
def test_create_event_attaches_the_active_context():
    account = Account.objects.create(owner="Ann", balance=10)
    with pghistory.context(source="audit"):
        pghistory.create_event(account, label="audit")

    [(context_id, metadata)] = _contexts()
    assert metadata == {"source": "audit"}
    assert list(AccountEvent.objects.values_list("pgh_label", "pgh_context_id")) == [
        ("audit", context_id)
    ]


@pytest.mark.django_db
def test_create_event_outside_a_context_has_no_context():
    account = Account.objects.create(owner="Ann", balance=10)
    event = pghistory.create_event(account, label="audit")

    assert event.pgh_context_id is None
    assert _contexts() == []


@pytest.mark.django_db
def test_create_event_copies_the_metadata_into_a_denormalized_event():
    row = DenormContext.objects.create(int_field=1)
    with pghistory.context(source="audit") as entered:
        context_id = entered.id
        event = pghistory.create_event(row, label="insert")

    assert (event.pgh_context_id, event.pgh_context) == (context_id, {"source": "audit"})
    assert DenormContextEvent.objects.get(pgh_id=event.pgh_id).pgh_context == {"source": "audit"}
