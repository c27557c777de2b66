"""The example project under load: a production WSGI server, concurrent writers and readers,
and every write checked against the history afterwards.

`run.py --only load` (and the full run) calls `run()`, which recreates a database of its own
(the bench database's name + `_load`) and runs this file in a subprocess:

    python bench/load.py --events N --seconds S --alone-seconds A [--writers W --readers R
        --workers K] --out FILE

It migrates the example project there and fills the shop and its history with `history.py`
(N events, 1,000,000 by default), adds W staff users for the writers and a superuser for the
readers, and serves `example_project.wsgi` with gunicorn (K sync workers, 127.0.0.1, a free
port, the project's own settings). Clients (`load_client.py`, a process each) sign in through
the admin's login form, then request pages one after another: writers edit orders, products
and customers through the shop's views, readers read the history UI. First one reader alone,
then one writer alone, for A seconds each (what each page takes with no other request); then
W writers and R readers together for S seconds. Each request's time is taken by its client
(send to last byte) and by gunicorn (its access log's request time, with the client's page
kind and phase in headers). Afterwards every event written
since the clients started is read back and matched to the writes: each write must have left
exactly its events, each in a context with the writer's user and the write's URL.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import benchutil
from benchutil import log, median

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
EVENTS = 1_000_000
QUICK_EVENTS = 100_000
SECONDS = 60
QUICK_SECONDS = 15
#: Seconds one reader, then one writer, run alone before the load.
ALONE_SECONDS = 15
QUICK_ALONE_SECONDS = 5
WRITERS = 4
READERS = 4
WORKERS = 4
#: The objects each writer owns (no other writer touches them), at most, of each model.
OWNED = 500
#: Seconds gunicorn may take to answer, clients to sign in, and clients to finish after
#: their time is up (a request in flight may take up to load_client.REQUEST_TIMEOUT_S).
START_TIMEOUT_S = 60
FINISH_TIMEOUT_S = 90
#: The shop's event tables the writers write to (and that are checked afterwards).
CHECKED_TABLES = (
    "shop_customerevent",
    "shop_productevent",
    "shop_producttagevent",
    "shop_orderevent",
    "shop_orderlineevent",
    "shop_staffmemberevent",  # (none expected: signing in changes no tracked field)
)
PR_SET_PDEATHSIG = 1  # (linux/prctl.h)
ACCESS_LOG_FORMAT = '%(D)s "%({x-bench-phase}i)s" "%({x-bench-kind}i)s" %(s)s'
COUNTS = ("events", "matched", "lost", "duplicated", "crossed", "unexplained")


# -- run.py's side (no Django here) -----------------------------------------------------------


def run(config, url: str, recreate, run_child, log) -> dict:
    """Measure in a fresh `<bench database>_load` database; return the JSON results."""
    events = QUICK_EVENTS if config.quick else EVENTS
    log(
        f"bench: the example project under load for {config.load_seconds} s"
        f" ({events:,} events of history)"
    )
    alone = QUICK_ALONE_SECONDS if config.quick else ALONE_SECONDS
    args = ["--events", str(events), "--seconds", str(config.load_seconds)]
    args += ["--alone-seconds", str(alone)]
    return benchutil.in_own_database(url, "_load", recreate, run_child, "load.py", args)


def failures(measured: dict) -> dict:
    """What must be zero: errors, and events lost, duplicated, crossed or unexplained."""
    check = measured["check"]
    return {
        "errors": measured["errors"],
        **{name: check[name] for name in ("lost", "duplicated", "crossed", "unexplained")},
    }


def markdown(results: dict) -> str:
    """The load section of the report ("" when the part did not run)."""
    measured = results.get("load")
    if not measured:
        return ""
    rows = [row(kind, kind["kind"]) for kind in measured["kinds"]]
    rows.append(row(measured["total"], "**all**"))
    headers = [
        "page",
        "requests",
        "per s",
        "client p50 ms",
        "client p99 ms",
        "server p50 ms",
        "server p99 ms",
        "alone: client p50 ms",
        "alone: server p50 ms",
        "client p50 ÷ alone",
        "errors",
    ]
    check = measured["check"]
    verdict = "PASS" if not any(failures(measured).values()) else "FAIL"
    return (
        "\n## Under load\n\n"
        f"The example project (`example_project.wsgi`, its own settings) served by gunicorn"
        f" {measured['gunicorn']} with {measured['workers']} sync workers on 127.0.0.1, over a"
        f" history of {measured['history_events']:,} events, in the database"
        f" `{measured['database']}` (see `bench/load.py`). {measured['writers']} writers, each"
        f" signed in as its own staff user, and {measured['readers']} readers (a superuser),"
        " each a process requesting one page after another for"
        f" {measured['seconds']:.0f} s. Client ms: from sending the request to its answer's"
        " last byte, queueing for a free worker included; server ms: gunicorn's request time."
        f" *Alone*: the same pages just before, one reader and then one writer by itself"
        f" ({measured['alone_seconds']:.0f} s each, {measured['alone']['total']['requests']:,}"
        " requests). The exports are one day of the orders' events (CSV, "
        f"{measured['export_rows']['order']:,} rows) and of the customers' (JSON Lines,"
        f" {measured['export_rows']['customer']:,} rows), {measured['export_day']}."
        f" The machine's load average was {measured['load_average']} before the run.\n\n"
        + benchutil.table(headers, rows)
        + f"\nAfterwards, {check['writes']:,} writes of both phases ({check['expected']:,} events expected),"
        f" {check['events']:,} events in the shop's tables since the clients started:"
        f" {check['matched']:,} matched to their write with the writer's user and URL,"
        f" {check['lost']} lost, {check['duplicated']} duplicated, {check['crossed']} crossed"
        " (wrong user or URL, no context, or a context shared with another write),"
        f" {check['unexplained']} written by no write;"
        f" {measured['errors']} errors. {verdict}.\n"
    )


def row(kind: dict, name: str) -> list:
    """A line of the load table: a page kind's (or all requests') figures."""
    return [
        name,
        f"{kind['requests']:,}",
        f"{kind['per_s']:.1f}",
        f"{kind['client_p50_ms']:.0f}",
        f"{kind['client_p99_ms']:.0f}",
        fmt_ms(kind["server_p50_ms"]),
        fmt_ms(kind["server_p99_ms"]),
        fmt_ms(kind.get("alone_client_p50_ms")),
        fmt_ms(kind.get("alone_server_p50_ms")),
        fmt_ratio(kind["client_p50_ms"], kind.get("alone_client_p50_ms")),
        kind["errors"],
    ]


def fmt_ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def fmt_ratio(value: float, alone: float | None) -> str:
    return "–" if alone is None else f"{value / alone:.1f}"


# -- the measuring subprocess -----------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--alone-seconds", type=float, default=ALONE_SECONDS)
    parser.add_argument("--writers", type=int, default=WRITERS)
    parser.add_argument("--readers", type=int, default=READERS)
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import ours

    ours.setup(os.environ.get("DJANGO_SETTINGS_MODULE", "ours.reads_settings"))
    import history

    shop = history.History(args.events, log=log)
    shop.create_objects()
    shop.grow(args.events)
    shop.finish()
    history_events = shop.count()
    log(f"bench: load: a history of {history_events:,} events")

    with tempfile.TemporaryDirectory(prefix="pghistory-load-") as scratch:
        scratch = Path(scratch)
        plan = make_plan(args)
        watermark = high_water_marks()
        with Server(args.workers, scratch) as server:
            plan["port"] = server.port
            load_average = os.getloadavg()
            alone = [("reader", 0)], [("writer", args.writers)]  # (the spare writer)
            phases = {
                "alone": [
                    client
                    for roles in alone
                    for client in drive(plan, scratch, roles, args.alone_seconds, "alone")
                ],
                "load": drive(
                    plan,
                    scratch,
                    [("writer", index) for index in range(args.writers)]
                    + [("reader", index) for index in range(args.readers)],
                    args.seconds,
                    "load",
                ),
            }
            time.sleep(1)  # (gunicorn logs a request just after answering it)
            gunicorn_log = server.access_log()
        writes = [write for clients in phases.values() for c in clients for write in c["writes"]]
        check = verify(writes, watermark)

    result = summarize(phases, gunicorn_log)
    result.update(
        history_events=history_events,
        writers=args.writers,
        readers=args.readers,
        alone_seconds=args.alone_seconds,
        workers=args.workers,
        gunicorn=server.version,
        load_average=" ".join(f"{value:.1f}" for value in load_average),
        check=check,
        export_day=plan["facts"]["export_day"],
        export_rows=plan["facts"]["export_rows"],
    )
    log(
        f"bench: load: {result['total']['requests']:,} requests, {result['errors']} errors;"
        f" {check['writes']:,} writes, {check['matched']:,} of {check['expected']:,} events"
        f" matched, lost {check['lost']}, duplicated {check['duplicated']},"
        f" crossed {check['crossed']}, unexplained {check['unexplained']}"
    )
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))


def make_plan(args) -> dict:
    """The users, each writer's own objects, and what the readers put in their URLs."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import PBKDF2PasswordHasher
    from django.db import connection

    # The project's settings hash passwords with PBKDF2, which the bench's settings do not
    # list: the hash is made with the hasher itself.
    hasher = PBKDF2PasswordHasher()
    user_model = get_user_model()

    def account(username: str, superuser: bool) -> dict:
        password = secrets.token_urlsafe(12)
        user = user_model.objects.create(
            username=username,
            password=hasher.encode(password, hasher.salt()),
            is_staff=True,
            is_superuser=superuser,
        )
        return {"username": username, "password": password, "pk": user.pk}

    count = args.writers + 1  # (one more, to write alone)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM shop_customer ORDER BY id LIMIT {OWNED * count}")
        customers = [pk for (pk,) in cursor.fetchall()]
        cursor.execute(
            f"SELECT id, stock FROM shop_product WHERE is_active ORDER BY id LIMIT {OWNED * count}"
        )
        products = cursor.fetchall()
        cursor.execute(
            "SELECT id, status FROM shop_order WHERE status IN ('new', 'paid', 'shipped')"
            f" ORDER BY id LIMIT {OWNED * count}"
        )
        orders = cursor.fetchall()
        cursor.execute("SELECT id, name FROM shop_tag ORDER BY id")
        tags = cursor.fetchall()
        cursor.execute(
            "SELECT max(pgh_id), min(pgh_created_at)::date, max(pgh_created_at)::date"
            " FROM shop_orderevent"
        )
        last_order_event, first_day, last_day = cursor.fetchone()
        cursor.execute("SELECT id FROM shop_order ORDER BY id LIMIT 1000")
        timeline_orders = [pk for (pk,) in cursor.fetchall()]
        cursor.execute("SELECT id FROM pghistory_context ORDER BY id LIMIT 1000")
        contexts = [str(pk) for (pk,) in cursor.fetchall()]
        middle = first_day + (last_day - first_day) / 2
        export_rows = {}
        for model in ("order", "customer"):  # (the readers' exports: one day of each)
            cursor.execute(
                f"SELECT count(*) FROM shop_{model}event"
                " WHERE pgh_created_at >= %s AND pgh_created_at < %s + 1",
                [middle, middle],
            )
            export_rows[model] = cursor.fetchone()[0]
    writers = [
        {
            "user": account(f"load-writer-{index + 1}", superuser=False),
            "customers": customers[index::count],
            "products": {pk: stock for pk, stock in products[index::count]},
            "orders": {pk: status for pk, status in orders[index::count]},
        }
        for index in range(count)
    ]
    return {
        "writers": writers,
        "reader": account("load-reader", superuser=True),
        "tags": tags,
        "facts": {
            "orders": timeline_orders,
            "last_order_event": last_order_event,
            "contexts": contexts,
            "since": middle.isoformat(),
            "until": (middle + (last_day - first_day) / 12).isoformat(),
            "export_day": middle.isoformat(),
            "export_rows": export_rows,
        },
    }


