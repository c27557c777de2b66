"""One client of the load part: a writer or a reader, in a process of its own (stdlib only).

    python bench/load_client.py --plan PLAN.json --role writer|reader --index I --seconds S
        --phase NAME --out FILE

It signs in through the admin's login page (a real CSRF token and session cookie), prints
`ready`, waits for a line on standard input, then requests pages for S seconds (and at most
MAX_REQUESTS), one at a time, over loopback, each with its kind and the phase in headers (for
the server's log). Every request is timed
from sending it to reading the last byte of the answer. A writer edits the objects the plan
gave it (no other writer touches them) through the shop's views and records, for each write
that succeeded, the URL, its user and the events that write must have left; a reader reads
the history UI. FILE gets the timings, the errors and the writes as JSON.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import sys
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

#: A client stops after this many requests even if its time is not up.
MAX_REQUESTS = 100_000
#: Seconds a request may take (a connection, or an answer, slower than that is an error).
REQUEST_TIMEOUT_S = 60
#: Errors kept with their details (all are counted).
ERRORS_KEPT = 20
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
ORDER_PLACED = re.compile(r"^Order #(\d+) placed")
IN_STOCK = re.compile(r": (\d+) in stock$")
#: The order statuses a writer moves an order through, as the shop's views allow.
NEXT_STATUS = {"new": "paid", "paid": "shipped", "shipped": "delivered"}


class Failed(Exception):
    """A request of a kind that did not answer as it should: counted as an error."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class Client:
    """A browser-like HTTP client of the server on `port`: cookies, CSRF, timings."""

    def __init__(self, port: int, phase: str):
        self.port = port
        self.phase = phase
        self.cookies: dict[str, str] = {}
        self.timings: dict[str, list[float]] = {}
        self.errors: list[dict] = []
        self.errors_by_kind: dict[str, int] = {}
        self.requests = 0

    def send(self, kind: str, method: str, path: str, data: dict | None = None):
        """Send one request; return its status and body. Records its time under `kind`."""
        headers = {"X-Bench-Kind": kind, "X-Bench-Phase": self.phase}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{key}={value}" for key, value in self.cookies.items())
        body = None
        if data is not None:
            body = urlencode(data, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["X-CSRFToken"] = self.cookies.get("csrftoken", "")
        self.requests += 1
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S)
        started = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        except OSError as error:
            raise Failed(kind, f"{method} {path}: {type(error).__name__}: {error}") from None
        finally:
            connection.close()
        self.timings.setdefault(kind, []).append(time.perf_counter() - started)
        for header in response.headers.get_all("Set-Cookie") or []:
            for key, morsel in SimpleCookie(header).items():
                self.cookies[key] = morsel.value
        return response.status, payload

    def expect(self, kind, method, path, statuses, data=None) -> str:
        """`send`, raising `Failed` unless the answer's status is one of `statuses`."""
        status, payload = self.send(kind, method, path, data)
        text = payload.decode("utf-8", "replace")
        if status not in statuses:
            raise Failed(kind, f"{method} {path}: {status} {text[:200].strip()!r}")
        return text

    def fail(self, error: Failed) -> None:
        self.errors_by_kind[error.kind] = self.errors_by_kind.get(error.kind, 0) + 1
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append({"kind": error.kind, "error": str(error)})

    def sign_in(self, username: str, password: str) -> None:
        """Through the admin's login form, as a browser does."""
        form = self.expect("login", "GET", "/admin/login/", (200,))
        token = CSRF_INPUT.search(form)
        if token is None:
            raise Failed("login", "the login page has no CSRF token")
        data = {
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": token.group(1),
            "next": "/admin/",
        }
        self.expect("login", "POST", "/admin/login/?next=/admin/", (302,), data)
        if "sessionid" not in self.cookies:
            raise Failed("login", f"signing in as {username} set no session")


