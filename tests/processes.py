"""What the tests that run real child processes share: running a step and showing its output
when it fails, a database of their own on the suite's server, and a `runserver` to browse."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
import pytest
from django.db import connection

import devdb


def run_step(what, command, cwd, env=None, timeout=300, input=None) -> subprocess.CompletedProcess:
    """Run a command; a failure is an AssertionError showing its stdout and stderr."""
    command = [str(part) for part in command]
    try:
        return subprocess.run(
            command,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=timeout,
            input=input,
        )
    except subprocess.CalledProcessError as error:
        raise AssertionError(
            f"{what} failed (exit {error.returncode}): {' '.join(command)}\n"
            f"--- stdout\n{error.stdout}\n--- stderr\n{error.stderr}"
        ) from None
    except subprocess.TimeoutExpired as error:
        raise AssertionError(
            f"{what} took more than {timeout}s: {' '.join(command)}\n"
            f"--- stdout\n{error.stdout}\n--- stderr\n{error.stderr}"
        ) from None


@contextlib.contextmanager
def own_database(prefix: str, template: str | None = None):
    """A new database on the suite's server (as tests/settings.py finds it), as Django's
    `DATABASES["default"]`, a copy of the database `template` if given; dropped after."""
    url = devdb.database_url()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    server = devdb._connect(**devdb._connect_kwargs(url, dbname="postgres"))
    try:
        copy = f' TEMPLATE "{template}"' if template else ""
        server.cursor().execute(f'CREATE DATABASE "{name}"{copy}')
        database = dj_database_url.parse(url, engine="django.db.backends.postgresql")
        database["NAME"] = name
        yield database
    finally:
        server.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.close()


def suite_database_url() -> str:
    """The URL of the suite's test database (the `default` alias's), for child processes."""
    url = urlsplit(devdb.database_url())
    return urlunsplit(url._replace(path="/" + connection.settings_dict["NAME"]))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def runserver(manage: Path, cwd: Path, env: dict, log: Path, *options: str):
    """`manage.py runserver [options]` on a free port, serving until the block ends; yields
    its URL."""
    port = free_port()
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, manage, "runserver", "--noreload", *options, f"127.0.0.1:{port}"],
            cwd=cwd,
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    pytest.fail(f"runserver exited: {log}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail(f"runserver did not start listening within 60 s: {log}")
                    time.sleep(0.2)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=10)