def high_water_marks() -> dict[str, int]:
    """The last event id of each checked table before the clients start."""
    from django.db import connection

    marks = {}
    with connection.cursor() as cursor:
        for table in CHECKED_TABLES:
            cursor.execute(f"SELECT coalesce(max(pgh_id), 0) FROM {table}")
            marks[table] = cursor.fetchone()[0]
    return marks


class Server:
    """gunicorn serving the example project, in a process group of its own, stopped (the
    whole group) on the way out whatever happened."""

    def __init__(self, workers: int, scratch: Path):
        self.workers = workers
        self.log_path = scratch / "access.log"
        self.error_path = scratch / "gunicorn.log"
        self.port = free_port()
        self.process = None
        self.version = None

    def __enter__(self) -> Server:
        import gunicorn

        self.version = gunicorn.__version__
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE", "BENCH_DATABASE_URL")
        }
        env["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "example_project.wsgi:application",
            f"--bind=127.0.0.1:{self.port}",
            f"--workers={self.workers}",
            "--worker-class=sync",
            "--timeout=120",
            f"--access-logfile={self.log_path}",
            f"--access-logformat={ACCESS_LOG_FORMAT}",
            f"--error-logfile={self.error_path}",
        ]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, start_new_session=True, preexec_fn=die_with_parent
        )
        try:
            self.wait_until_it_answers()
        except BaseException:
            self.__exit__()
            raise
        log(f"bench: load: gunicorn {self.version} ({self.workers} workers) on port {self.port}")
        return self

    def wait_until_it_answers(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        url = f"http://127.0.0.1:{self.port}/admin/login/"
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.error_path.read_text()[-2000:]}")
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer in {START_TIMEOUT_S} s")
            time.sleep(0.2)

    def access_log(self) -> list[tuple[str, str, float]]:
        """(phase, page kind, milliseconds) of each request gunicorn logged."""
        entries = []
        for line in self.log_path.read_text().splitlines():
            micros, phase, _, kind, _ = line.split('"')
            entries.append((phase, kind, int(micros) / 1000))
        return entries

    def __exit__(self, *exc_info) -> None:
        stop_group(self.process, signal.SIGTERM, grace_s=20)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def die_with_parent() -> None:
    """In a child before it runs its program: have the kernel send it SIGTERM when this
    process dies, even by SIGKILL, where no `finally` runs (Linux; elsewhere nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_group(process: subprocess.Popen | None, sig: int, grace_s: float) -> None:
    """Send `sig` to the process group `process` leads, then SIGKILL it if it outlives
    `grace_s`."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def drive(plan: dict, scratch: Path, roles: list, seconds: float, phase: str) -> list[dict]:
    """Start a client for each (role, index) in `roles`, let them go together for `seconds`
    once all have signed in, and collect what each one measured. Every client is stopped on
    the way out whatever happened."""
    plan_path = scratch / "plan.json"
    plan_path.write_text(json.dumps(plan))
    clients = []
    try:
        for role, index in roles:
            out = scratch / f"{phase}-{role}-{index}.json"
            command = [sys.executable, str(BENCH / "load_client.py"), "--plan", str(plan_path)]
            command += ["--role", role, "--index", str(index), "--seconds", str(seconds)]
            command += ["--phase", phase, "--out", str(out)]
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
            clients.append((process, out))
        for process, _ in clients:  # (each prints "ready" once signed in)
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a load client did not sign in (exit {process.wait()})")
        log(f"bench: load: {len(clients)} client(s) signed in; {seconds:.0f} s ({phase})")
        for process, _ in clients:
            process.stdin.write("go\n")
            process.stdin.flush()
        deadline = time.monotonic() + seconds + FINISH_TIMEOUT_S
        for process, _ in clients:
            code = process.wait(timeout=max(1, deadline - time.monotonic()))
            if code != 0:
                raise RuntimeError(f"a load client failed (exit {code})")
        return [json.loads(out.read_text()) for _, out in clients]
    finally:
        for process, _ in clients:
            stop_group(process, signal.SIGKILL, grace_s=10)


