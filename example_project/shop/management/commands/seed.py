"""`python example_project/manage.py seed`: a shop with a believable history of 90 days.

The history is written the ways a real shop writes it, so the demo shows what pghistory
records for each:

1. staff accounts are created, and the catalogue and customers are bulk-imported, inside
   `pghistory.context(source=...)` blocks outside any request;
2. staff members work the shop through its views (`/shop/...`), driven with Django's test
   client, so `HistoryMiddleware` records their user and the URL of every change;
3. for larger volumes (`--events`, `--million`), marketplace orders arrive as bulk inserts and
   bulk status updates from a payment provider and a warehouse system, each batch in a context;
4. a Black Friday discount changes prices with one `QuerySet.update()`;
5. cancelled orders are deleted, a customer is erased on request, a tag is retired, a staff
   member leaves and products are discontinued;
6. a stocktake corrects stock levels with raw SQL and no context at all.

It is written day by day, in time order, from 90 days ago to yesterday: the import on the
first morning, staff working office hours (fewer orders at weekends), marketplace imports at
night with payment settlement hours later and the warehouse's shipping a day and delivery
three days later, Black Friday in the third month, the clean-up and the stocktake on the last
day. Each piece of work runs `clock.at()` its moment (see `example_project.shop.clock`), so
the triggers themselves stamp the past moment on the events and on their context rows, and
the orders' `placed_at` and the customers' `created_at` agree with them.

The same `--seed` gives the same shop (names, orders, who did what, and when, counted back
from the day of the run).
"""

from __future__ import annotations

import datetime
import random
import time
from collections import Counter, defaultdict
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Case, Count, F, IntegerField, Max, Min, Value, When
from django.test import Client
from django.urls import NoReverseMatch, resolve, reverse
from django.utils import timezone

import pghistory
from example_project.shop import clock, demo_data
from example_project.shop.models import (
    Customer,
    Order,
    OrderLine,
    Product,
    ProductTag,
    StaffMember,
    Tag,
)
from pghistory.models import Context
from pghistory.progress import Progress

#: The history spans this many days, ending yesterday.
HISTORY_DAYS = 90
#: The day (0 is the first) Black Friday's discount comes, and the day of the last night's
#: marketplace import (its orders are delivered three days later, before the last day).
BLACK_FRIDAY_DAY = 62
LAST_IMPORT_DAY = HISTORY_DAYS - 5
#: Roughly how many events one staff-placed order writes with the day's other work, until
#: the run has measured it.
EVENTS_PER_REQUEST_ORDER = 12
DEFAULT_EVENTS = 5_000
MILLION = 1_000_000
#: Requests are slow next to bulk writes: past this many events, the rest comes in bulk.
REQUEST_EVENTS_CAP = 20_000
#: Marketplace orders per bulk batch, at most; small volumes come in about four batches.
BULK_BATCH = 2_500
#: Roughly how many events one marketplace order writes (insert, lines, three status moves).
EVENTS_PER_BULK_ORDER = 9
BLACK_FRIDAY = "Black Friday: -15%"
BLACK_FRIDAY_FACTOR = Decimal("0.85")
RETIRED_TAG = "new"
HISTORY_MIDDLEWARE = "pghistory.middleware.HistoryMiddleware"

SHOP_MODELS = [Customer, Tag, Product, ProductTag, Order, OrderLine, StaffMember]


def event_models():
    """The event model of each shop model, in a fixed order."""
    return [model.pgh_event_model for model in SHOP_MODELS]


def count_events() -> int:
    return sum(model.objects.count() for model in event_models())


def shop_has_data() -> bool:
    """Whether the shop has rows or history (staff accounts alone do not count)."""
    shop_models = [Customer, Tag, Product, ProductTag, Order, OrderLine]
    tables = [*shop_models, *(model.pgh_event_model for model in shop_models)]
    return any(model.objects.exists() for model in tables)


