"""History reads and the UI pages, on our side only (the project's virtualenv).

    python bench/reads.py --events N --repeat R --parts reads,ui --out FILE

Builds the shop's history in stages (100,000 events, then 1,000,000, then 10,000,000, up to
N; see history.py), measures page 1 of the event browser at each stage, then every page and
filter at the final size through Django's test client as a superuser: server time (median of
R requests after one warm-up request that also counts the SQL queries; fewer once a page's
samples took PAGE_BUDGET_S) and the number of queries. Writes a JSON document to FILE.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import html
import json
import os
import re
import statistics
import time
from pathlib import Path
from urllib.parse import quote

import ours
from benchutil import log

BENCH = Path(__file__).resolve().parent
#: Pages slower than this get the EXPLAIN ANALYZE of their slowest query in the results.
EXPLAIN_OVER_MS = 100
#: A page stops repeating once its samples took this long (slow pages over huge histories).
PAGE_BUDGET_S = 10
#: Page 1 of the event browser, standalone and in the admin: (name, URL).
BROWSER_PAGE_1 = ("browser, page 1", "/history/")
#: The as-of part's customers, and their history's size.
AS_OF_OBJECTS = 100_000
AS_OF_EVENTS = 1_000_000
ADMIN_BROWSER_PAGE_1 = ("admin: event browser", "/admin/pghistory_ui/event/")


def stages_for(events: int, quick: bool) -> list[int]:
    """The sizes the history grows through: 100k, 1M, 10M ... below `events`, then `events`."""
    stages, size = [], 10_000 if quick else 100_000
    while size < events:
        stages.append(size)
        size *= 10
    return [*stages, events]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--parts", default="reads,ui")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    parts = set(args.parts.split(","))

    ours.setup(os.environ.get("DJANGO_SETTINGS_MODULE", "ours.reads_settings"))
    bench = ReadBench(args.events, args.repeat, args.quick)
    result = bench.run(parts)
    result["libraries"] = ours.libraries()
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))


class PageMeter:
    """Pages requested through Django's test client, signed in as the history's superuser:
    each page's server time (median of `repeat` requests) and SQL queries."""

    def __init__(self, repeat: int):
        self.repeat = repeat

    def sign_in(self) -> None:
        import history
        from django.contrib.auth import get_user_model
        from django.test import Client

        self.client = Client()
        self.client.force_login(get_user_model().objects.get(username=history.ADMIN))

    # -- measuring --------------------------------------------------------------------------

    def request(self, url: str):
        response = self.client.get(url)
        if getattr(response, "streaming", False):
            body = b"".join(response.streaming_content)
        else:
            body = response.content
        return response, body

    def page(self, name: str, url: str, expect: int = 200) -> dict:
        """Server time and SQL queries of one URL."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        gc.collect()  # a collection left over from earlier pages is not this page's cost
        with CaptureQueriesContext(connection) as captured:
            response, body = self.request(url)  # the warm-up request counts the queries
        # A copy now: the next request's request_started signal empties the query log.
        queries = list(captured.captured_queries)
        if response.status_code != expect:
            raise RuntimeError(f"{url}: status {response.status_code}, expected {expect}")
        samples = []
        while len(samples) < self.repeat and sum(samples) < PAGE_BUDGET_S * 1000:
            started = time.perf_counter()
            self.request(url)
            samples.append((time.perf_counter() - started) * 1000)
        slowest = max(queries, key=lambda q: float(q["time"]), default=None)
        entry = {
            "name": name,
            "url": url,
            "status": response.status_code,
            "queries": len(queries),
            "samples_ms": [round(sample, 2) for sample in samples],
            "median_ms": round(statistics.median(samples), 2),
            "repetitions": len(samples),
            "bytes": len(body),
        }
        if slowest is not None:
            entry["slowest_query_ms"] = round(float(slowest["time"]) * 1000, 1)
            entry["slowest_query"] = slowest["sql"]
        log(f"bench:   {name}: {entry['median_ms']:.1f} ms, {entry['queries']} queries")
        return entry

    def orm(self, name: str, make) -> dict:
        """Server time and SQL queries of an ORM read (`make()` evaluates it)."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        gc.collect()
        with CaptureQueriesContext(connection) as captured:
            rows = make()
        queries = list(captured.captured_queries)
        samples = []
        for _ in range(self.repeat):
            started = time.perf_counter()
            make()
            samples.append((time.perf_counter() - started) * 1000)
        entry = {
            "name": name,
            "url": None,
            "rows": len(rows),
            "queries": len(queries),
            "samples_ms": [round(sample, 2) for sample in samples],
            "median_ms": round(statistics.median(samples), 2),
            "repetitions": len(samples),
        }
        if queries:
            slowest = max(queries, key=lambda q: float(q["time"]))
            entry["slowest_query_ms"] = round(float(slowest["time"]) * 1000, 1)
            entry["slowest_query"] = slowest["sql"]
        log(f"bench:   {name}: {entry['median_ms']:.1f} ms, {entry['queries']} queries")
        return entry

    def older_link(self, url: str) -> str:
        """The URL of the "Older" page linked from `url`."""
        _, body = self.request(url)
        text = body.decode()
        match = re.search(r'<a href="([^"]*)"[^>]*rel="next"', text)
        if match is None:
            raise RuntimeError(f"{url}: no link to an older page")
        link = html.unescape(match.group(1))
        return url.split("?")[0] + link if link.startswith("?") else link

    def explain(self, pages: list[dict]) -> None:
        """EXPLAIN ANALYZE the slowest query of each page over the target."""
        from django.db import connection

        for page in pages:
            if page["median_ms"] <= EXPLAIN_OVER_MS or not page.get("slowest_query"):
                continue
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + page["slowest_query"])
                page["explain"] = "\n".join(row[0] for row in cursor.fetchall())