# -- the results ------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (`share` 0.99 is p99)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def latency(kind: str, client_s: list[float], server_ms: list[float], window_s: float) -> dict:
    return {
        "kind": kind,
        "requests": len(client_s),
        "per_s": len(client_s) / window_s,
        "client_p50_ms": percentile(client_s, 0.5) * 1000,
        "client_p99_ms": percentile(client_s, 0.99) * 1000,
        "client_median_ms": median(client_s) * 1000,
        "server_p50_ms": percentile(server_ms, 0.5),
        "server_p99_ms": percentile(server_ms, 0.99),
    }


def summarize(phases: dict[str, list[dict]], gunicorn_log: list[tuple[str, str, float]]) -> dict:
    """The load phase's figures (see `measure`), each page kind's with its p50 alone beside
    it, and the errors of both phases."""
    measured = {
        phase: measure(clients, [(kind, ms) for at, kind, ms in gunicorn_log if at == phase])
        for phase, clients in phases.items()
    }
    alone = {kind["kind"]: kind for kind in measured["alone"]["kinds"]}
    for kind in measured["load"]["kinds"]:
        solo = alone.get(kind["kind"], {})
        kind["alone_client_p50_ms"] = solo.get("client_p50_ms")
        kind["alone_server_p50_ms"] = solo.get("server_p50_ms")
    return {
        **measured["load"],
        "alone": measured["alone"],
        "errors": measured["load"]["errors"] + measured["alone"]["errors"],
    }


