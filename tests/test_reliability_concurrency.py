"""Concurrent writers and killed connections: no event is lost, duplicated, misattributed, or
left behind by work that never committed.

Concurrent writers all update the same "shared" rows of `RowModel` (row-level triggers) and
`StatementModel` (statement-level triggers): each write increments `int_field` and stamps
`text_field` with the writer's tag, so every update event says which write made it, and the
increments it records must be exactly 1..N, once each. Each event's context must be the one
of the request (or `pghistory.context` block) whose tag the event carries.

Threads use their own database connections and close them when they finish; asyncio tasks
share the one connection of the thread that runs their event loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, defaultdict

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth import get_user_model
from django.db import InterfaceError, OperationalError, connection, connections, transaction
from django.db.models import F
from django.http import HttpResponse
from django.test import AsyncClient, Client
from django.urls import path

import pghistory
from pghistory.models import Context
from tests.testapp.models import RowModel, StatementModel

#: Writers of each kind: threads, and asyncio tasks.
WRITERS = 8
#: Requests (or context blocks) per writer.
ROUNDS = 4
#: Rows of each model that every write updates.
SHARED = 3
TRACKED_MODELS = (RowModel, StatementModel)


def untracked(round_number):
    """Rounds sent with OPTIONS, a method `HistoryMiddleware` leaves without a context."""
    return round_number == 1


# Views (this module is the URLconf of the request tests)


def _update_shared(tag):
    """Increment every shared row of both models in one transaction, locking them in primary
    key order first so that concurrent writers queue instead of deadlocking."""
    with transaction.atomic():
        for model in TRACKED_MODELS:
            pks = list(
                model.objects.select_for_update()
                .filter(char_field="s")
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            model.objects.filter(pk__in=pks).update(int_field=F("int_field") + 1, text_field=tag)


def write_rows(tag):
    """One write: insert a row of each model (autocommitted) and update the shared rows."""
    RowModel.objects.create(text_field=tag)
    _update_shared(tag)
    StatementModel.objects.create(text_field=tag)


async def awrite_rows(tag):
    """`write_rows` with the async ORM."""
    await RowModel.objects.acreate(text_field=tag)
    await sync_to_async(_update_shared)(tag)
    await StatementModel.objects.acreate(text_field=tag)


def write(request, tag):
    write_rows(tag)
    return HttpResponse(tag)


async def awrite(request, tag):
    await awrite_rows(tag)
    return HttpResponse(tag)


urlpatterns = [
    path("reliability/<str:tag>/", write),
    path("reliability/async/<str:tag>/", awrite),
]


# Helpers


@pytest.fixture
def history_site(settings):
    """This module's URLs behind `HistoryMiddleware`, placed after authentication."""
    settings.ROOT_URLCONF = __name__
    middleware = list(settings.MIDDLEWARE)
    auth = middleware.index("django.contrib.auth.middleware.AuthenticationMiddleware")
    middleware.insert(auth + 1, "pghistory.middleware.HistoryMiddleware")
    settings.MIDDLEWARE = middleware
    return settings


def create_shared_rows():
    """`SHARED` rows of each model that every writer updates; their events have no context."""
    return {
        model: [
            obj.pk
            for obj in model.objects.bulk_create(
                [model(char_field="s", int_field=0) for _ in range(SHARED)]
            )
        ]
        for model in TRACKED_MODELS
    }


def closing_connections(target, errors):
    """`target`, recording what it raises in `errors` and closing the connections it opened
    in its thread when it ends."""

    def run():
        try:
            target()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    return run


