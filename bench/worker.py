"""The write-workload worker: one process per side, driven by `run.py`.

Started as `<venv>/bin/python bench/worker.py` with `DJANGO_SETTINGS_MODULE` set to
`ours.settings` (the project's virtualenv) or `upstream.settings` (`bench/.venv-upstream`,
django-pghistory 3.9). Only `bench/` is on `sys.path`, so `import pghistory` finds the library
installed in the running virtualenv and nothing else. It reads one JSON command per line on
stdin and answers each with one JSON line on stdout; anything else it prints goes to stderr.

Commands:
  {"cmd": "setup"}                              tables, triggers, foreign-key targets
  {"cmd": "prepare", "model": M, "rows": N}     empty M and its events, then N rows, no events
  {"cmd": "run", "op": OP, "model": M, "n": N, "context": bool, "timeout": S}
                                                time one operation; answer its seconds
  {"cmd": "quit"}

Models: "untracked", "row" (row-level triggers), "statement" (statement-level triggers).
Operations: create, save (N single-row writes), bulk_create, update, delete (one call over N
rows), and update_floor, delete_floor (untracked only: the same statement, with one
`INSERT ... SELECT` of the rows it wrote into a copy of the statement-level event table, made
with `LIKE ... INCLUDING ALL`, so with the event table's own indexes).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import traceback
from decimal import Decimal

import benchutil

ACCOUNTS = 10
#: The floors' copy of the statement-level event table (columns, identity and indexes).
FLOOR_COPY = "bench_floor_copy"
#: The copy's columns the floors fill, and what fills each from the written row.
FLOOR_COLUMNS = (
    "pgh_created_at, pgh_label, pgh_obj_id, id, number, text, amount, flag, moment, account_id"
)
FLOOR_VALUES = "now(), %s, id, id, number, text, amount, flag, moment, account_id"
CONTEXT_METADATA = {"user": 1, "url": "/bench/writes/"}


def main() -> None:
    protocol = sys.stdout
    sys.stdout = sys.stderr  # stray prints must not break the protocol

    import django

    django.setup()
    worker = Worker()
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        if command["cmd"] == "quit":
            break
        try:
            answer = worker.handle(command)
        except Exception as exc:  # reported to run.py, which decides
            answer = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
        protocol.write(json.dumps(answer) + "\n")
        protocol.flush()


class Worker:
    def __init__(self):
        from benchapp import models

        self.models = {
            "untracked": models.Untracked,
            "row": models.TrackedRow,
            "statement": models.TrackedStatement,
        }
        self.account_model = models.Account

    def handle(self, command: dict) -> dict:
        return getattr(self, f"cmd_{command['cmd']}")(command)

    # -- commands ---------------------------------------------------------------------------

    def cmd_setup(self, command: dict) -> dict:
        import django
        import pgtrigger
        from django.core.management import call_command
        from django.db import connection

        import pghistory

        call_command("migrate", run_syncdb=True, verbosity=0, interactive=False)
        pgtrigger.install()
        event_table = connection.ops.quote_name(
            self.models["statement"].pgh_event_model._meta.db_table
        )
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {FLOOR_COPY}")
            cursor.execute(f"CREATE TABLE {FLOOR_COPY} (LIKE {event_table} INCLUDING ALL)")
        self.account_model.objects.bulk_create(
            [self.account_model(name=f"account {i}") for i in range(ACCOUNTS)]
        )
        self.account_ids = list(self.account_model.objects.values_list("pk", flat=True))
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid(), version()")
            pid, version = cursor.fetchone()
        from importlib import metadata

        return {
            "pghistory": metadata.version("django-pghistory"),
            "pghistory_path": os.path.dirname(pghistory.__file__),
            "django": django.get_version(),
            "pgtrigger": metadata.version("django-pgtrigger"),
            "psycopg": metadata.version("psycopg"),
            "python": sys.version.split()[0],
            "postgres": version,
            "backend_pid": pid,
            "triggers": self._triggers(),
            "event_indexes": self._event_indexes(),
        }

    def cmd_prepare(self, command: dict) -> dict:
        from django.db import connection

        model = self.models[command["model"]]
        rows = command.get("rows", 0)
        tables = [model._meta.db_table, FLOOR_COPY]
        if hasattr(model, "pgh_event_model"):
            tables.append(model.pgh_event_model._meta.db_table)
        quoted = ", ".join(connection.ops.quote_name(table) for table in tables)
        table = connection.ops.quote_name(model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {quoted} RESTART IDENTITY")
            if rows:
                # No trigger fires while the table is filled: the rows start without events.
                cursor.execute("SET session_replication_role = replica")
                cursor.execute(
                    f"INSERT INTO {table} (number, text, amount, flag, moment, account_id)"
                    " SELECT g, 'row ' || g, (g %% 1000) + 0.25, g %% 2 = 0,"
                    " now() - g * interval '1 second', %s + g %% %s"
                    " FROM generate_series(1, %s) AS g",
                    [min(self.account_ids), ACCOUNTS, rows],
                )
                cursor.execute("RESET session_replication_role")
            for name in tables:
                cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(name)}")
            cursor.execute("CHECKPOINT")
        return {"ok": True}

    def cmd_run(self, command: dict) -> dict:
        from django.db import connection

        import pghistory

        model = self.models[command["model"]]
        op = command["op"]
        n = command["n"]
        prepare = getattr(self, f"prepare_{op}", None)
        arguments = prepare(model, n) if prepare else None
        operation = getattr(self, f"op_{op}")

        timer = None
        timed_out = threading.Event()
        if command.get("timeout"):
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid = cursor.fetchone()[0]
            timer = threading.Timer(command["timeout"], self._cancel, (pid, timed_out))
            timer.start()
        try:
            with benchutil.Stopwatch() as watch:
                if command.get("context"):
                    with pghistory.context(**CONTEXT_METADATA):
                        count = operation(model, n, arguments)
                else:
                    count = operation(model, n, arguments)
        except Exception:
            if timed_out.is_set():
                return {"seconds": None, "timed_out": True}
            raise
        finally:
            if timer is not None:
                timer.cancel()
        answer = {"seconds": watch.seconds, "rows": count}
        if command.get("timeout") and watch.seconds > command["timeout"]:
            answer.update(seconds=None, timed_out=True)
        answer.update(self._events(model))
        return answer

    # -- operations -------------------------------------------------------------------------

    def _values(self, i: int, now) -> dict:
        return {
            "number": i,
            "text": f"row {i}",
            "amount": Decimal("12.34"),
            "flag": i % 2 == 0,
            "moment": now,
            "account_id": self.account_ids[i % len(self.account_ids)],
        }

    def prepare_create(self, model, n):
        from django.utils import timezone

        now = timezone.now()
        return [self._values(i, now) for i in range(n)]

    def op_create(self, model, n, values):
        for row in values:
            model.objects.create(**row)
        return len(values)

    def prepare_save(self, model, n):
        return list(model.objects.order_by("pk")[:n])

    def op_save(self, model, n, objs):
        for obj in objs:
            obj.number += 1
            obj.save()
        return len(objs)

    def prepare_bulk_create(self, model, n):
        from django.utils import timezone

        now = timezone.now()
        return [model(**self._values(i, now)) for i in range(n)]

    def op_bulk_create(self, model, n, objs):
        return len(model.objects.bulk_create(objs))

    def op_update(self, model, n, _):
        from django.db.models import F

        return model.objects.update(number=F("number") + 1)

    def op_delete(self, model, n, _):
        return model.objects.all().delete()[0]

    def op_update_floor(self, model, n, _):
        return self._floor(model, "UPDATE {table} SET number = number + 1", "update")

    def op_delete_floor(self, model, n, _):
        return self._floor(model, "DELETE FROM {table}", "delete")

    def _floor(self, model, statement: str, label: str) -> int:
        """`statement` on `model`'s table and one INSERT ... SELECT of the rows it wrote into
        the copy of the event table: what a tracked bulk write costs at the least."""
        from django.db import connection

        table = connection.ops.quote_name(model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH written AS ({statement.format(table=table)} RETURNING *)"
                f" INSERT INTO {FLOOR_COPY} ({FLOOR_COLUMNS})"
                f" SELECT {FLOOR_VALUES} FROM written",
                [label],
            )
            return cursor.rowcount

    # -- helpers ----------------------------------------------------------------------------

    def _events(self, model) -> dict:
        """How many events the table holds, and how many carry a context (a sanity check)."""
        if not hasattr(model, "pgh_event_model"):
            return {}
        events = model.pgh_event_model.objects
        return {
            "events": events.count(),
            "events_with_context": events.filter(pgh_context__isnull=False).count(),
        }

    def _triggers(self) -> dict:
        """The trigger definitions on each tracked table (for the report)."""
        from django.db import connection

        found = {}
        with connection.cursor() as cursor:
            for name, model in self.models.items():
                cursor.execute(
                    "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger"
                    " WHERE tgrelid = %s::regclass AND NOT tgisinternal ORDER BY tgname",
                    [model._meta.db_table],
                )
                found[name] = [definition for _, definition in cursor.fetchall()]
        return found

    def _event_indexes(self) -> dict:
        """The indexes of each event table: every one is written on every event."""
        from django.db import connection

        found = {}
        with connection.cursor() as cursor:
            for name, model in self.models.items():
                if not hasattr(model, "pgh_event_model"):
                    continue
                cursor.execute(
                    "SELECT indexdef FROM pg_indexes WHERE tablename = %s ORDER BY indexname",
                    [model.pgh_event_model._meta.db_table],
                )
                found[name] = [definition for (definition,) in cursor.fetchall()]
        return found

    @staticmethod
    def _cancel(pid: int, timed_out: threading.Event) -> None:
        """Cancel the running statement of backend `pid` (the operation's time is up)."""
        from django.db import connections

        timed_out.set()
        # A connection of this thread's own (Django connections are per thread).
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_cancel_backend(%s)", [pid])
        connections["default"].close()


if __name__ == "__main__":
    main()