def measure(clients: list[dict], server_log: list[tuple[str, float]]) -> dict:
    """Per page kind and in all: requests, requests per second over the phase's window, p50
    and p99 as the clients and as gunicorn saw them, and the errors."""
    window_s = max(client["seconds"] for client in clients)
    client_s: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    for client in clients:
        for kind, seconds in client["timings"].items():
            client_s.setdefault(kind, []).extend(seconds)
        for kind, count in client["errors_by_kind"].items():
            errors[kind] = errors.get(kind, 0) + count
    server_ms: dict[str, list[float]] = {}
    for kind, milliseconds in server_log:
        if kind in client_s:
            server_ms.setdefault(kind, []).append(milliseconds)
    kinds = [
        {
            **latency(kind, client_s[kind], server_ms.get(kind, []), window_s),
            "errors": errors.get(kind, 0),
        }
        for kind in sorted(client_s, key=lambda kind: (not kind.startswith("write"), kind))
    ]
    every = [seconds for values in client_s.values() for seconds in values]
    logged = [milliseconds for values in server_ms.values() for milliseconds in values]
    return {
        "seconds": window_s,
        "kinds": kinds,
        "total": {**latency("all", every, logged, window_s), "errors": sum(errors.values())},
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "error_examples": [error for client in clients for error in client["errors"]][:20],
    }


