"""The example project's plain `python example_project/manage.py runserver` serves the site's
CSS and JS (DEBUG off, no `--insecure`), as `./run demo` does: the site's own URLs serve them
while `SERVE_STATIC` is on (the default), and not when `DJANGO_SERVE_STATIC=0`.

Each test starts the real command in a child process, on the example project's own settings,
and fetches files over HTTP.
"""

import contextlib
import itertools
import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

import devdb
from tests import processes

REPO = Path(__file__).resolve().parent.parent
MANAGE = REPO / "example_project" / "manage.py"


def fetch(url: str) -> tuple[int, str, bytes]:
    """(status, content type, body) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


@pytest.fixture
def runserver(tmp_path, db):
    """Starts `manage.py runserver` with the given environment, on the suite's test database
    (runserver reads the migrations there); returns its base URL."""
    database = urlsplit(devdb.database_url())
    database_url = urlunsplit(database._replace(path="/" + connection.settings_dict["NAME"]))

    numbers = itertools.count()
    with contextlib.ExitStack() as servers:

        def start(**environment) -> str:
            env = {**os.environ, "DATABASE_URL": database_url, **environment}
            env.pop("DJANGO_SETTINGS_MODULE", None)  # manage.py's own: example_project.settings
            env.pop("DJANGO_DEBUG", None)
            log = tmp_path / f"runserver-{next(numbers)}.log"
            return servers.enter_context(processes.runserver(MANAGE, tmp_path, env, log))

        yield start


def test_plain_runserver_serves_the_history_uis_and_the_admins_css(runserver):
    base = runserver()

    for path, source in [
        ("/static/pghistory_admin/pghistory.css", REPO / "static/pghistory_admin/pghistory.css"),
        ("/static/pghistory_admin/pghistory.js", REPO / "static/pghistory_admin/pghistory.js"),
        ("/static/admin/css/base.css", None),
    ]:
        status, content_type, body = fetch(base + path)
        assert status == 200, path
        assert content_type.split(";")[0] in ("text/css", "text/javascript"), path
        if source is not None:
            assert body == source.read_bytes()
        assert body


def test_plain_runserver_serves_no_missing_file_and_nothing_outside_the_static_folders(runserver):
    base = runserver()

    assert fetch(base + "/static/pghistory_admin/missing.css")[0] == 404
    for path in ["/static/../example_project/settings.py", "/static/%2e%2e/devdb.py"]:
        status, _, body = fetch(base + path)
        assert status in (400, 404), path
        assert b"import" not in body


def test_static_files_are_not_served_with_serve_static_off(runserver):
    base = runserver(DJANGO_SERVE_STATIC="0")

    assert fetch(base + "/static/pghistory_admin/pghistory.css")[0] == 404