class ReadBench(PageMeter):
    """The history built in stages, page 1 at each, then every page at the final size."""

    def __init__(self, events: int, repeat: int, quick: bool):
        import history

        super().__init__(repeat)
        self.events = events
        self.quick = quick
        self.history = history.History(events, log=log)

    def run(self, parts: set[str]) -> dict:
        result: dict = {"events": self.events, "stages": [], "pages": [], "ui": []}
        started = time.perf_counter()
        self.history.create_objects()
        self.sign_in()

        for size in stages_for(self.events, self.quick):
            seconds = self.history.grow(size)
            if size == self.events:
                self.history.finish()
            total = self.history.count()
            log(f"bench: history at {total:,} events ({seconds:.1f} s to add)")
            stage = {"target": size, "events": total, "build_s": round(seconds, 2)}
            if "reads" in parts:
                stage["page1"] = self.page("page 1", BROWSER_PAGE_1[1])
            result["stages"].append(stage)
        result["build_s"] = round(time.perf_counter() - started, 1)
        result["facts"] = self.facts()

        if "reads" in parts:
            result["pages"] = self.read_pages()
        if "ui" in parts:
            result["ui"] = self.ui_pages()
        if "as-of" in parts:  # (last: it adds events to the customers' history)
            result["as_of"] = self.as_of_pages()
        return result

    def as_of_pages(self) -> list[dict]:
        """The customers' table as of a moment, once their history holds about 1,000,000
        events of 100,000 customers: the customers are made 100,000 (one insert event each)
        and updated, all of them at a time, until their event table has 1,000,000 events;
        the moment is halfway through those updates, so each customer has newer events to
        pass over."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT max(id) FROM shop_customer")
            (last,) = cursor.fetchone()
            cursor.execute(
                "INSERT INTO shop_customer (id, name, email, city, is_vip, notes, created_at)"
                " SELECT i, 'Customer ' || i, 'c' || i || '@example.com', 'Ghent', false, '',"
                " now() FROM generate_series(%s, %s) i",
                [last + 1, AS_OF_OBJECTS],
            )
            cursor.execute("SELECT count(*) FROM shop_customerevent")
            (events,) = cursor.fetchone()
            updates = max(2, round((AS_OF_EVENTS - events) / AS_OF_OBJECTS))
            moment = None
            for number in range(updates):
                if number == updates // 2:
                    cursor.execute("SELECT clock_timestamp()")
                    (moment,) = cursor.fetchone()
                cursor.execute("UPDATE shop_customer SET city = %s", [f"City {number}"])
            cursor.execute("ANALYZE shop_customerevent")
            cursor.execute("SELECT count(*), count(DISTINCT pgh_obj_id) FROM shop_customerevent")
            events, objects = cursor.fetchone()
        at = moment.isoformat(timespec="seconds")
        note = f"{events:,} events of {objects:,} customers; {updates - updates // 2} newer each"
        pages = [
            self.page(
                "customers' table as of a moment, page 1",
                f"/history/model/shop.customer/as-of/?at={quote(at)}",
            ),
            self.page(
                "customers' table as of a moment, after customer 50,000",
                f"/history/model/shop.customer/as-of/?at={quote(at)}&after={AS_OF_OBJECTS // 2}",
            ),
        ]
        for page in pages:
            page["note"] = note
        return pages

    # -- what to ask for --------------------------------------------------------------------

    def facts(self) -> dict:
        """Objects, a context, an event and dates to put in the URLs."""
        import history
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT max(pgh_id), min(pgh_created_at) FROM shop_orderevent")
            last_id, first_at = cursor.fetchone()
            middle = last_id // 2
            cursor.execute(
                "SELECT pgh_context_id FROM shop_orderevent"
                " WHERE pgh_id >= %s AND pgh_context_id IS NOT NULL ORDER BY pgh_id LIMIT 1",
                [middle],
            )
            context_id = cursor.fetchone()[0]
            # The busiest order, and one with the median number of events.
            cursor.execute(
                "SELECT pgh_obj_id, count(*) FROM shop_orderevent GROUP BY pgh_obj_id"
                " ORDER BY count(*) DESC, pgh_obj_id"
            )
            counts = cursor.fetchall()
        busy, busy_events = counts[0]
        typical, typical_events = counts[len(counts) // 2]
        since = first_at + datetime.timedelta(days=40)
        until = since + datetime.timedelta(days=6)
        return {
            "user": history.STAFF[0][0],
            "context": str(context_id),
            "event_slug": f"shop.OrderEvent:{middle}",
            "busy_order": busy,
            "busy_order_events": busy_events,
            "typical_order": typical,
            "typical_order_events": typical_events,
            "since": since.date().isoformat(),
            "until": until.date().isoformat(),
        }

    # -- the pages --------------------------------------------------------------------------

    def read_pages(self) -> list[dict]:
        from example_project.shop.models import Order
        from pghistory.models import Events

        facts = self.history_facts = self.facts()
        log("bench: history pages")
        pages = [self.page(*BROWSER_PAGE_1)]

        url = BROWSER_PAGE_1[1]
        started = time.perf_counter()
        for _ in range(99):
            url = self.older_link(url)
        walked = time.perf_counter() - started
        entry = self.page("browser, page 100", url)
        entry["note"] = f"reached by following 99 Older links ({walked:.1f} s)"
        pages.append(entry)

        pages += [
            self.page("browser, last page", "/history/?last=1"),
            self.page("filter: user", f"/history/?user={facts['user']}"),
            self.page(
                "filter: model + date range",
                f"/history/?model=shop.order&since={facts['since']}&until={facts['until']}",
            ),
            self.page("filter: changed field", "/history/?field=status"),
            self.page("filter: context", f"/history/?context={facts['context']}"),
            self.page("event page", f"/history/event/{facts['event_slug']}/"),
            self.page(
                f"timeline, typical order ({facts['typical_order_events']} events)",
                f"/history/object/shop.order/{facts['typical_order']}/",
            ),
            self.page(
                f"timeline, busiest order ({facts['busy_order_events']} events)",
                f"/history/object/shop.order/{facts['busy_order']}/",
            ),
            self.page(
                "orders' table as of day 40, page 1",
                f"/history/model/shop.order/as-of/?at={facts['since']}",
            ),
            self.page(
                "orders' table as of day 46, after order 50",
                f"/history/model/shop.order/as-of/?at={facts['until']}&after=50",
            ),
            self.page("api: events, page 1", "/history/api/events/"),
            self.page("api: a context's events", f"/history/api/contexts/{facts['context']}/"),
            self.page("context page (extra)", f"/history/context/{facts['context']}/"),
            self.page("user page (extra)", f"/history/user/{facts['user']}/"),
        ]
        for kind in ("typical", "busy"):
            order = Order(pk=facts[f"{kind}_order"])
            pages.append(
                self.orm(
                    f"ORM: newest 50 events of the {'busiest' if kind == 'busy' else kind} order",
                    lambda order=order: list(
                        Events.objects.tracks(order).order_by("-pgh_id")[:50]
                    ),
                )
            )
        self.explain(pages)
        return pages

    def ui_pages(self) -> list[dict]:
        facts = getattr(self, "history_facts", None) or self.facts()
        log("bench: admin pages")
        order = facts["typical_order"]
        timeline = f"/admin/pghistory_ui/event/object/shop.order/{order}/"
        change_page = f"/admin/shop/order/{order}/change/"
        pages = [
            self.page(*ADMIN_BROWSER_PAGE_1),
            self.page("admin: an order's change page (its History button)", change_page),
            self.page("admin: timeline (History tab target)", timeline),
            self.page(
                "admin: timeline, busiest order",
                f"/admin/pghistory_ui/event/object/shop.order/{facts['busy_order']}/",
            ),
        ]
        # PGHISTORY_ADMIN_HISTORY_TAB: the change page's History button opens the timeline.
        _, body = self.request(change_page)
        if f'href="{timeline}"'.encode() not in body:
            raise RuntimeError(f"{change_page}: its History button does not link to {timeline}")
        self.explain(pages)
        return pages


if __name__ == "__main__":
    main()