class Command(BaseCommand):
    help = (
        "Fill the shop with customers, products, orders and a believable history of their"
        " changes: imports, staff requests, bulk updates, deletions and raw SQL."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--events",
            type=int,
            default=DEFAULT_EVENTS,
            metavar="N",
            help=f"about how many events to write (default {DEFAULT_EVENTS:,})",
        )
        parser.add_argument(
            "--million",
            action="store_true",
            help="write about 1,000,000 events (most of them with bulk operations)",
        )
        parser.add_argument(
            "--seed", type=int, default=1, help="the random seed: the same seed, the same shop"
        )
        parser.add_argument(
            "--today",
            type=datetime.date.fromisoformat,
            default=None,
            metavar="YYYY-MM-DD",
            help="the day the history leads up to (default: today): it covers the days before"
            " it, and the same seed and day give the same shop",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="if the shop already has data, wipe it (and its history) and seed again",
        )

    def handle(self, *args, events, million, seed, today, force, **options):
        target = MILLION if million else events
        if target < 100:
            raise CommandError("--events must be at least 100")
        try:
            reverse("shop:order-create")
        except NoReverseMatch:
            raise CommandError(
                "the shop's URLs are not in ROOT_URLCONF; include example_project.shop.urls"
                ' under "shop/"'
            ) from None
        if HISTORY_MIDDLEWARE not in settings.MIDDLEWARE:
            self.stderr.write(
                f"warning: {HISTORY_MIDDLEWARE} is not in MIDDLEWARE, so the staff requests"
                " will be recorded without user and URL"
            )

        if shop_has_data():
            if not force:
                self.stdout.write(
                    f"The shop already has data ({Customer.objects.count():,} customers,"
                    f" {Order.objects.count():,} orders, {count_events():,} events):"
                    " not seeding again. Use --force to wipe it and start over."
                )
                return
            self.stdout.write("Wiping the shop's data and history (--force)...")
            wipe()

        started = time.monotonic()
        stream = getattr(self.stderr, "_out", self.stderr)  # unwrapped, to draw with \r
        with Progress(total=target, label="seeding", stream=stream) as progress:
            Seeder(random.Random(seed), target, progress, today or timezone.localdate()).run()
        elapsed = time.monotonic() - started
        self.stdout.write(summary(target, seed, elapsed))


def wipe() -> None:
    """Delete the shop's rows, the seeded staff accounts, their events and orphaned contexts.

    `TRUNCATE` fires no row triggers, so the wipe itself leaves no history behind.
    """
    usernames = [username for username, *_ in demo_data.STAFF]
    models = [OrderLine, Order, ProductTag, Product, Tag, Customer, *event_models()]
    quoted = ", ".join(connection.ops.quote_name(model._meta.db_table) for model in models)
    with transaction.atomic():
        StaffMember.objects.filter(username__in=usernames).delete()
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
        delete_orphaned_contexts()


def delete_orphaned_contexts() -> None:
    """Delete the contexts that no event of any event model points to any more."""
    from pghistory.aggregation import event_models as all_event_models

    checks = []
    for model in all_event_models():
        field = next((f for f in model._meta.concrete_fields if f.name == "pgh_context"), None)
        if field is not None and field.is_relation:
            table = connection.ops.quote_name(model._meta.db_table)
            column = connection.ops.quote_name(field.column)
            checks.append(f"NOT EXISTS (SELECT 1 FROM {table} e WHERE e.{column} = c.id)")
    if checks:
        with connection.cursor() as cursor:
            context_table = connection.ops.quote_name(Context._meta.db_table)
            cursor.execute(f"DELETE FROM {context_table} c WHERE {' AND '.join(checks)}")


class Shift:
    """The moments of one day's staff work, in order: from about 8:00, a few minutes per
    task, closing in on midnight (never past it) on a very busy day."""

    def __init__(self, rng: random.Random, midnight: datetime.datetime):
        self.rng = rng
        self.closing = midnight + timedelta(days=1) - timedelta(seconds=1)
        self.moment = midnight + timedelta(hours=8, minutes=rng.randint(0, 30))

    def next(self) -> datetime.datetime:
        step = timedelta(seconds=self.rng.randint(60, 720))
        self.moment += min(step, (self.closing - self.moment) / 4)
        return self.moment


