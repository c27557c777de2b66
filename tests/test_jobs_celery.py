"""`pghistory.contrib.celery`: a task's events are written in a context of its own that names
the task and carries the enqueuing context's user and lineage, through a real Celery worker
(a child process, prefork pool) on the machine's Redis and the suite's test database.

The tests are transactional: the worker sees only committed rows. Each waits on its tasks'
results with a timeout.
"""

import contextlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from celery import chain, group
from django.contrib.auth.models import User
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.urls import path

import pghistory
from pghistory.models import Context
from tests.jobs import tasks
from tests.jobs.celery_app import BROKER, QUEUE, app
from tests.processes import run_step, suite_database_url
from tests.testapp.models import RowModelEvent

REPO = Path(__file__).resolve().parent.parent
WAIT_S = 60
pytestmark = pytest.mark.django_db(transaction=True)


def enqueue_view(request, value):
    """Enqueues `write(value)` and answers with the task's id."""
    return HttpResponse(tasks.write.delay(value).id)


urlpatterns = [path("enqueue/<int:value>/", enqueue_view)]


@contextlib.contextmanager
def _worker(log: Path, pool: str, queue: str = QUEUE):
    """`celery worker` on `queue`, with the suite's settings on its test database."""
    env = {
        **os.environ,
        "DATABASE_URL": suite_database_url(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PGHISTORY_TEST_QUEUE": QUEUE,
    }
    concurrency = ["--concurrency=2"] if pool != "solo" else []
    command = [
        sys.executable, "-m", "celery", "-A", "tests.jobs.celery_app", "worker",
        f"--pool={pool}", *concurrency, f"--queues={queue}", "--without-gossip", "--without-mingle",
        "--without-heartbeat", "--loglevel=INFO",
    ]  # fmt: skip
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=output, stderr=output)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module", autouse=True)
def broker():
    """The broker must answer: without it a producer would retry for minutes, so say so now."""
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=5)
    except Exception as error:  # any failure to reach the broker
        pytest.fail(
            f"the Celery tests need a Redis server at {BROKER} ({error}); .ci/run starts one",
            pytrace=False,
        )


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, tmp_path_factory):
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    with _worker(log, "prefork") as process:
        yield process


def wait(result):
    """The task's return value, or a failure naming the result's state."""
    return result.get(timeout=WAIT_S)


def context_of(value) -> tuple:
    """(context id, metadata) of the one event that wrote `value`."""
    (event,) = RowModelEvent.objects.filter(int_field=value)
    return event.pgh_context_id, Context.objects.get(id=event.pgh_context_id).metadata


def test_a_task_enqueued_in_a_context_writes_in_its_own_with_the_user_and_lineage(worker):
    with pghistory.context(user=7, url="/orders/") as enqueuing:
        result = tasks.write.delay(1)

    assert wait(result) is not None
    context_id, metadata = context_of(1)
    assert context_id != enqueuing.id
    assert metadata == {
        "task": "tests.jobs.tasks.write",
        "task_id": result.id,
        "user": 7,
        "parent": str(enqueuing.id),
        "origin": str(enqueuing.id),
        "parent_metadata": {"user": 7, "url": "/orders/"},
    }


def test_a_task_enqueued_outside_any_context_names_itself_only(worker):
    result = tasks.write.delay(2)

    assert wait(result) is None
    assert context_of(2)[1] == {"task": "tests.jobs.tasks.write", "task_id": result.id}


def test_a_message_from_a_producer_without_the_app_carries_no_context(worker):
    code = (
        "import django; django.setup(); import pghistory; from tests.jobs import tasks\n"
        "with pghistory.context(user=5):\n    print(tasks.write.delay(3).id)"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.jobs.settings",
        "PGHISTORY_TEST_NO_CELERY_APP": "1",
        "PGHISTORY_TEST_QUEUE": QUEUE,
    }
    task_id = run_step("producer", [sys.executable, "-c", code], REPO, env).stdout.strip()

    assert wait(app.AsyncResult(task_id)) is None
    assert context_of(3)[1] == {"task": "tests.jobs.tasks.write", "task_id": task_id}


def test_a_task_enqueued_by_a_task_points_to_it_and_to_the_origin(worker):
    with pghistory.context(user=7, url="/orders/") as enqueuing:
        result = tasks.write_and_enqueue.delay(10)
    child = app.AsyncResult(wait(result))
    wait(child)

    parent_id, parent = context_of(10)
    child_id, metadata = context_of(11)
    assert parent["origin"] == str(enqueuing.id)
    assert metadata == {
        "task": "tests.jobs.tasks.write",
        "task_id": child.id,
        "user": 7,
        "parent": str(parent_id),
        "origin": str(enqueuing.id),
        "parent_metadata": {
            "task": "tests.jobs.tasks.write_and_enqueue",
            "task_id": result.id,
            "user": 7,
            "parent": str(enqueuing.id),
            "origin": str(enqueuing.id),
        },
    }


