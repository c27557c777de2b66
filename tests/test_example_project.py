"""The example project: its shop views, and the history the `seed` command writes.

The test settings install `example_project.shop` but route URLs through `tests.urls` and run
without `HistoryMiddleware`; the `shop_site` fixture switches both to the example project's.
"""

import datetime
import io
import re
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from example_project.shop import demo_data
from example_project.shop.models import (
    Customer,
    Order,
    OrderLine,
    Product,
    ProductTag,
    StaffMember,
    Tag,
)
from pghistory.aggregation import event_models
from pghistory.models import Context, Events, MiddlewareEvents
from pghistory.progress import Progress

SHOP_MODELS = [Customer, Tag, Product, ProductTag, Order, OrderLine, StaffMember]
SHOP_EVENT_MODELS = [model.pgh_event_model for model in SHOP_MODELS]


def event_counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in SHOP_EVENT_MODELS}


def run_seed(*args, **options) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("seed", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


# -- the seed command --------------------------------------------------------------------


@pytest.fixture
def seeded(shop_site):
    """A shop seeded with about 300 events; the command's (stdout, stderr)."""
    return run_seed(events=300, seed=1)


def staff_pks() -> set[int]:
    usernames = [username for username, *_ in demo_data.STAFF]
    return set(User.objects.filter(username__in=usernames).values_list("pk", flat=True))


@pytest.mark.django_db(transaction=True)
def test_seed_writes_about_the_target_with_events_of_every_kind(seeded):
    stdout, stderr = seeded
    counts = event_counts()

    assert all(count > 0 for count in counts.values()), counts
    total = sum(counts.values())
    assert abs(total - 300) <= 30
    assert re.search(rf"Seeded {total:,} events \(target 300, seed 1\) in [\d.]+ s", stdout)
    for label in counts:
        assert label in stdout
    labels = {
        (model._meta.label, label)
        for model in SHOP_EVENT_MODELS
        for label in model.objects.values_list("pgh_label", flat=True).distinct()
    }
    for model in ("Customer", "Tag", "ProductTag", "Order", "OrderLine"):
        assert (f"shop.{model}Event", "delete") in labels
    assert ("shop.OrderEvent", "status_changed") in labels
    assert ("shop.StaffMemberEvent", "update") in labels  # a staff member left
    # Not a terminal: plain progress lines, ending at 100%.
    assert stderr.splitlines()[0] == "seeding 0% 0/300"
    assert re.search(r" 100% \d+/300$", stderr.splitlines()[-1])
    assert "\r" not in stderr


@pytest.mark.django_db(transaction=True)
def test_seed_requests_record_the_staff_user_and_the_exact_url(seeded):
    staff = staff_pks()
    request_events = list(MiddlewareEvents.objects.filter(url__startswith="/shop/"))

    assert len(request_events) > 50
    assert {event.user_id for event in request_events} <= staff
    assert len({event.user_id for event in request_events}) >= 3
    by_kind = {}
    for event in request_events:
        by_kind.setdefault((event.pgh_model, event.pgh_label), []).append(event)
    assert {event.url for event in by_kind["shop.OrderEvent", "insert"]} == {"/shop/orders/new/"}
    for event in by_kind["shop.OrderEvent", "status_changed"]:
        assert event.url in (
            f"/shop/orders/{event.pgh_obj_id}/status/",
            f"/shop/orders/{event.pgh_obj_id}/cancel/",
        )
    for event in by_kind["shop.ProductEvent", "update"]:
        assert re.fullmatch(
            rf"/shop/(products/{event.pgh_obj_id}/restock|orders/\d+/cancel|orders/new)/",
            event.url,
        ), event.url
    for event in by_kind["shop.CustomerEvent", "update"]:
        assert event.url == f"/shop/customers/{event.pgh_obj_id}/"
    # An order and its lines are written in one request, so they share its context.
    order = by_kind["shop.OrderEvent", "insert"][0]
    line_contexts = set(
        OrderLine.pgh_event_model.objects.filter(
            pgh_label="insert", order_id=order.pgh_obj_id
        ).values_list("pgh_context_id", flat=True)
    )
    assert line_contexts == {order.pgh_context_id}
    context = Context.objects.get(pk=order.pgh_context_id)
    assert context.metadata == {"user": order.user_id, "url": "/shop/orders/new/"}


@pytest.mark.django_db(transaction=True)
def test_seed_imports_the_catalogue_and_customers_in_one_context(seeded):
    context = Context.objects.get(metadata__source="catalogue import")

    assert context.metadata["file"].endswith(".csv")
    for model in (Customer, Tag, Product):
        inserts = model.pgh_event_model.objects.filter(pgh_label="insert")
        assert inserts.exists()
        assert set(inserts.values_list("pgh_context_id", flat=True)) == {context.pk}
    imported_tags = ProductTag.pgh_event_model.objects.filter(
        pgh_label="insert", pgh_context=context
    )
    assert imported_tags.exists()
    products = Product.pgh_event_model.objects.filter(pgh_label="insert").count()
    customers = Customer.pgh_event_model.objects.filter(pgh_label="insert").count()
    assert context.metadata["rows"] == products + customers


@pytest.mark.django_db(transaction=True)
def test_seed_bulk_price_change_writes_one_update_per_product_with_old_and_new_price(seeded):
    context = Context.objects.get(metadata__reason="Black Friday: -15%")
    events = list(Events.objects.filter(pgh_context_id=context.pk))

    assert {(event.pgh_model, event.pgh_label) for event in events} == {
        ("shop.ProductEvent", "update")
    }
    changed = [int(event.pgh_obj_id) for event in events]
    assert len(changed) == len(set(changed))
    coffees = set(Product.objects.filter(category="coffee").values_list("pk", flat=True))
    assert coffees and set(changed) == coffees
    for event in events:
        assert set(event.pgh_diff) == {"price"}
        old, new = (Decimal(str(value)) for value in event.pgh_diff["price"])
        assert new == (old * Decimal("0.85")).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert context.metadata["discount_percent"] == 15


@pytest.mark.django_db(transaction=True)
def test_seed_raw_sql_stock_correction_has_no_context(seeded):
    without_context = list(
        Events.objects.across(*SHOP_EVENT_MODELS).filter(pgh_context_id__isnull=True)
    )

    assert len(without_context) == 5
    for event in without_context:
        assert (event.pgh_model, event.pgh_label) == ("shop.ProductEvent", "update")
        assert set(event.pgh_diff) == {"stock"}
        old, new = event.pgh_diff["stock"]
        assert new - old in (-3, -2, -1, 1, 2, 4)
        assert event.pgh_context is None


@pytest.mark.django_db(transaction=True)
def test_seed_deleting_an_order_records_the_order_and_its_lines(seeded):
    line_events = OrderLine.pgh_event_model.objects
    deletes = list(Order.pgh_event_model.objects.filter(pgh_label="delete"))

    assert deletes
    for deleted in deletes:
        assert deleted.status == Order.Status.CANCELLED
        assert not Order.objects.filter(pk=deleted.pgh_obj_id).exists()
        context = Context.objects.get(pk=deleted.pgh_context_id)
        assert context.metadata["url"] == f"/shop/orders/{deleted.pgh_obj_id}/delete/"
        assert context.metadata["user"] in staff_pks()
        inserted = line_events.filter(pgh_label="insert", order_id=deleted.pgh_obj_id)
        removed = line_events.filter(pgh_label="delete", order_id=deleted.pgh_obj_id)
        assert inserted.exists()
        assert set(removed.values_list("pgh_obj_id", flat=True)) == set(
            inserted.values_list("pgh_obj_id", flat=True)
        )
        assert set(removed.values_list("pgh_context_id", flat=True)) == {context.pk}


@pytest.mark.django_db(transaction=True)
def test_seed_runs_once_unless_forced(seeded):
    counts = event_counts()
    contexts = Context.objects.count()

    stdout, _ = run_seed(events=300, seed=1)

    assert "already has data" in stdout and "--force" in stdout
    assert event_counts() == counts
    assert Context.objects.count() == contexts

    stdout, _ = run_seed(events=300, seed=1, force=True)

    assert "Wiping" in stdout
    assert sum(event_counts().values()) == pytest.approx(sum(counts.values()), abs=10)
    # The wipe left no orphaned context behind, and the staff accounts were made anew.
    used = set()
    for model in event_models():  # the test app's too: it tracks users as well
        used.update(model.objects.values_list("pgh_context_id", flat=True))
    assert set(Context.objects.values_list("pk", flat=True)) <= used
    assert StaffMember.pgh_event_model.objects.filter(pgh_label="insert").count() == 4


@pytest.mark.django_db(transaction=True)
def test_seed_is_deterministic(shop_site):
    def snapshot():
        # Primary keys differ between runs (the flush between tests keeps the sequences).
        orders = Order.objects.order_by("pk")
        used = set()
        for model in SHOP_EVENT_MODELS:
            used.update(model.objects.values_list("pgh_context_id", flat=True))
        contexts = Context.objects.filter(pk__in=used).exclude(metadata__has_key="url")
        return (
            list(Product.objects.order_by("pk").values_list("sku", "name", "price", "stock")),
            list(orders.values_list("customer__email", "status", "shipping_address", "note")),
            Counter(
                Events.objects.across(*SHOP_EVENT_MODELS).values_list("pgh_model", "pgh_label")
            ),
            sorted(str(metadata) for metadata in contexts.values_list("metadata", flat=True)),
        )

    # The history is dated back from --today: pinned, so that a run across midnight is the same.
    today = datetime.date(2026, 11, 30)
    run_seed(events=150, seed=7, today=today)
    first = snapshot()
    run_seed(events=150, seed=7, today=today, force=True)

    assert snapshot() == first


def test_seed_rejects_a_tiny_target():
    with pytest.raises(CommandError, match="at least 100"):
        call_command("seed", events=5)


# -- the shop's views --------------------------------------------------------------------


@pytest.fixture
def shop(db):
    customer = Customer.objects.create(name="Ann Example", email="ann@example.com", city="Ghent")
    Customer.objects.create(name="Bob Example", email="bob@example.com", city="Lyon")
    beans = Product.objects.create(
        name="Kenya Nyeri AA, 250 g",
        sku="COF-1",
        price=Decimal("12.50"),
        stock=5,
        category="coffee",
    )
    retired = Product.objects.create(
        name="Old Grinder",
        sku="EQP-1",
        price=Decimal("99.00"),
        stock=3,
        category="equipment",
        is_active=False,
    )
    Tag.objects.create(name="bestseller")
    new_order = Order.objects.create(customer=customer, shipping_address="Veldstraat 1, Ghent")
    OrderLine.objects.create(order=new_order, product=beans, quantity=1, unit_price=beans.price)
    delivered = Order.objects.create(
        customer=customer, shipping_address="Veldstraat 1, Ghent", status="delivered"
    )
    return {
        "customer": customer,
        "beans": beans,
        "retired": retired,
        "new_order": new_order,
        "delivered": delivered,
    }


@pytest.fixture
def staff_client(shop_site, client, django_user_model):
    member = django_user_model.objects.create_user("clerk", is_staff=True)
    client.force_login(member)
    client.member = member
    return client


def _order_data(shop, **changes):
    data = {
        "customer": shop["customer"].pk,
        "shipping_address": "Veldstraat 1\n9000 Ghent",
        "product": [shop["beans"].pk],
        "quantity": ["2"],
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


BAD_ORDERS = {
    "no customer": {"customer": None},
    "customer not a number": {"customer": "ann"},
    "customer out of range": {"customer": str(2**63)},
    "unknown customer": {"customer": "999999"},
    "no address": {"shipping_address": None},
    "blank address": {"shipping_address": "   "},
    "NUL in address": {"shipping_address": "Veldstraat\x00 1"},
    "note too long": {"note": "x" * 1001},
    "no products": {"product": None, "quantity": None},
    "quantity missing": {"quantity": []},
    "quantity zero": {"quantity": ["0"]},
    "quantity negative": {"quantity": ["-1"]},
    "quantity not a number": {"quantity": ["two"]},
    "quantity in other digits": {"quantity": ["\u0662"]},
    "quantity too large": {"quantity": ["101"]},
    "product not a number": {"product": ["beans"]},
    "unknown product": {"product": ["999999"]},
    "inactive product": {"product": "retired"},
    "product twice": {"product": "beans twice", "quantity": ["1", "1"]},
    "more than in stock": {"quantity": ["6"]},
    "too many lines": {"product": [str(n) for n in range(1, 22)], "quantity": ["1"] * 21},
}


@pytest.mark.parametrize("case", BAD_ORDERS)
def test_create_order_rejects_bad_input_with_400_and_writes_nothing(staff_client, shop, case):
    changes = dict(BAD_ORDERS[case])
    if changes.get("product") == "retired":
        changes["product"] = [shop["retired"].pk]
    elif changes.get("product") == "beans twice":
        changes["product"] = [shop["beans"].pk, shop["beans"].pk]
    before = event_counts()

    response = staff_client.post("/shop/orders/new/", _order_data(shop, **changes))

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.strip()
    assert event_counts() == before


def test_create_order_places_it_and_takes_the_units_out_of_stock(staff_client, shop):
    response = staff_client.post("/shop/orders/new/", _order_data(shop))

    assert response.status_code == 201
    order = Order.objects.latest("pk")
    assert response["Location"] == f"/admin/shop/order/{order.pk}/change/"
    assert [(line.product, line.quantity, line.unit_price) for line in order.lines.all()] == [
        (shop["beans"], 2, Decimal("12.50"))
    ]
    shop["beans"].refresh_from_db()
    assert shop["beans"].stock == 3
    event = MiddlewareEvents.objects.get(pgh_model="shop.OrderEvent", pgh_obj_id=str(order.pk))
    assert (event.user_id, event.url) == (staff_client.member.pk, "/shop/orders/new/")


@pytest.mark.parametrize(
    ("order", "status"),
    [
        ("new_order", None),
        ("new_order", ""),
        ("new_order", "teleported"),
        ("new_order", "shipped"),  # skips paid
        ("new_order", "new"),
        ("delivered", "paid"),  # backwards
        ("delivered", "cancelled"),  # cancelling has its own endpoint
    ],
)
def test_set_order_status_rejects_bad_input_with_400(staff_client, shop, order, status):
    data = {} if status is None else {"status": status}

    response = staff_client.post(f"/shop/orders/{shop[order].pk}/status/", data)

    assert response.status_code == 400
    shop[order].refresh_from_db()
    assert shop[order].status in ("new", "delivered")


def test_set_order_status_moves_the_order_on(staff_client, shop):
    url = f"/shop/orders/{shop['new_order'].pk}/status/"

    response = staff_client.post(url, {"status": "paid"})

    assert response.status_code == 200
    event = Order.pgh_event_model.objects.get(pgh_label="status_changed")
    assert (event.status, event.pgh_context.metadata["url"]) == ("paid", url)


def test_cancel_order_rejects_bad_input_with_400(staff_client, shop):
    assert staff_client.post(f"/shop/orders/{shop['delivered'].pk}/cancel/").status_code == 400
    too_long = {"reason": "x" * 201}
    url = f"/shop/orders/{shop['new_order'].pk}/cancel/"
    assert staff_client.post(url, too_long).status_code == 400
    shop["new_order"].refresh_from_db()
    assert shop["new_order"].status == "new"


def test_cancel_order_puts_the_units_back(staff_client, shop):
    url = f"/shop/orders/{shop['new_order'].pk}/cancel/"

    response = staff_client.post(url, {"reason": "duplicate order"})

    assert response.status_code == 200
    shop["new_order"].refresh_from_db()
    shop["beans"].refresh_from_db()
    assert (shop["new_order"].status, shop["new_order"].note) == (
        "cancelled",
        "Cancelled: duplicate order",
    )
    assert shop["beans"].stock == 6


def test_delete_order_rejects_an_order_that_is_not_cancelled(staff_client, shop):
    response = staff_client.post(f"/shop/orders/{shop['new_order'].pk}/delete/")

    assert response.status_code == 400
    assert Order.objects.filter(pk=shop["new_order"].pk).exists()


def test_delete_order_deletes_a_cancelled_order_and_its_lines(staff_client, shop):
    order = shop["new_order"]
    Order.objects.filter(pk=order.pk).update(status="cancelled")

    response = staff_client.post(f"/shop/orders/{order.pk}/delete/")

    assert response.status_code == 200
    assert not Order.objects.filter(pk=order.pk).exists()
    assert OrderLine.pgh_event_model.objects.filter(pgh_label="delete", order_id=order.pk).exists()


@pytest.mark.parametrize("quantity", [None, "", "ten", "0", "-5", "10001", "1.5"])
def test_restock_product_rejects_bad_input_with_400(staff_client, shop, quantity):
    data = {} if quantity is None else {"quantity": quantity}

    response = staff_client.post(f"/shop/products/{shop['beans'].pk}/restock/", data)

    assert response.status_code == 400
    shop["beans"].refresh_from_db()
    assert shop["beans"].stock == 5


def test_restock_product_adds_to_the_stock(staff_client, shop):
    response = staff_client.post(f"/shop/products/{shop['beans'].pk}/restock/", {"quantity": 40})

    assert response.status_code == 200
    shop["beans"].refresh_from_db()
    assert shop["beans"].stock == 45


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"add": ""},
        {"add": "no such tag"},
        {"remove": "no such tag"},
        {"add": "x" * 41},
        {"add": "best\x00seller"},
    ],
)
def test_tag_product_rejects_bad_input_with_400(staff_client, shop, data):
    response = staff_client.post(f"/shop/products/{shop['beans'].pk}/tags/", data)

    assert response.status_code == 400
    assert not ProductTag.objects.exists()


