"""`PGHISTORY_COMMAND_CONTEXT`: a `manage.py` run writes in a context naming the command, its
arguments without secret values and the operating system user; `shell` too. Each test runs
`python -m django` for real in a child process on the suite's test database (transactional
tests: the child sees committed rows and writes its own)."""

import getpass
import os
import sys
from pathlib import Path

import pytest

from pghistory.command_context import redacted_argv
from pghistory.models import Context
from tests.processes import run_step, suite_database_url
from tests.testapp.models import RowModelEvent

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db(transaction=True)


def manage(*args, settings="tests.jobs.settings", **environment):
    env = {
        **os.environ,
        "DATABASE_URL": suite_database_url(),
        "DJANGO_SETTINGS_MODULE": settings,
        **environment,
    }
    return run_step("manage.py", [sys.executable, "-m", "django", *args], REPO, env)


def contexts_of_events() -> list:
    """The metadata of each `RowModel` event's context (None without one), oldest first."""
    return [
        None
        if event.pgh_context_id is None
        else Context.objects.get(id=event.pgh_context_id).metadata
        for event in RowModelEvent.objects.order_by("pgh_id")
    ]


def test_a_command_writes_in_a_context_naming_it_its_arguments_and_the_os_user():
    manage("write_rows", "2", "--label", "nightly")

    metadata = {
        "command": "write_rows",
        "argv": ["2", "--label", "nightly"],
        "os_user": getpass.getuser(),
        "rows": 2,
    }
    assert contexts_of_events() == [metadata, metadata]
    assert Context.objects.count() == 1


def test_secret_values_in_a_commands_arguments_are_not_stored():
    manage(
        "write_rows", "1", "SECRET_KEY=abc", "COLOR=red", "--api-key", "k-123",
        "--password=hunter2", "--database-url", "postgres://app:s3cret@db.example/shop",
    )  # fmt: skip

    (metadata,) = contexts_of_events()
    assert metadata["argv"] == [
        "1", "SECRET_KEY=***", "COLOR=red", "--api-key", "***",
        "--password=***", "--database-url", "postgres://app:***@db.example/shop",
    ]  # fmt: skip


def test_a_shell_session_writes_in_a_context_naming_the_shell_and_the_os_user():
    code = "from tests.testapp.models import RowModel; RowModel.objects.create(int_field=1)"
    manage("shell", "-c", code)

    assert contexts_of_events() == [
        {"command": "shell", "argv": ["-c", code], "os_user": getpass.getuser()}
    ]


def test_an_excluded_command_writes_without_a_context():
    manage("write_rows", "1", PGHISTORY_TEST_EXCLUDE="runserver,write_rows")

    assert contexts_of_events() == [None]


def test_commands_write_without_a_context_when_the_setting_is_off():
    code = "from tests.testapp.models import RowModel; RowModel.objects.create(int_field=1)"
    manage("shell", "-c", code, settings="tests.settings")

    assert contexts_of_events() == [None]


@pytest.mark.parametrize(
    ("argv", "stored"),
    [
        (["--token", "t", "--verbosity", "2"], ["--token", "***", "--verbosity", "2"]),
        (
            ["--access_token=t", "--client-secret", "s"],
            ["--access_token=***", "--client-secret", "***"],
        ),
        (["--no-auth", "--force"], ["--no-auth", "--force"]),
        (["--passwd", "p", "x"], ["--passwd", "***", "x"]),
        (
            ["redis://:pw@host:6379/0", "https://host/a:b@c"],
            ["redis://:***@host:6379/0", "https://host/a:b@c"],
        ),
        (["--keyword", "k", "db_password=p"], ["--keyword", "k", "db_password=***"]),
    ],
)
def test_redacted_arguments(argv, stored):
    assert redacted_argv(argv) == stored