def test_each_step_of_a_chain_is_enqueued_from_the_step_before(worker):
    with pghistory.context(user=7) as enqueuing:
        result = chain(tasks.write.si(20), tasks.write.si(21), tasks.write.si(22)).delay()
    wait(result)

    contexts = [context_of(value) for value in (20, 21, 22)]
    assert [metadata["parent"] for _, metadata in contexts] == [
        str(enqueuing.id),
        str(contexts[0][0]),
        str(contexts[1][0]),
    ]
    assert {metadata["origin"] for _, metadata in contexts} == {str(enqueuing.id)}
    assert {metadata["user"] for _, metadata in contexts} == {7}
    assert [metadata["task_id"] for _, metadata in contexts] == [
        result.parent.parent.id,
        result.parent.id,
        result.id,
    ]


def test_each_task_of_a_group_is_enqueued_from_the_caller(worker):
    with pghistory.context(user=7) as enqueuing:
        result = group(tasks.write.si(30), tasks.write.si(31)).delay()
    wait(result)

    contexts = [context_of(value) for value in (30, 31)]
    assert contexts[0][0] != contexts[1][0]
    for (_, metadata), task in zip(contexts, result.results, strict=True):
        assert metadata == {
            "task": "tests.jobs.tasks.write",
            "task_id": task.id,
            "user": 7,
            "parent": str(enqueuing.id),
            "origin": str(enqueuing.id),
            "parent_metadata": {"user": 7},
        }


def test_a_retry_is_a_run_of_its_own_enqueued_from_the_failed_attempt(worker):
    with pghistory.context(user=7, url="/orders/") as enqueuing:
        result = tasks.write_then_retry.delay(40)
    wait(result)

    first_id, first = context_of(40)
    second_id, second = context_of(41)
    assert first == {
        "task": "tests.jobs.tasks.write_then_retry",
        "task_id": result.id,
        "user": 7,
        "parent": str(enqueuing.id),
        "origin": str(enqueuing.id),
        "parent_metadata": {"user": 7, "url": "/orders/"},
    }
    assert second == {
        "task": "tests.jobs.tasks.write_then_retry",
        "task_id": result.id,
        "retries": 1,
        "user": 7,
        "parent": str(first_id),
        "origin": str(enqueuing.id),
        "parent_metadata": {
            key: value for key, value in first.items() if key != "parent_metadata"
        },
    }
    assert second_id != first_id


def test_tasks_of_two_concurrent_requests_never_exchange_contexts(worker, settings):
    settings.ROOT_URLCONF = __name__
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "pghistory.middleware.HistoryMiddleware",
    ]
    users = [User.objects.create(username=f"user{number}") for number in (1, 2)]
    started: dict[int, list] = {user.pk: [] for user in users}
    barrier = threading.Barrier(len(users))

    def requests(user, first_value):
        try:
            client = Client()
            client.force_login(user)
            barrier.wait(timeout=WAIT_S)
            for value in range(first_value, first_value + 10):
                response = client.get(f"/enqueue/{value}/")
                started[user.pk].append((value, response.content.decode()))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=requests, args=(user, 100 * (number + 1)))
        for number, user in enumerate(users)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT_S)

    for user in users:
        assert len(started[user.pk]) == 10
        for value, task_id in started[user.pk]:
            wait(app.AsyncResult(task_id))
            _, metadata = context_of(value)
            assert metadata["task_id"] == task_id
            assert metadata["user"] == user.pk
            assert metadata["parent_metadata"] == {"user": user.pk, "url": f"/enqueue/{value}/"}
    parents = [context_of(value)[1]["parent"] for value in range(100, 110)]
    parents += [context_of(value)[1]["parent"] for value in range(200, 210)]
    assert len(set(parents)) == 20


def test_an_applied_task_runs_in_its_own_context_enqueued_from_the_callers():
    with pghistory.context(user=7) as enqueuing:
        result = tasks.write.apply(args=(50,))
        assert pghistory.capture_context()["id"] == str(enqueuing.id)

    context_id, metadata = context_of(50)
    assert context_id != enqueuing.id
    assert metadata == {
        "task": "tests.jobs.tasks.write",
        "task_id": result.id,
        "user": 7,
        "parent": str(enqueuing.id),
        "origin": str(enqueuing.id),
        "parent_metadata": {"user": 7},
    }


@pytest.mark.parametrize("pool", ["solo", "threads"])
def test_no_context_leaks_from_one_run_to_the_next_in_a_worker(pool, tmp_path):
    queue = f"{QUEUE}-{pool}"  # this worker's alone
    with _worker(tmp_path / "worker.log", pool, queue):
        for value in range(60, 66, 2):
            with pghistory.context(user=7):
                wait(tasks.write.apply_async((value,), queue=queue))
            wait(tasks.write.apply_async((value + 1,), queue=queue))

    for value in range(60, 66, 2):
        assert context_of(value)[1]["user"] == 7
        assert set(context_of(value + 1)[1]) == {"task", "task_id"}
    assert len({context_of(value)[0] for value in range(60, 66)}) == 6