def test_tag_product_adds_and_removes_tags(staff_client, shop):
    url = f"/shop/products/{shop['beans'].pk}/tags/"

    assert staff_client.post(url, {"add": "bestseller"}).status_code == 200
    assert list(shop["beans"].tags.values_list("name", flat=True)) == ["bestseller"]
    assert staff_client.post(url, {"remove": "bestseller"}).status_code == 200
    assert not shop["beans"].tags.exists()
    labels = ProductTag.pgh_event_model.objects.order_by("pgh_id").values_list("pgh_label")
    assert [label for (label,) in labels] == ["insert", "delete"]


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"unknown_field": "x"},
        {"is_vip": "maybe"},
        {"email": "not-an-email"},
        {"email": "bob@example.com"},  # taken by another customer
        {"email": ""},
        {"name": "   "},
        {"name": "x" * 121},
        {"name": "Ann\x00"},
        {"city": "x" * 81},
    ],
)
def test_edit_customer_rejects_bad_input_with_400(staff_client, shop, data):
    before = event_counts()

    response = staff_client.post(f"/shop/customers/{shop['customer'].pk}/", data)

    assert response.status_code == 400
    assert event_counts() == before


def test_edit_customer_changes_only_the_given_fields(staff_client, shop):
    customer = shop["customer"]

    response = staff_client.post(
        f"/shop/customers/{customer.pk}/", {"is_vip": "true", "city": "Utrecht"}
    )

    assert response.status_code == 200
    customer.refresh_from_db()
    assert (customer.name, customer.email, customer.city, customer.is_vip) == (
        "Ann Example",
        "ann@example.com",
        "Utrecht",
        True,
    )