class Writer:
    """Edits its own orders, products and customers through the shop's views."""

    ACTIONS = {"status": 3, "restock": 2, "customer": 2, "tag": 1, "order": 1}

    def __init__(self, client: Client, plan: dict, index: int):
        mine = plan["writers"][index]
        self.client = client
        self.user = mine["user"]
        self.rng = random.Random(index)
        self.customers = mine["customers"]
        self.orders = {int(pk): status for pk, status in mine["orders"].items()}
        self.stock = {int(pk): stock for pk, stock in mine["products"].items()}
        #: Every stock level each product has had: a write never repeats one, so each
        #: product event's stock names the write that made it.
        self.seen_stock = {pk: {stock} for pk, stock in self.stock.items()}
        self.tags = plan["tags"]  # [id, name]
        self.tagged: list[tuple[int, list]] = []  # (product, tag) on now
        self.pairs_used: set[tuple[int, int]] = set()
        self.writes: list[dict] = []
        self.edits = 0

    def step(self) -> None:
        kinds, weights = zip(*self.ACTIONS.items())
        action = self.rng.choices(kinds, weights)[0]
        getattr(self, action)()

    def post(self, kind: str, path: str, data: dict, events: list, status=(200,)) -> str:
        text = self.client.expect(kind, "POST", path, status, data)
        self.writes.append({"kind": kind, "url": path, "user": self.user["pk"], "events": events})
        return text

    def status(self) -> None:
        movable = [pk for pk, status in self.orders.items() if status in NEXT_STATUS]
        if not movable:
            return self.order()
        pk = self.rng.choice(movable)
        new = NEXT_STATUS[self.orders[pk]]
        changed = {"pgh_obj_id": pk, "status": new}
        events = [event("order", "update", changed), event("order", "status_changed", changed)]
        self.post("write: order status", f"/shop/orders/{pk}/status/", {"status": new}, events)
        self.orders[pk] = new

    def new_stock(self, pk: int, low: int, high: int, sign: int) -> int | None:
        """A stock level `sign` × (low..high) away from the product's, never had before."""
        for _ in range(50):
            stock = self.stock[pk] + sign * self.rng.randint(low, high)
            if stock >= 0 and stock not in self.seen_stock[pk]:
                return stock
        return None

    def restock(self) -> None:
        pk = self.rng.choice(list(self.stock))
        stock = self.new_stock(pk, 1, 50, +1)
        if stock is None:
            return
        events = [event("product", "update", {"pgh_obj_id": pk, "stock": stock})]
        data = {"quantity": stock - self.stock[pk]}
        kind = "write: restock product"
        text = self.post(kind, f"/shop/products/{pk}/restock/", data, events)
        said = IN_STOCK.search(text.strip())
        if said is None or int(said.group(1)) != stock:
            raise Failed(kind, f"restocking product {pk} to {stock} answered {text.strip()!r}")
        self.set_stock(pk, stock)

    def set_stock(self, pk: int, stock: int) -> None:
        self.stock[pk] = stock
        self.seen_stock[pk].add(stock)

    def customer(self) -> None:
        pk = self.rng.choice(self.customers)
        self.edits += 1
        city = f"{self.user['username']} #{self.edits}"
        events = [event("customer", "update", {"pgh_obj_id": pk, "city": city})]
        self.post("write: edit customer", f"/shop/customers/{pk}/", {"city": city}, events)

    def tag(self) -> None:
        if self.tagged and self.rng.random() < 0.5:
            product, (tag, name) = self.tagged.pop(self.rng.randrange(len(self.tagged)))
            events = [event("producttag", "delete", {"product_id": product, "tag_id": tag})]
            self.post(
                "write: tag product", f"/shop/products/{product}/tags/", {"remove": name}, events
            )
            return
        for _ in range(50):
            product, (tag, name) = self.rng.choice(list(self.stock)), self.rng.choice(self.tags)
            if (product, tag) not in self.pairs_used:
                break
        else:
            return
        self.pairs_used.add((product, tag))
        events = [event("producttag", "insert", {"product_id": product, "tag_id": tag})]
        self.post("write: tag product", f"/shop/products/{product}/tags/", {"add": name}, events)
        self.tagged.append((product, (tag, name)))

    def order(self) -> None:
        lines = {}
        for product in self.rng.sample(list(self.stock), 3)[: self.rng.randint(1, 3)]:
            stock = self.new_stock(product, 1, 5, -1)
            if stock is not None:
                lines[product] = stock
        if not lines:
            return
        quantities = {product: self.stock[product] - stock for product, stock in lines.items()}
        data = {
            "customer": self.rng.choice(self.customers),
            "shipping_address": f"{self.user['username']}'s street {len(self.writes)}",
            "product": list(quantities),
            "quantity": list(quantities.values()),
        }
        events = [
            event("product", "update", {"pgh_obj_id": product, "stock": stock})
            for product, stock in lines.items()
        ]
        # The order's id is known from the answer; its events are added then.
        kind = "write: create order"
        text = self.post(kind, "/shop/orders/new/", data, events, status=(201,))
        placed = ORDER_PLACED.match(text)
        if placed is None:
            raise Failed(kind, f"creating an order answered {text.strip()!r}")
        pk = int(placed.group(1))
        events.append(event("order", "insert", {"pgh_obj_id": pk}))
        events += [
            event("orderline", "insert", {"order_id": pk, "product_id": product, "quantity": n})
            for product, n in quantities.items()
        ]
        for product, stock in lines.items():
            self.set_stock(product, stock)
        self.orders[pk] = "new"