def run_threads(targets):
    """Run each target in its own thread and wait for them; return what they raised."""
    errors = []
    threads = [threading.Thread(target=closing_connections(target, errors)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    return errors


def events(model):
    """(label, pgh_obj_id, int_field, text_field, pgh_context_id) of every event."""
    return list(
        model.pgh_event_model.objects.order_by("pgh_id").values_list(
            "pgh_label", "pgh_obj_id", "int_field", "text_field", "pgh_context_id"
        )
    )


def check_shared_history(shared, writes):
    """Each shared row was incremented by exactly `writes` writes, and its update events record
    each increment once, stamped with the tag of the write that made it."""
    for model in TRACKED_MODELS:
        updates = defaultdict(list)
        for label, obj_id, int_field, text_field, _ in events(model):
            if label == "update":
                updates[obj_id].append((int_field, text_field))
        assert sorted(updates) == shared[model]
        for obj_id, increments in updates.items():
            assert sorted(value for value, _ in increments) == list(range(1, writes + 1))
            # Each write stamped each shared row once.
            assert len({tag for _, tag in increments}) == writes
            assert writers_overlapped([tag for _, tag in sorted(increments)])
            last_value, last_tag = max(increments)
            assert model.objects.filter(pk=obj_id).values_list(
                "int_field", "text_field"
            ).get() == (last_value, last_tag)


def writers_overlapped(tags):
    """True when some writer's writes to a row were interleaved with another writer's: the
    writers really ran at the same time."""
    positions = defaultdict(list)
    for position, tag in enumerate(tags):
        positions[tag.split("-")[0]].append(position)
    return any(
        first < position < last
        for writer, (first, *_, last) in positions.items()
        for other, other_positions in positions.items()
        if other != writer
        for position in other_positions
    )


def check_attribution(tag_of_context, tracked_tags, untracked_tags):
    """Every event carries the context of the write whose tag it holds (none for untracked
    writes), and each write left exactly its own events: one insert and `SHARED` updates per
    model."""
    expected = Counter()
    for tag in [*tracked_tags, *untracked_tags]:
        context = tag if tag in tracked_tags else None
        expected[("insert", tag, context)] += 1
        expected[("update", tag, context)] += SHARED
    for model in TRACKED_MODELS:
        actual = Counter(
            (label, text_field, tag_of_context[context_id] if context_id else None)
            for label, _, _, text_field, context_id in events(model)
            if text_field  # the shared rows' own inserts carry no tag
        )
        assert actual == expected, model.__name__
        # One inserted row per write.
        inserted = Counter(
            model.objects.exclude(char_field="s").values_list("text_field", flat=True)
        )
        assert inserted == Counter([*tracked_tags, *untracked_tags])


# Requests through HistoryMiddleware


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_keep_every_event_with_its_own_requests_context(history_site):
    """8 threads (the sync test client) and 8 asyncio tasks (the async client, async view)
    each send 4 requests, every one updating the same shared rows; each writer is its own
    logged-in user. The second request of each writer uses OPTIONS, which the middleware does
    not track, on the connection its tracked requests used before."""
    shared = create_shared_rows()
    user_model = get_user_model()
    users = {
        writer: user_model.objects.create_user(username=writer)
        for writer in [f"w{n}" for n in range(WRITERS)] + [f"t{n}" for n in range(WRITERS)]
    }
    start = threading.Barrier(WRITERS + 1, timeout=30)
    statuses = []  # appended from several threads

    def thread_writer(writer):
        client = Client()
        client.force_login(users[writer])
        start.wait()
        for round_number in range(ROUNDS):
            send = client.options if untracked(round_number) else client.post
            response = send(f"/reliability/{writer}-{round_number}/")
            statuses.append(response.status_code)

    async def task_writer(client, writer):
        for round_number in range(ROUNDS):
            send = client.options if untracked(round_number) else client.post
            response = await send(f"/reliability/async/{writer}-{round_number}/")
            statuses.append(response.status_code)

    def tasks():
        # Sync code the tasks call (the ORM, the views' transactions) runs in this thread,
        # on its one connection.
        writers = [f"t{n}" for n in range(WRITERS)]
        clients = {writer: AsyncClient() for writer in writers}

        async def log_in():
            for writer, client in clients.items():
                await client.aforce_login(users[writer])

        async def write_all():
            await asyncio.gather(*(task_writer(clients[w], w) for w in writers))

        async_to_sync(log_in)()
        start.wait()
        async_to_sync(write_all)()

    targets = [lambda writer=f"w{n}": thread_writer(writer) for n in range(WRITERS)]
    errors = run_threads([*targets, tasks])

    assert errors == []
    requests = 2 * WRITERS * ROUNDS
    assert statuses == [200] * requests

    # One context per tracked request, holding that request's user and URL.
    tag_of_context = {}
    for context_id, metadata in Context.objects.values_list("id", "metadata"):
        url = metadata["url"]
        tag = url.rstrip("/").rsplit("/", 1)[1]
        writer = tag.split("-")[0]
        prefix = "/reliability/async/" if writer.startswith("t") else "/reliability/"
        assert metadata == {"user": users[writer].pk, "url": f"{prefix}{tag}/"}
        tag_of_context[context_id] = tag
    all_tags = [f"{w}-{r}" for w in users for r in range(ROUNDS)]
    tracked_tags = [tag for tag in all_tags if not untracked(int(tag.split("-")[1]))]
    untracked_tags = [tag for tag in all_tags if untracked(int(tag.split("-")[1]))]
    assert sorted(tag_of_context.values()) == sorted(tracked_tags)

    check_attribution(tag_of_context, tracked_tags, untracked_tags)
    check_shared_history(shared, writes=requests)


# pghistory.context blocks


@pytest.mark.django_db(transaction=True)
def test_concurrent_context_blocks_keep_every_event_with_its_own_context():
    """The same writes without HTTP: threads on their own connections, asyncio tasks
    interleaving on one. Each round is its own `pghistory.context`, except the untracked round,
    which writes outside any context right after one, on the same connection."""
    shared = create_shared_rows()
    start = threading.Barrier(WRITERS + 1, timeout=30)
    context_tags = {}  # context id -> tag, as each block saw it

    def thread_writer(writer):
        start.wait()
        for round_number in range(ROUNDS):
            tag = f"{writer}-{round_number}"
            if untracked(round_number):
                write_rows(tag)
                continue
            with pghistory.context(tag=tag) as active:
                context_tags[active.id] = tag
                write_rows(tag)

    async def task_writer(writer):
        for round_number in range(ROUNDS):
            tag = f"{writer}-{round_number}"
            if untracked(round_number):
                await awrite_rows(tag)
                continue
            async with pghistory.context(tag=tag) as active:
                context_tags[active.id] = tag
                await asyncio.sleep(0)
                await awrite_rows(tag)

    def tasks():
        async def write_all():
            await asyncio.gather(*(task_writer(f"t{n}") for n in range(WRITERS)))

        start.wait()
        async_to_sync(write_all)()

    targets = [lambda writer=f"w{n}": thread_writer(writer) for n in range(WRITERS)]
    errors = run_threads([*targets, tasks])

    assert errors == []
    tag_of_context = {
        context_id: metadata["tag"]
        for context_id, metadata in Context.objects.values_list("id", "metadata")
    }
    assert tag_of_context == context_tags
    all_tags = [f"{w}{n}-{r}" for w in "wt" for n in range(WRITERS) for r in range(ROUNDS)]
    tracked_tags = [tag for tag in all_tags if not untracked(int(tag.split("-")[1]))]
    untracked_tags = [tag for tag in all_tags if untracked(int(tag.split("-")[1]))]
    check_attribution(tag_of_context, tracked_tags, untracked_tags)
    check_shared_history(shared, writes=len(all_tags))


# A connection killed in the middle of a transaction


def _poll(query, params, expect, timeout=10.0):
    """Run `query` on the test's connection until it returns `expect`."""
    deadline = time.monotonic() + timeout
    while True:
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            result = cursor.fetchall()
        if result == expect:
            return
        assert time.monotonic() < deadline, f"{query} gave {result}, not {expect}"
        time.sleep(0.02)


def _history(model):
    """(label, pgh_obj_id, int_field, context step) of every event, oldest first."""
    steps = dict(Context.objects.values_list("id", "metadata__step"))
    return [
        (label, obj_id, int_field, steps[context_id] if context_id else None)
        for label, obj_id, int_field, _, context_id in events(model)
    ]


@pytest.mark.parametrize("moment", ["idle in transaction", "inside the event trigger"])
@pytest.mark.django_db(transaction=True)
def test_a_connection_killed_mid_transaction_leaves_only_committed_history(moment):
    """A writer commits a transaction and an autocommitted statement, then its backend is
    terminated with `pg_terminate_backend` while a second transaction is open: idle after
    writing to both models, or blocked inside `StatementModel`'s statement-level trigger (its
    event table is locked by another connection, so the trigger's INSERT waits). Only the
    committed work has events, and the killed transaction's context row does not exist."""
    rows = {
        model: [
            obj.pk for obj in model.objects.bulk_create([model(int_field=0), model(int_field=0)])
        ]
        for model in TRACKED_MODELS
    }
    committed, proceed, idle, killed = (threading.Event() for _ in range(4))
    created, observed = {}, {}

    def writer():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            observed["pid"] = cursor.fetchone()[0]
        with pghistory.context(step="committed"):
            with transaction.atomic():
                for model in TRACKED_MODELS:
                    kept, deleted = rows[model]
                    model.objects.filter(pk=kept).update(int_field=1)
                    created[model] = model.objects.create(int_field=2).pk
                    model.objects.filter(pk=deleted).delete()
            # Autocommitted.
            RowModel.objects.filter(pk=created[RowModel]).update(int_field=3)
        committed.set()
        assert proceed.wait(10)
        try:
            with pghistory.context(step="killed"), transaction.atomic():
                RowModel.objects.filter(pk=rows[RowModel][0]).update(int_field=10)
                RowModel.objects.create(int_field=11)
                # In the trigger case, this blocks until the backend is killed.
                StatementModel.objects.filter(pk=rows[StatementModel][0]).update(int_field=10)
                StatementModel.objects.create(int_field=11)
                idle.set()
                assert killed.wait(10)
                RowModel.objects.create(int_field=12)
        except Exception as exc:
            observed["error"] = exc

    errors = []
    thread = threading.Thread(target=closing_connections(writer, errors))
    thread.start()
    assert committed.wait(10)
    pid = observed["pid"]
    event_table = StatementModel.pgh_event_model._meta.db_table
    blocker = connection.copy()
    try:
        if moment == "inside the event trigger":
            blocker.set_autocommit(False)
            with blocker.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {event_table} IN EXCLUSIVE MODE")
        proceed.set()
        if moment == "idle in transaction":
            assert idle.wait(10)
            _poll(
                "SELECT state FROM pg_stat_activity WHERE pid = %s",
                [pid],
                [("idle in transaction",)],
            )
        else:
            # The writer waits for the lock on the event table: inside the trigger, after its
            # UPDATE changed the rows.
            _poll(
                "SELECT relation::regclass::text FROM pg_locks WHERE pid = %s AND NOT granted",
                [pid],
                [(event_table,)],
            )
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            assert cursor.fetchone() == (True,)
        _poll("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid], [(0,)])
    finally:
        killed.set()
        proceed.set()
        if blocker.connection is not None:
            blocker.rollback()
        blocker.close()
        thread.join(30)

    assert errors == []
    assert isinstance(observed.get("error"), OperationalError | InterfaceError), observed
    # Only the idle writer got past the blocked statement.
    assert idle.is_set() is (moment == "idle in transaction")

    kept, deleted = rows[RowModel]
    new = created[RowModel]
    assert _history(RowModel) == [
        ("insert", kept, 0, None),
        ("insert", deleted, 0, None),
        ("update", kept, 1, "committed"),
        ("insert", new, 2, "committed"),
        ("delete", deleted, 0, "committed"),
        ("update", new, 3, "committed"),
    ]
    assert sorted(RowModel.objects.values_list("pk", "int_field")) == [(kept, 1), (new, 3)]
    kept, deleted = rows[StatementModel]
    new = created[StatementModel]
    assert _history(StatementModel) == [
        ("insert", kept, 0, None),
        ("insert", deleted, 0, None),
        ("update", kept, 1, "committed"),
        ("insert", new, 2, "committed"),
        ("delete", deleted, 0, "committed"),
    ]
    assert sorted(StatementModel.objects.values_list("pk", "int_field")) == [(kept, 1), (new, 2)]
    assert list(Context.objects.values_list("metadata", flat=True)) == [{"step": "committed"}]