def test_views_answer_only_post_from_staff(shop_site, client, shop, django_user_model):
    url = f"/shop/products/{shop['beans'].pk}/restock/"

    anonymous = client.post(url, {"quantity": 5})
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/admin/login/")

    client.force_login(django_user_model.objects.create_user("shopper"))
    assert client.post(url, {"quantity": 5}).status_code == 302

    client.force_login(django_user_model.objects.create_user("clerk", is_staff=True))
    assert client.get(url).status_code == 405
    assert client.post("/shop/products/999999/restock/", {"quantity": 5}).status_code == 404
    shop["beans"].refresh_from_db()
    assert shop["beans"].stock == 5


# -- the progress helper -----------------------------------------------------------------


def test_progress_prints_a_plain_line_every_tenth_off_a_terminal():
    stream = io.StringIO()

    with Progress(total=200, label="copying", stream=stream) as progress:
        for _ in range(20):
            progress.advance(10)

    lines = stream.getvalue().splitlines()
    assert lines == [f"copying {p}% {p * 2}/200" for p in range(0, 101, 10)]


def test_progress_redraws_one_line_on_a_terminal():
    stream = io.StringIO()
    progress = Progress(total=10, label="work", stream=stream, width=10, interactive=True)
    progress.redraw_interval = 0

    progress.advance(4)
    progress.label = "w"
    progress.update(12)  # more than the total shows as done
    progress.close()
    progress.close()

    draws = stream.getvalue().split("\r")[1:]
    assert draws[0] == "work [####......] 40% 4/10"
    assert draws[1] == "w [####......] 40% 4/10   "  # blanks out the longer label
    assert draws[-1] == "w [##########] 100% 12/10\n"
    assert Progress(total=0, stream=io.StringIO()).fraction == 1.0
