"""The shop's clock: the moment the shop's code and its database take for "now".

It is the real time, except inside `at(moment)`, which the `seed` command uses to replay 90
days of trading: there the shop's Python code (`now()`: an order's `placed_at`, a customer's
`created_at`) and the database's `NOW()` both read `moment`. `NOW()` is what pghistory's
triggers write into `pgh_created_at`, and into the `created_at` of the context rows they
create, so the history of a replayed day is written by the triggers as that day's work
happens, and nothing is edited afterwards.

Postgres cannot set `NOW()` (the start of the transaction), so `at()` shadows it for its own
transaction: migration `0003_shop_clock` creates `shop_clock.now()`, which reads the
transaction-local setting `shop.clock`, and `at()` puts the schema `shop_clock` before
`pg_catalog` on the transaction's `search_path`. Outside `at()`, `NOW()` is Postgres' own.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

SCHEMA = "shop_clock"
SETTING = "shop.clock"

CREATE_SQL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE OR REPLACE FUNCTION {SCHEMA}.now() RETURNS TIMESTAMPTZ
    LANGUAGE SQL STABLE
    AS $$ SELECT COALESCE(
        NULLIF(current_setting('{SETTING}', TRUE), '')::TIMESTAMPTZ, pg_catalog.now()
    ) $$;
"""
DROP_SQL = f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE;"

# The moment `at()` is replaying in this thread or task, or None for the real time.
_moment: contextvars.ContextVar[datetime.datetime | None] = contextvars.ContextVar(
    "shop_clock", default=None
)


def now() -> datetime.datetime:
    """The shop's current time: the moment of the enclosing `at()`, else the real time."""
    return _moment.get() or timezone.now()


@contextlib.contextmanager
def at(moment: datetime.datetime, using: str = DEFAULT_DB_ALIAS):
    """Run the block in one transaction (a savepoint when nested) as if it were `moment`,
    for the shop's code and for the database (whose `NOW()` stamps history)."""
    if timezone.is_naive(moment):
        raise ValueError("clock.at() needs an aware datetime")
    connection = connections[using]
    nested = connection.in_atomic_block
    token = _moment.set(moment)
    try:
        with transaction.atomic(using=using):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT current_setting(%s, TRUE), current_setting('search_path')",
                    [SETTING],
                )
                outer_moment, outer_path = cursor.fetchone()
                path = outer_path
                if not path.startswith(f"{SCHEMA}, "):
                    path = f"{SCHEMA}, pg_catalog, {path}"
                _set(cursor, moment.isoformat(), path)
            yield
            if nested:
                # A released savepoint keeps its settings: give the enclosing block back
                # its own (a rolled-back one takes them back by itself).
                with connection.cursor() as cursor:
                    _set(cursor, outer_moment or "", outer_path)
    finally:
        _moment.reset(token)


def _set(cursor, moment: str, search_path: str) -> None:
    cursor.execute(
        "SELECT set_config(%s, %s, TRUE), set_config('search_path', %s, TRUE)",
        [SETTING, moment, search_path],
    )
