"""Helpers shared by the orchestrator and the workers of both sides.

Nothing here imports Django or pghistory: `run.py` imports this module in the project's
virtualenv, and the upstream worker imports it in `bench/.venv-upstream`.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from urllib.parse import unquote, urlsplit

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/pghistory_bench"


def log(message: str) -> None:
    """A progress line, on standard error (standard output carries results)."""
    print(message, file=sys.stderr, flush=True)


def base_url() -> str:
    """The benchmark database of our library: `$DATABASE_URL`, or the machine's Postgres."""
    return os.environ.get("DATABASE_URL") or DEFAULT_URL


def with_database(url: str, name: str) -> str:
    """`url` pointing at another database on the same server."""
    parts = urlsplit(url)
    return parts._replace(path="/" + name).geturl()


def database_name(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/")) or "postgres"


def in_own_database(url: str, suffix: str, recreate, run_child, script: str, args) -> dict:
    """Run the measuring `script` (with `args`) in a fresh database named after the bench
    database's with `suffix`; return its JSON results, with that database's name."""
    own_url = with_database(url, database_name(url) + suffix)
    recreate(own_url)
    result = run_child(script, args, own_url)
    result["database"] = database_name(own_url)
    return result


def django_database(url: str) -> dict:
    """A Django `DATABASES` entry for a postgres:// URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise ValueError(f"not a PostgreSQL URL: {url}")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": database_name(url),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": None,
    }


def libpq_kwargs(url: str) -> dict:
    """Connection keywords for psycopg, from a postgres:// URL."""
    entry = django_database(url)
    kwargs = {"dbname": entry["NAME"], "user": entry["USER"] or None}
    if entry["PASSWORD"]:
        kwargs["password"] = entry["PASSWORD"]
    if entry["HOST"]:
        kwargs["host"] = entry["HOST"]
    if entry["PORT"]:
        kwargs["port"] = entry["PORT"]
    return {key: value for key, value in kwargs.items() if value is not None}


def table(headers: list[str], rows: list[list]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def median(values: list[float]) -> float | None:
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else None


class Stopwatch:
    """`with Stopwatch() as watch: ...` then `watch.seconds`."""

    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        self.seconds = None
        return self

    def __exit__(self, *exc_info) -> None:
        self.seconds = time.perf_counter() - self.started
