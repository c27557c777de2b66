"""`pghistory.contrib.tasks`: each run of a task of Django's tasks framework (the django-tasks
backport here) writes in a context of its own naming the task; with the immediate backend,
which runs the task where it is enqueued, the run also carries the enqueuing context's user
and lineage."""

import pytest

import pghistory
from pghistory.models import Context
from tests.jobs import framework_tasks
from tests.testapp.models import RowModelEvent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def immediate_backend(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


def context_of(value) -> tuple:
    """(context id, metadata) of the one event that wrote `value`."""
    (event,) = RowModelEvent.objects.filter(int_field=value)
    return event.pgh_context_id, Context.objects.get(id=event.pgh_context_id).metadata


def test_a_task_enqueued_in_a_context_runs_in_its_own_with_the_user_and_lineage():
    with pghistory.context(user=7, url="/orders/") as enqueuing:
        result = framework_tasks.write.enqueue(1)
        assert pghistory.capture_context()["id"] == str(enqueuing.id)

    context_id, metadata = context_of(1)
    assert context_id != enqueuing.id
    assert metadata == {
        "task": "tests.jobs.framework_tasks.write",
        "task_id": result.id,
        "user": 7,
        "parent": str(enqueuing.id),
        "origin": str(enqueuing.id),
        "parent_metadata": {"user": 7, "url": "/orders/"},
    }


def test_a_task_enqueued_outside_any_context_names_itself_only():
    result = framework_tasks.write.enqueue(2)

    assert context_of(2)[1] == {"task": "tests.jobs.framework_tasks.write", "task_id": result.id}
    assert pghistory.capture_context() is None


def test_a_task_enqueued_by_a_task_points_to_it_and_to_the_origin():
    with pghistory.context(user=7) as enqueuing:
        result = framework_tasks.write_and_enqueue.enqueue(10)

    parent_id, parent = context_of(10)
    _, child = context_of(11)
    assert parent["task_id"] == result.id
    assert child["parent"] == str(parent_id)
    assert child["origin"] == str(enqueuing.id)
    assert child["user"] == 7
    assert child["parent_metadata"]["task"] == "tests.jobs.framework_tasks.write_and_enqueue"


def test_a_failed_task_leaves_its_context():
    with pghistory.context(user=7) as enqueuing:
        result = framework_tasks.write_and_fail.enqueue(20)
        assert pghistory.capture_context()["id"] == str(enqueuing.id)

    assert result.status == "FAILED"
    assert context_of(20)[1]["task_id"] == result.id
    assert pghistory.capture_context() is None
