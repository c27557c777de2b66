"""A large history for the read benchmarks, written with set-based SQL.

The example shop's tables get their objects (customers, tags, products, orders, order lines:
100,000 in all, fewer for small histories) and their event tables get the history, straight
from `INSERT ... SELECT ... FROM generate_series`, with no trigger firing. Events are spread
over the last 90 days, in `pgh_id` order within each table; hot objects (a few customers,
products and orders) collect many events and most objects a few. About nine events in ten
belong to a context (a request of one of the staff users, with `user` and `url` metadata, ten
events or so each); the rest have none, as raw SQL would leave them. An object's first event
is an insert, the others updates that change one or two of its fields; some order lines and
tags are deleted (their rows are gone, their history stays, ending in a delete).

The history grows in stages (`grow(to)`): later stages add newer events on top, so a page of
the newest events can be measured at each size. Everything is a pure function of the event
number, so the same sizes give the same history.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import connection

HISTORY_DAYS = 90
EVENTS_PER_CONTEXT = 10
STAFF = [
    ("alice", "Alice", "Moreau"),
    ("bruno", "Bruno", "Keller"),
    ("chen", "Chen", "Wei"),
    ("dara", "Dara", "Okafor"),
    ("emil", "Emil", "Lindqvist"),
    ("fatima", "Fatima", "Haddad"),
    ("goran", "Goran", "Petrovic"),
    ("hana", "Hana", "Sato"),
    ("ines", "Ines", "Duarte"),
    ("jonas", "Jonas", "Berg"),
    ("kavya", "Kavya", "Rao"),
    ("liam", "Liam", "Byrne"),
]
ADMIN = "bench-admin"


def h1(expr: str) -> str:
    """Knuth's multiplicative hash of a bigint: cheap, deterministic and well spread."""
    return f"(({expr} * 2654435761) % 4294967296)"


def h2(expr: str) -> str:
    """A second hash, independent enough of the first."""
    return f"((({expr} + 7919) * 2246822519) % 4294967296)"


@dataclass
class Table:
    """One tracked shop model: how many objects it has and its share of the events."""

    model: str  # the tracked model's table
    events_table: str
    share: float
    objects: int = 0
    deleted_every: int = 0  # every n-th object is deleted (0: none)
    columns: str = ""  # the tracked columns, after pgh_* ones
    values: str = ""  # SQL for them, over `obj`, `k`, `h1`, `h2`


TABLES = [
    Table(
        "shop_customer",
        "shop_customerevent",
        0.17,
        columns="id, name, email, city, is_vip, notes, created_at",
        values=(
            "obj, 'Customer ' || obj, 'customer' || obj || '@example.com',"
            " (ARRAY['Oslo', 'Lyon', 'Porto', 'Graz', 'Turku', 'Gent'])[1 + (h1 / 7) % 6],"
            " (h2 / 13) % 9 = 0,"
            " CASE WHEN (h1 / 11) % 3 = 0 THEN 'Prefers email. Note ' || (k % 97) ELSE '' END,"
            " TIMESTAMPTZ '2020-01-01' + obj * INTERVAL '1 minute'"
        ),
    ),
    Table(
        "shop_tag",
        "shop_tagevent",
        0.01,
        deleted_every=10,
        columns="id, name",
        values="obj, 'tag-' || obj || CASE WHEN h1 % 2 = 0 THEN '' ELSE '-v' || (k % 5) END",
    ),
    Table(
        "shop_product",
        "shop_productevent",
        0.15,
        columns=("id, name, sku, price, stock, is_active, category, description, attributes"),
        values=(
            "obj, 'Product ' || obj, 'SKU-' || obj, 5 + (h1 % 5000) / 100.0, h2 % 500,"
            " (h1 / 5) % 20 <> 0,"
            " (ARRAY['coffee', 'tea', 'equipment', 'accessories', 'books'])[1 + obj % 5],"
            " 'A fine product, batch ' || (obj % 50),"
            " jsonb_build_object('origin', (ARRAY['Ethiopia', 'Kenya', 'Peru'])[1 + obj % 3],"
            " 'weight_g', 250 + 250 * ((h2 / 3) % 4))"
        ),
    ),
    Table(
        "shop_order",
        "shop_orderevent",
        0.42,
        columns="id, customer_id, status, placed_at, shipping_address, note",
        values=(
            "obj, 1 + obj % {customers},"
            " (ARRAY['new', 'paid', 'shipped', 'delivered', 'cancelled'])[1 + (h1 / 3) % 5],"
            " TIMESTAMPTZ '2024-01-01' + obj * INTERVAL '1 minute',"
            " 'Street ' || obj || ', ' || (ARRAY['Oslo', 'Lyon', 'Porto'])[1 + obj % 3],"
            " CASE WHEN (h2 / 7) % 4 = 0 THEN 'Call before delivery' ELSE '' END"
        ),
    ),
    Table(
        "shop_orderline",
        "shop_orderlineevent",
        0.25,
        deleted_every=50,
        columns="id, order_id, product_id, quantity, unit_price",
        values=(
            "obj, 1 + obj % {orders}, 1 + obj % {products}, 1 + (h1 / 3) % 10,"
            " 5 + (h2 % 5000) / 100.0"
        ),
    ),
]
#: Shares of the 100,000 objects.
OBJECT_SHARES = {
    "shop_customer": 0.2,
    "shop_tag": 0.0005,
    "shop_product": 0.05,
    "shop_order": 0.4,
    "shop_orderline": 0.3495,
}