def event(model: str, label: str, match: dict) -> dict:
    """An event a write must have left: in the shop model's event table, with the label and
    these column values."""
    return {"table": f"shop_{model}event", "label": label, "match": match}


class Reader:
    """Reads the history UI: the browser and its filters, timelines, event and context
    pages, the admin's browser and bounded exports, each kind in turn."""

    def __init__(self, client: Client, plan: dict, index: int):
        self.client = client
        self.facts = plan["facts"]
        self.writers = [writer["user"]["username"] for writer in plan["writers"]]
        self.rng = random.Random(1000 + index)
        self.pages = [
            ("read: browser", lambda: "/history/"),
            ("read: filter by model", lambda: "/history/?model=shop.order"),
            ("read: filter by user", lambda: f"/history/?user={self.rng.choice(self.writers)}"),
            ("read: filter by label", lambda: "/history/?label=status_changed"),
            ("read: filter by dates", self.dates),
            ("read: filter by field", lambda: "/history/?field=status"),
            ("read: timeline", self.timeline),
            ("read: event page", self.event_page),
            ("read: context page", self.context_page),
            ("read: admin browser", lambda: "/admin/pghistory_ui/event/?model=shop.product"),
            ("read: export CSV", lambda: self.export("csv", "shop.order")),
            ("read: export JSONL", lambda: self.export("jsonl", "shop.customer")),
        ]
        self.turn = index  # readers start at different pages

    def dates(self) -> str:
        return f"/history/?since={self.facts['since']}&until={self.facts['until']}"

    def timeline(self) -> str:
        return f"/history/object/shop.order/{self.rng.choice(self.facts['orders'])}/"

    def event_page(self) -> str:
        return f"/history/event/shop.OrderEvent:{self.rng.randint(1, self.facts['last_order_event'])}/"

    def context_page(self) -> str:
        return f"/history/context/{self.rng.choice(self.facts['contexts'])}/"

    def export(self, format: str, model: str) -> str:
        day = self.facts["export_day"]
        return f"/history/export.{format}?model={model}&since={day}&until={day}"

    def step(self) -> None:
        kind, url = self.pages[self.turn % len(self.pages)]
        self.turn += 1
        self.client.expect(kind, "GET", url(), (200,))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plan", required=True)
    parser.add_argument("--role", choices=("writer", "reader"), required=True)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--phase", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    plan = json.loads(Path(args.plan).read_text())
    client = Client(plan["port"], args.phase)
    if args.role == "writer":
        account = plan["writers"][args.index]["user"]
        actor = Writer(client, plan, args.index)
    else:
        account = plan["reader"]
        actor = Reader(client, plan, args.index)
    client.sign_in(account["username"], account["password"])
    client.timings.pop("login")
    print("ready", flush=True)
    sys.stdin.readline()  # the go signal: every client has signed in

    started = time.perf_counter()
    deadline = started + args.seconds
    while time.perf_counter() < deadline and client.requests < MAX_REQUESTS:
        try:
            actor.step()
        except Failed as error:
            client.fail(error)
    result = {
        "role": args.role,
        "index": args.index,
        "username": account["username"],
        "seconds": time.perf_counter() - started,
        "timings": client.timings,
        "errors_by_kind": client.errors_by_kind,
        "errors": client.errors,
        "writes": getattr(actor, "writes", []),
    }
    Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