def verify(writes: list[dict], marks: dict[str, int]) -> dict:
    """Match every event written since `marks` to the writes: each expected event must be
    found exactly once (by table, label and the values the write set), in a context whose
    user is the writer and whose URL is the write's, all of a write's events in one context
    that no other write's event is in; every event must belong to a write."""
    from django.db import connection

    rows = []
    with connection.cursor() as cursor:
        for table in CHECKED_TABLES:
            cursor.execute(
                f"SELECT e.*, c.metadata->>'user', c.metadata->>'url' FROM {table} AS e"
                " LEFT JOIN pghistory_context AS c ON c.id = e.pgh_context_id"
                " WHERE e.pgh_id > %s ORDER BY e.pgh_id",
                [marks[table]],
            )
            names = [column.name for column in cursor.description][:-2]
            for *values, user, url in cursor.fetchall():
                row = dict(zip(names, values), table=table, context_user=user, context_url=url)
                rows.append(row)

    def key(table: str, label: str, match: dict) -> tuple:
        return table, label, tuple(sorted((name, str(value)) for name, value in match.items()))

    shapes = {
        (expected["table"], expected["label"], tuple(sorted(expected["match"])))
        for write in writes
        for expected in write["events"]
    }
    found_by_key: dict[tuple, list[int]] = {}
    for number, row in enumerate(rows):
        for table, label, names in shapes:
            if row["table"] == table and row["pgh_label"] == label:
                match = {name: row[name] for name in names}
                found_by_key.setdefault(key(table, label, match), []).append(number)

    counts = dict.fromkeys(("matched", "lost", "duplicated", "crossed"), 0)
    problems = []
    claimed: set[int] = set()
    context_of_write: dict[int, object] = {}  # (a request is one context)
    write_of_context: dict[object, int] = {}
    for index, write in enumerate(writes):
        for expected in write["events"]:
            found = found_by_key.get(key(expected["table"], expected["label"], expected["match"]))
            if not found or found[0] in claimed:  # (claimed: another write's event)
                outcome = "lost"
            elif len(found) > 1:
                outcome = "duplicated"
            else:
                row = rows[found[0]]
                context = row["pgh_context_id"]
                mine = (
                    row["context_user"] == str(write["user"])
                    and row["context_url"] == write["url"]
                    and context_of_write.setdefault(index, context) == context
                    and write_of_context.setdefault(context, index) == index
                )
                outcome = "matched" if mine else "crossed"
            claimed.update(found or ())
            counts[outcome] += 1
            if outcome != "matched" and len(problems) < 20:
                problems.append({"outcome": outcome, "write": write, "event": expected})
    return {
        "writes": len(writes),
        "writes_by_kind": {
            kind: sum(write["kind"] == kind for write in writes)
            for kind in sorted({write["kind"] for write in writes})
        },
        "expected": sum(len(write["events"]) for write in writes),
        "events": len(rows),
        **counts,
        "unexplained": len(rows) - len(claimed),
        "problems": problems,
    }


if __name__ == "__main__":
    main()