class History:
    """The shop's history for a final size of `final_events`, grown in stages."""

    def __init__(self, final_events: int, objects: int = 100_000, log=print):
        self.final = final_events
        self.objects = max(1000, min(objects, final_events // 10))
        self.contexts = max(1, final_events // EVENTS_PER_CONTEXT)
        self.log = log
        self.size = 0
        self.tables = [Table(**vars(table)) for table in TABLES]
        for table in self.tables:
            table.objects = max(10, round(self.objects * OBJECT_SHARES[table.model]))
        self.by_model = {table.model: table for table in self.tables}
        self.users: dict[str, int] = {}
        self.start = None

    # -- setup ------------------------------------------------------------------------------

    def create_objects(self) -> None:
        """The staff users, the superuser that reads the pages, and the shop's objects."""
        user_model = get_user_model()
        user_model.objects.create_superuser(ADMIN, "admin@example.com", "bench")
        for username, first, last in STAFF:
            user_model.objects.create_user(
                username,
                f"{username}@example.com",
                "bench",
                first_name=first,
                last_name=last,
                is_staff=True,
            )
        self.users = dict(user_model.objects.values_list("username", "pk"))
        counts = {table.model: table.objects for table in self.tables}
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT now() - INTERVAL '{HISTORY_DAYS} days'")
            self.start = cursor.fetchone()[0]
            cursor.execute("SET session_replication_role = replica")  # no triggers
            for table in self.tables:
                values = table.values.format(
                    customers=counts["shop_customer"],
                    orders=counts["shop_order"],
                    products=counts["shop_product"],
                )
                keep = f"WHERE obj % {table.deleted_every} <> 0" if table.deleted_every else ""
                # The objects as their last event will have them is not known here; their
                # state is the value of a made-up event number, which is good enough.
                cursor.execute(
                    f"INSERT INTO {table.model} ({table.columns})"
                    f" SELECT {values} FROM ("
                    f"  SELECT obj, obj AS k, {h1('obj')} AS h1, {h2('obj')} AS h2"
                    f"  FROM generate_series(1, {table.objects}) AS obj"
                    f" ) AS s {keep}"
                )
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table.model}', 'id'),"
                    f" {table.objects})"
                )
            cursor.execute("RESET session_replication_role")

    # -- growth -----------------------------------------------------------------------------

    def grow(self, to: int) -> float:
        """Add events until the history holds about `to`; return the seconds it took."""
        started = time.perf_counter()
        previous = self.size
        user_ids = [self.users[username] for username, *_ in STAFF]
        counts = {table.model: table.objects for table in self.tables}
        start = f"TIMESTAMPTZ '{self.start.isoformat()}'"
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit = off")
            cursor.execute("SET session_replication_role = replica")
            # The contexts of this stage's stretch of time (a little wider, for rounding).
            first = max(0, previous * self.contexts // self.final - 1)
            last = min(self.contexts, to * self.contexts // self.final + 1)
            # (No query parameters anywhere here: every % below is SQL's modulo.)
            users = f"ARRAY[{', '.join(str(pk) for pk in user_ids)}]"
            cursor.execute(
                "INSERT INTO pghistory_context (id, metadata, created_at, updated_at)"
                " SELECT md5('bench-context-' || c)::uuid,"
                f"  jsonb_build_object('user', ({users})[1 + (c * 7) % {len(user_ids)}],"
                "   'url', '/shop/orders/' || (c % 5000) || '/'),"
                "  t, t"
                f" FROM generate_series({first}, {last}) AS c,"
                f"  LATERAL (SELECT {start} + (c::float8 / {self.contexts})"
                f"   * INTERVAL '{HISTORY_DAYS} days' AS t) AS moment"
                " ON CONFLICT (id) DO NOTHING"
            )
            for table in self.tables:
                final = max(1, round(table.share * self.final))
                have = round(table.share * previous)
                want = round(table.share * to)
                if want <= have:
                    continue
                values = table.values.format(
                    customers=counts["shop_customer"],
                    orders=counts["shop_order"],
                    products=counts["shop_product"],
                )
                # A skewed choice of object (r squared): a few hot objects, a long tail.
                cursor.execute(
                    f"INSERT INTO {table.events_table}"
                    f" (pgh_id, pgh_created_at, pgh_label, pgh_obj_id, pgh_context_id,"
                    f"  {table.columns})"
                    f" SELECT k, {start} + (k::float8 / {final}) * INTERVAL '{HISTORY_DAYS} days'"
                    f"  + (h2 % 60000) * INTERVAL '1 millisecond',"
                    f"  'update', obj,"
                    f"  CASE WHEN h2 % 10 = 0 THEN NULL ELSE md5('bench-context-' ||"
                    f"   floor(k::float8 / {final} * {self.contexts})::bigint)::uuid END,"
                    f"  {values}"
                    f" FROM ("
                    f"  SELECT k, h1, h2,"
                    f"   1 + floor({table.objects} * (h1 / 4294967296.0) ^ 2)::bigint AS obj"
                    f"  FROM ("
                    f"   SELECT k, {h1('k')} AS h1, {h2('k')} AS h2"
                    f"   FROM generate_series({have + 1}::bigint, {want}::bigint) AS k"
                    f"  ) AS hashed"
                    f" ) AS s"
                )
                # Each object's first event is its insert.
                cursor.execute(
                    f"UPDATE {table.events_table} AS e SET pgh_label = 'insert'"
                    f" FROM (SELECT pgh_obj_id, min(pgh_id) AS first FROM {table.events_table}"
                    f"  WHERE pgh_obj_id IN (SELECT DISTINCT pgh_obj_id FROM"
                    f"   {table.events_table} WHERE pgh_id > {have})"
                    f"  GROUP BY pgh_obj_id) AS f"
                    f" WHERE e.pgh_id = f.first AND e.pgh_label <> 'insert'"
                )
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table.events_table}', 'pgh_id'),"
                    f" {want})"
                )
            cursor.execute("RESET session_replication_role")
            cursor.execute("SET synchronous_commit = on")
        self.size = to
        self.analyze()
        return time.perf_counter() - started

    def finish(self) -> None:
        """The last event of each deleted object becomes its delete."""
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
            for table in self.tables:
                if not table.deleted_every:
                    continue
                cursor.execute(
                    f"UPDATE {table.events_table} AS e SET pgh_label = 'delete'"
                    f" FROM (SELECT max(pgh_id) AS last FROM {table.events_table}"
                    f"  WHERE pgh_obj_id % {table.deleted_every} = 0 GROUP BY pgh_obj_id) AS l"
                    f" WHERE e.pgh_id = l.last"
                )
            cursor.execute("RESET session_replication_role")
        self.analyze()

    def analyze(self) -> None:
        with connection.cursor() as cursor:
            for table in self.tables:
                cursor.execute(f"VACUUM ANALYZE {table.events_table}")
                cursor.execute(f"VACUUM ANALYZE {table.model}")
            cursor.execute("VACUUM ANALYZE pghistory_context")
            cursor.execute("CHECKPOINT")

    # -- facts the measurements need --------------------------------------------------------

    def count(self) -> int:
        counts = " + ".join(f"(SELECT count(*) FROM {t.events_table})" for t in self.tables)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {counts}")
            return cursor.fetchone()[0]