class Seeder:
    """Writes the shop and its history, day by day, and reports events to `progress`."""

    def __init__(self, rng: random.Random, target: int, progress: Progress, today: datetime.date):
        self.rng = rng
        self.target = target
        self.progress = progress
        self.first_day = today - timedelta(days=HISTORY_DAYS)
        self.shift = Shift(rng, self.midnight(0))
        self.events = 0  # events written, as last measured (every phase measures at its end)
        self.request_events = 0  # written by the staff's trading days
        self.bulk_events = 0  # written by marketplace imports
        self.staff: list[StaffMember] = []
        self.clients: dict[int, Client] = {}
        self.products: dict[int, Product] = {}  # the seeder's view of each product
        self.product_tags: dict[int, set[str]] = defaultdict(set)
        self.addresses: dict[int, str] = {}  # customer pk -> shipping address
        self.ordering_customers: list[int] = []
        self.open_orders: dict[int, str] = {}  # order pk -> status, for unfinished orders
        self.order_lines: dict[int, list[tuple[int, int]]] = {}  # order pk -> (product, qty)
        self.cancelled: list[int] = []
        self.did: Counter[str] = Counter()

    # -- bookkeeping ----------------------------------------------------------------------

    def measure(self) -> int:
        """Count the events written so far (`self.events`) and report them."""
        self.events = count_events()
        self.progress.update(self.events)
        return self.events

    def midnight(self, day: int) -> datetime.datetime:
        """The start of `day` (0 is the first day of the history) in the current time zone."""
        date = self.first_day + timedelta(days=day)
        return timezone.make_aware(datetime.datetime.combine(date, datetime.time.min))

    def run(self) -> None:
        n_customers = min(max(self.target // 25, 8), 20_000)
        n_products = min(max(self.target // 60, 10), 400)
        self.progress.label = "staff and catalogue import"
        self.create_staff(self.midnight(0) + timedelta(hours=7, minutes=45))
        self.import_catalogue(n_customers, n_products, self.midnight(0) + timedelta(hours=7))
        events = self.measure()

        # Most of a small history comes from staff requests; the rest, and everything past
        # REQUEST_EVENTS_CAP, from marketplace orders written in bulk. Room is kept for the
        # last day's phases (clean-up, stocktake) and Black Friday.
        budget = max(self.target - self.tail() - events, 0)
        self.request_budget = min(REQUEST_EVENTS_CAP, int(budget * 0.8))
        self.bulk_budget = budget - self.request_budget
        import_days = self.import_days()

        for day in range(1, HISTORY_DAYS):
            self.shift = Shift(self.rng, self.midnight(day))
            if day == BLACK_FRIDAY_DAY:
                self.progress.label = "Black Friday"
                self.black_friday(self.midnight(day) + timedelta(minutes=1))
            tonight = import_days.pop(day, [])
            later = sum(map(len, import_days.values()))
            for done, moment in enumerate(tonight):
                self.progress.label = "marketplace imports"
                self.marketplace_batch(moment, batches_left=later + len(tonight) - done)
            self.progress.label = "staff requests"
            self.trading_day(self.orders_today(day))
        self.progress.label = "staff requests"
        self.every_kind_of_request()
        self.progress.label = "clean-up"
        self.clean_up()
        self.progress.label = "stocktake"
        self.stocktake(self.shift.next())
        self.progress.label = "done"
        self.measure()

    def import_days(self) -> dict[int, list[datetime.datetime]]:
        """When the marketplace imports run: nights spread evenly over the history, each at
        about 2:00 (half an hour apart when two share a night)."""
        orders = self.bulk_budget // EVENTS_PER_BULK_ORDER
        if not orders:
            return {}
        batches = max(4, -(-orders // BULK_BATCH))
        nights: dict[int, list[datetime.datetime]] = defaultdict(list)
        for batch in range(batches):
            day = 1 + batch * (LAST_IMPORT_DAY - 1) // batches
            start = self.midnight(day) + timedelta(hours=2, minutes=30 * len(nights[day]))
            nights[day].append(start + timedelta(minutes=self.rng.randint(0, 25)))
        return nights

    def orders_today(self, day: int) -> int:
        """How many orders staff place on `day`: what is left of the request budget (and of
        the target, after the imports still to come) over the days left, fewer at weekends."""
        events = self.events
        bulk_left = max(self.bulk_budget - self.bulk_events, 0)
        left = min(
            self.request_budget - self.request_events,
            self.target - self.tail() - events - bulk_left,
        )
        placed = self.did["shop:order-create"]
        per_order = self.request_events / placed if placed else EVENTS_PER_REQUEST_ORDER
        days_left = HISTORY_DAYS - day
        wanted = max(left, 0) / days_left / per_order
        if days_left > 1:  # the last day takes exactly what is left
            weekend = (self.first_day + timedelta(days=day)).weekday() >= 5
            wanted *= (0.55 if weekend else 1.18) * self.rng.uniform(0.7, 1.3)
        return int(wanted + self.rng.random())

    def tail(self) -> int:
        """About how many events the last phases will write, as things stand."""
        coffees = sum(1 for p in self.products.values() if p.category == Product.Category.COFFEE)
        deleted_orders = self.cancelled[: max(1, len(self.cancelled) // 2)]
        deleted_lines = sum(len(self.order_lines[pk]) for pk in deleted_orders)
        if not deleted_orders:  # the requests that cancel orders are still to come
            deleted_orders, deleted_lines = [0], 3
        retired_tags = sum(RETIRED_TAG in names for names in self.product_tags.values())
        return (
            coffees  # Black Friday
            + len(deleted_orders)
            + deleted_lines
            + self.erasures()
            + 1  # the retired tag
            + retired_tags
            + 1  # offboarding
            + 3  # discontinued products
            + 5  # stocktake
        )

    def erasures(self) -> int:
        """How many customers ask to be erased."""
        return max(1, len(self.addresses) // 200)

    # -- 1. staff and import --------------------------------------------------------------

    def create_staff(self, moment: datetime.datetime) -> None:
        with (
            clock.at(moment),
            pghistory.context(source="staff onboarding", shop=demo_data.SHOP_NAME),
        ):
            for index, (username, first, last) in enumerate(demo_data.STAFF):
                member = StaffMember.objects.filter(username=username).first()
                if member is None:
                    member = StaffMember.objects.create_user(
                        username,
                        email=f"{username}@{demo_data.STAFF_EMAIL_DOMAIN}",
                        first_name=first,
                        last_name=last,
                        is_staff=True,
                        is_superuser=index == 0,  # the shop manager
                        date_joined=clock.now(),
                    )
                elif not (member.is_staff and member.is_active):  # left before: back again
                    member.is_staff = member.is_active = True
                    member.save(update_fields=["is_staff", "is_active"])
                self.staff.append(member)
                client = Client(SERVER_NAME="localhost")
                client.force_login(member)
                self.clients[member.pk] = client

    def import_catalogue(
        self, n_customers: int, n_products: int, moment: datetime.datetime
    ) -> None:
        rng = self.rng
        products = demo_data.choose_products(rng, n_products)
        customers = demo_data.customers(rng, n_customers)
        metadata = {
            "source": "catalogue import",
            "file": f"legacy-shop-export-{moment.date() - timedelta(days=1)}.csv",
            "rows": len(products) + len(customers),
        }
        with clock.at(moment), pghistory.context(**metadata):
            tags = {
                t.name: t for t in Tag.objects.bulk_create(Tag(name=n) for n in demo_data.TAGS)
            }
            created = Product.objects.bulk_create(
                Product(
                    name=p.name,
                    sku=p.sku,
                    category=p.category,
                    price=p.price,
                    stock=p.stock,
                    description=p.description,
                    attributes=p.attributes,
                )
                for p in products
            )
            ProductTag.objects.bulk_create(
                ProductTag(product=product, tag=tags[name])
                for product, data in zip(created, products)
                for name in data.tags
            )
            imported = Customer.objects.bulk_create(
                (
                    Customer(
                        name=c.name, email=c.email, city=c.city, is_vip=c.is_vip, notes=c.notes
                    )
                    for c in customers
                ),
                batch_size=2_000,
            )
        for product, data in zip(created, products):
            self.products[product.pk] = product
            self.product_tags[product.pk] = set(data.tags)
        for customer, data in zip(imported, customers):
            self.addresses[customer.pk] = data.address
        # Some imported customers never order (and one of them asks to be erased later).
        keep_out = max(1, len(imported) // 10)
        self.ordering_customers = [c.pk for c in imported[:-keep_out]]

    # -- 2. staff requests ----------------------------------------------------------------

    def post(self, url_name: str, *args, data: dict, expect: int = 200):
        """POST as a random staff member (the one who is on shift for this task)."""
        # The shop manager is busy with other things: a tenth of the requests are hers.
        weights = [1] + [3] * (len(self.staff) - 1)
        member = self.rng.choices(self.staff, weights=weights)[0]
        url = reverse(url_name, args=args)
        with clock.at(self.shift.next()):
            response = self.clients[member.pk].post(url, data)
        if response.status_code != expect:
            body = response.content.decode(errors="replace")[:300]
            raise CommandError(
                f"POST {url} as {member.username}: {response.status_code} (expected {expect}):"
                f" {body}"
            )
        self.did[url_name] += 1
        return response

    def trading_day(self, orders: int) -> None:
        """One day of back-office work: new orders, open orders moving on, restocking, and
        now and then a customer's details or a product's tags."""
        rng = self.rng
        before = self.events  # measured when the last writes ended
        for _ in range(orders):
            self.place_order()
        for order_pk in sorted(self.open_orders):
            self.move_order(order_pk)
        self.restock_low()
        if rng.random() < 0.35:
            self.edit_customer()
        if rng.random() < 0.25:
            self.retag_product()
        self.request_events += self.measure() - before

    def every_kind_of_request(self) -> None:
        """Make sure every kind of request shows up in the history, however small the run."""
        rng = self.rng
        before = self.measure()
        while self.did["shop:order-cancel"] < 2:
            candidates = [pk for pk, status in self.open_orders.items() if status == "new"]
            order_pk = candidates[0] if candidates else self.place_order()
            self.cancel(order_pk)
        if not self.did["shop:customer-edit"]:
            self.edit_customer()
        if not self.did["shop:product-tags"]:
            self.retag_product()
        if not self.did["shop:product-restock"]:
            self.restock(rng.choice(sorted(self.products)))
        self.request_events += self.measure() - before

    def place_order(self) -> int:
        rng = self.rng
        customer_pk = rng.choice(self.ordering_customers)
        n_lines = rng.choices([1, 2, 3, 4], weights=[35, 35, 20, 10])[0]
        on_sale = sorted(pk for pk, p in self.products.items() if p.is_active)
        lines = []
        for product_pk in rng.sample(on_sale, min(n_lines, len(on_sale))):
            product = self.products[product_pk]
            if product.category in (Product.Category.EQUIPMENT, Product.Category.BOOKS):
                quantity = 1
            else:
                quantity = rng.choices([1, 2, 3, 5], weights=[60, 25, 10, 5])[0]
            if product.stock < quantity:
                self.restock(product_pk)
            lines.append((product_pk, quantity))
        data = {
            "customer": customer_pk,
            "shipping_address": self.addresses[customer_pk],
            "product": [pk for pk, _ in lines],
            "quantity": [quantity for _, quantity in lines],
        }
        if rng.random() < 0.1:
            data["note"] = rng.choice(
                ["Gift wrap, please.", "Deliver to the back door.", "Birthday present!"]
            )
        response = self.post("shop:order-create", data=data, expect=201)
        order_pk = int(resolve(response["Location"]).kwargs["object_id"])
        for product_pk, quantity in lines:
            self.products[product_pk].stock -= quantity
        self.open_orders[order_pk] = Order.Status.NEW
        self.order_lines[order_pk] = lines
        return order_pk

    def move_order(self, order_pk: int) -> None:
        """One day in the life of an open order: it moves on, is cancelled or waits."""
        status = self.open_orders[order_pk]
        roll = self.rng.random()
        if status in Order.CANCELLABLE and roll < (0.08 if status == Order.Status.NEW else 0.03):
            self.cancel(order_pk)
        elif roll < 0.7:
            next_status = Order.NEXT_STATUS[status]
            self.post("shop:order-status", order_pk, data={"status": next_status})
            if next_status == Order.Status.DELIVERED:
                del self.open_orders[order_pk]
            else:
                self.open_orders[order_pk] = next_status

    def cancel(self, order_pk: int) -> None:
        reason = self.rng.choice(
            [
                "customer changed their mind",
                "payment failed",
                "duplicate order",
                "address could not be verified",
                "item out of stock at supplier",
            ]
        )
        self.post("shop:order-cancel", order_pk, data={"reason": reason})
        for product_pk, quantity in self.order_lines[order_pk]:
            self.products[product_pk].stock += quantity
        del self.open_orders[order_pk]
        self.cancelled.append(order_pk)

    def restock(self, product_pk: int) -> None:
        quantity = self.rng.randint(40, 160)
        self.post("shop:product-restock", product_pk, data={"quantity": quantity})
        self.products[product_pk].stock += quantity

    def restock_low(self) -> None:
        for product_pk, product in sorted(self.products.items()):
            if product.is_active and product.stock < 10:
                self.restock(product_pk)

    def edit_customer(self) -> None:
        rng = self.rng
        customer = Customer.objects.get(pk=rng.choice(self.ordering_customers))
        change = rng.choice(["vip", "move", "email", "notes"])
        if change == "vip" or (change == "notes" and customer.notes):
            data = {"is_vip": "false" if customer.is_vip else "true"}
        elif change == "move":
            city = rng.choice([c for c in demo_data.city_names() if c != customer.city])
            data = {"city": city}
            self.addresses[customer.pk] = demo_data.address(rng, city)
        elif change == "email":
            local = demo_data.ascii_slug(customer.name)
            # Numbered by the edits so far, not by primary key: the same seed, the same address.
            number = self.did["shop:customer-edit"] + 1
            data = {"email": f"{local}.{number}@{rng.choice(demo_data.EMAIL_DOMAINS)}"}
        else:
            data = {"notes": rng.choice(demo_data.CUSTOMER_NOTES)}
        self.post("shop:customer-edit", customer.pk, data=data)

    def retag_product(self) -> None:
        rng = self.rng
        product_pk = rng.choice(sorted(self.products))
        current = self.product_tags[product_pk]
        addable = [name for name in demo_data.TAGS if name not in current]
        if current and (rng.random() < 0.4 or not addable):
            name = rng.choice(sorted(current))
            self.post("shop:product-tags", product_pk, data={"remove": name})
            current.discard(name)
        else:
            name = rng.choice(addable)
            self.post("shop:product-tags", product_pk, data={"add": name})
            current.add(name)

    # -- 3. bulk volume -------------------------------------------------------------------

    def marketplace_batch(self, moment: datetime.datetime, batches_left: int) -> None:
        """One night's marketplace orders in bulk, sized to spread what is left of the bulk
        budget over the batches left: imported at `moment` (placed in the day before),
        settled by the payment provider hours later, shipped the next day and delivered
        three days later, each step one bulk update in a context of its own."""
        rng = self.rng
        before = self.events
        batch = self.did["marketplace batch"] + 1
        written = self.did["marketplace order"]
        per_order = self.bulk_events / written if written else EVENTS_PER_BULK_ORDER
        size = int((self.bulk_budget - self.bulk_events) / batches_left / per_order)
        if size < 1:
            return
        size = min(size, BULK_BATCH)
        on_sale = sorted(pk for pk, p in self.products.items() if p.is_active)
        channel = rng.choice(["Amazon", "Etsy", "eBay", "Wholesale portal"])
        with (
            clock.at(moment),
            pghistory.context(source="marketplace import", channel=channel, batch=batch),
        ):
            customers = [rng.choice(self.ordering_customers) for _ in range(size)]
            orders = Order.objects.bulk_create(
                Order(
                    customer_id=customer_pk,
                    shipping_address=self.addresses[customer_pk],
                    placed_at=moment - timedelta(minutes=rng.randint(10, 1_440)),
                    note=f"{channel} order {rng.randint(10**9, 10**10 - 1)}",
                )
                for customer_pk in customers
            )
            sold: Counter[int] = Counter()
            lines = []
            for order in orders:
                n_lines = rng.choices([1, 2, 3], weights=[45, 35, 20])[0]
                for product_pk in rng.sample(on_sale, min(n_lines, len(on_sale))):
                    quantity = rng.choices([1, 2, 3], weights=[70, 22, 8])[0]
                    sold[product_pk] += quantity
                    lines.append(
                        OrderLine(
                            order=order,
                            product_id=product_pk,
                            quantity=quantity,
                            unit_price=self.products[product_pk].price,
                        )
                    )
            OrderLine.objects.bulk_create(lines, batch_size=5_000)

        pks = [order.pk for order in orders]
        cancelled = {pk for pk in pks if rng.random() < 0.04}
        paid = [pk for pk in pks if pk not in cancelled]
        shipped = [pk for pk in paid if rng.random() < 0.95]
        delivered = [pk for pk in shipped if rng.random() < 0.9]
        provider = rng.choice(["Stripe", "Adyen", "PayPal"])
        settled = moment + timedelta(minutes=rng.randint(60, 180))
        with (
            clock.at(settled),
            pghistory.context(source="payment settlement", provider=provider, batch=batch),
        ):
            Order.objects.filter(pk__in=paid).update(status=Order.Status.PAID)
            Order.objects.filter(pk__in=cancelled).update(status=Order.Status.CANCELLED)
            # The warehouse books the units out when an order is paid for.
            self.sync_stock(sold)
        warehouse = {"source": "warehouse sync", "warehouse": "Hamburg", "batch": batch}
        for days, status, pks_now in [
            (1, Order.Status.SHIPPED, shipped),
            (3, Order.Status.DELIVERED, delivered),
        ]:
            night = moment.replace(hour=0, minute=0, second=0, microsecond=0)
            when = night + timedelta(days=days, hours=9, minutes=rng.randint(0, 240))
            with clock.at(when), pghistory.context(**warehouse):
                Order.objects.filter(pk__in=pks_now).update(status=status)
        self.bulk_events += self.measure() - before
        self.did["marketplace batch"] += 1
        self.did["marketplace order"] += size

    def sync_stock(self, sold: Counter[int]) -> None:
        """One `UPDATE` for the stock of every product sold: units out, deliveries in."""
        whens = []
        for product_pk, units in sorted(sold.items()):
            product = self.products[product_pk]
            stock = product.stock - units
            if stock < 20:
                stock += self.rng.randint(100, 400) + units
            product.stock = stock
            whens.append(When(pk=product_pk, then=Value(stock)))
        if whens:
            Product.objects.filter(pk__in=sold).update(
                stock=Case(*whens, output_field=IntegerField())
            )

    # -- 4. one bulk price change ---------------------------------------------------------

    def black_friday(self, moment: datetime.datetime) -> None:
        manager = self.staff[0]
        with (
            clock.at(moment),
            pghistory.context(
                reason=BLACK_FRIDAY,
                category=Product.Category.COFFEE.value,
                discount_percent=15,
                approved_by=manager.username,
            ),
        ):
            Product.objects.filter(category=Product.Category.COFFEE, is_active=True).update(
                price=F("price") * BLACK_FRIDAY_FACTOR
            )
        for product in Product.objects.filter(category=Product.Category.COFFEE):
            self.products[product.pk].price = product.price
        self.measure()

    # -- 5. deletions and other clean-up --------------------------------------------------

    def clean_up(self) -> None:
        rng = self.rng
        # Staff delete about half of the cancelled orders (at least one) through the shop.
        for order_pk in self.cancelled[: max(1, len(self.cancelled) // 2)]:
            self.post("shop:order-delete", order_pk, data={})

        # A customer who never ordered asks to be forgotten.
        never_ordered = (
            Customer.objects.filter(orders__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        erased = list(never_ordered[: self.erasures()])
        with (
            clock.at(self.shift.next()),
            pghistory.context(
                reason="GDPR erasure request", ticket=f"PRIV-{rng.randint(100, 999)}"
            ),
        ):
            Customer.objects.filter(pk__in=erased).delete()

        # The "new" tag is retired: deleting it deletes its product tags too.
        with clock.at(self.shift.next()), pghistory.context(reason="tag retired", tag=RETIRED_TAG):
            Tag.objects.filter(name=RETIRED_TAG).delete()
        for names in self.product_tags.values():
            names.discard(RETIRED_TAG)

        # A staff member leaves; the account is deactivated, not deleted.
        leaver = self.staff[-1]
        with (
            clock.at(self.shift.next()),
            pghistory.context(reason="offboarding", by=self.staff[0].username),
        ):
            leaver.is_active = False
            leaver.save(update_fields=["is_active"])

        # The supplier discontinues a few products (never coffee: Black Friday came first).
        others = sorted(
            pk for pk, p in self.products.items() if p.category != Product.Category.COFFEE
        )
        dropped = rng.sample(others, min(3, len(others)))
        with clock.at(self.shift.next()), pghistory.context(reason="discontinued by supplier"):
            Product.objects.filter(pk__in=dropped).update(is_active=False)
        for product_pk in dropped:
            self.products[product_pk].is_active = False
        self.measure()

    # -- 6. raw SQL without context -------------------------------------------------------

    def stocktake(self, moment: datetime.datetime) -> None:
        """Counted stock differs from the books: fixed in SQL, outside any context."""
        rng = self.rng
        counted = sorted(pk for pk, p in self.products.items() if p.stock >= 5)
        table = connection.ops.quote_name(Product._meta.db_table)
        with clock.at(moment), connection.cursor() as cursor:
            for product_pk in rng.sample(counted, min(5, len(counted))):
                delta = rng.choice([-3, -2, -1, 1, 2, 4])
                cursor.execute(
                    f"UPDATE {table} SET stock = stock + %s WHERE id = %s", [delta, product_pk]
                )
                self.products[product_pk].stock += delta
                self.did["stocktake correction"] += 1


def summary(target: int, seed: int, elapsed: float) -> str:
    """What was written: events per model and label, contexts by kind, and the time taken."""
    lines = []
    total = 0
    context_ids: set = set()
    without_context = 0
    rows = []
    for model in event_models():
        labels = {
            row["pgh_label"]: row["n"]
            for row in model.objects.values("pgh_label").annotate(n=Count("pgh_id"))
        }
        count = sum(labels.values())
        total += count
        context_ids.update(
            model.objects.exclude(pgh_context=None)
            .values_list("pgh_context_id", flat=True)
            .distinct()
        )
        without_context += model.objects.filter(pgh_context=None).count()
        detail = ", ".join(f"{label} {n:,}" for label, n in sorted(labels.items()))
        rows.append((model._meta.label, count, detail))

    kinds: Counter[str] = Counter()
    users: set = set()
    for metadata in Context.objects.filter(pk__in=context_ids).values_list("metadata", flat=True):
        if "url" in metadata:
            kinds["requests (user and URL)"] += 1
            users.add(metadata.get("user"))
        else:
            kinds[metadata.get("source") or metadata.get("reason") or "other"] += 1

    lines.append(
        f"Seeded {total:,} events (target {target:,}, seed {seed}) in {elapsed:.1f} s,"
        f" {len(context_ids):,} contexts."
    )
    spans = [
        model.objects.aggregate(first=Min("pgh_created_at"), last=Max("pgh_created_at"))
        for model in event_models()
    ]
    first = min(span["first"] for span in spans if span["first"])
    last = max(span["last"] for span in spans if span["last"])
    lines.append(
        f"History from {timezone.localtime(first):%Y-%m-%d %H:%M}"
        f" to {timezone.localtime(last):%Y-%m-%d %H:%M}."
    )
    lines.append("Events per model:")
    width = max(len(label) for label, _, _ in rows)
    for label, count, detail in rows:
        lines.append(f"  {label:<{width}}  {count:>9,}  ({detail})")
    lines.append("Contexts:")
    for kind, count in sorted(kinds.items(), key=lambda item: (-item[1], item[0])):
        suffix = f" from {len(users)} staff members" if kind.startswith("requests") else ""
        lines.append(f"  {count:>9,}  {kind}{suffix}")
    lines.append(f"Events without a context: {without_context:,} (the raw SQL stocktake)")
    return "\n".join(lines)
