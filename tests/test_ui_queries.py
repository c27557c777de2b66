"""What each page costs the database, whatever the size of the history: a bounded number of
queries per page, a page of newest events that reads about a page of rows per table, and an
object's timeline that reads that object's events only."""

import json
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

import pghistory
from example_project.shop.models import Customer, Order, OrderLine, Product, ProductTag, Tag
from pghistory.models import Events
from pghistory_admin import pagination

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop_history(django_user_model):
    """Events of every shop model, several users and contexts, some deleted objects."""
    root = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    staff = [
        django_user_model.objects.create_user(f"staff{n}", password="pw", is_staff=True)
        for n in range(3)
    ]
    tags = Tag.objects.bulk_create(Tag(name=f"tag{n}") for n in range(5))
    products = Product.objects.bulk_create(
        Product(name=f"P{n}", sku=f"S{n}", price=Decimal("1.50"), category="tea")
        for n in range(40)
    )
    ProductTag.objects.bulk_create(
        ProductTag(product=product, tag=tags[n % 5]) for n, product in enumerate(products)
    )
    customers = Customer.objects.bulk_create(
        Customer(name=f"C{n}", email=f"c{n}@example.com") for n in range(20)
    )
    for n, customer in enumerate(customers):
        with pghistory.context(user=staff[n % 3].pk, url=f"/shop/orders/{n}/"):
            order = Order.objects.create(customer=customer, shipping_address="Main St 1")
            OrderLine.objects.create(order=order, product=products[n], quantity=1, unit_price=1)
            order.status = Order.Status.PAID
            order.save()
    Product.objects.filter(pk__in=[p.pk for p in products[:30]]).update(price=Decimal("2.00"))
    OrderLine.objects.filter(order__customer__in=customers[:5]).delete()
    return {"root": root, "order": Order.objects.first(), "product": products[0]}


def _pages(history):
    order, product = history["order"], history["product"]
    event = Events.objects.tracks(order).order_by("-pgh_id").first()
    return [
        "/history/",
        "/admin/pghistory_ui/event/",
        "/history/?last=1",
        "/history/?model=shop.order&model=shop.orderline&label=update",
        "/history/?user=staff1",
        "/history/?field=price",
        f"/history/?context={event.pgh_context_id}",
        "/history/?q=Main",
        f"/history/object/shop.order/{order.pk}/",
        f"/history/object/shop.order/{order.pk}/?related=1",
        f"/history/object/shop.product/{product.pk}/?related=1",
        f"/history/event/{event.pgh_slug}/",
        f"/history/object/shop.order/{order.pk}/as-of/?at=2999-01-01",
        f"/history/context/{event.pgh_context_id}/",
        "/history/user/staff1/",
        f"/history/event/{event.pgh_slug}/revert/",
    ]


def test_every_page_takes_at_most_ten_queries(client, shop_history, django_assert_max_num_queries):
    client.force_login(shop_history["root"])
    for url in _pages(shop_history):
        with django_assert_max_num_queries(10):
            response = client.get(url)
        assert response.status_code == 200, url


def _scanned_rows(plan, table):
    """Rows that the plan's scans of `table` returned, summed over every loop."""
    return sum(scan["Actual Rows"] * scan["Actual Loops"] for scan in _scans(plan, table))


def test_page_one_reads_about_a_page_of_each_tables_rows_however_long_the_history():
    Product.objects.bulk_create(
        Product(name=f"P{n}", sku=f"S{n}", price=1, category="tea") for n in range(3000)
    )
    for _ in range(3):
        Product.objects.update(stock=F("stock") + 1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE shop_productevent")
    page_query = pagination.ordered(Events.objects.all(), pagination.DEFAULT_SORT)[:51]
    sql, params = page_query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        (plan,) = cursor.fetchone()
    plan = json.loads(plan) if isinstance(plan, str) else plan

    # 12,000 product events: the newest 51 through the time index, then those 51 again by
    # primary key with each one's previous event, for its diff.
    assert Events.objects.across("shop.ProductEvent").count() == 12_000
    assert 51 <= _scanned_rows(plan[0]["Plan"], "shop_productevent") <= 3 * 51 + 10


def _busy_timeline_plan(client, vacuum: bool = False) -> dict:
    """The plan of the timeline query of a product with 302 events among 4,300."""
    root = User.objects.create_superuser("root", "r@example.com", "pw")
    Product.objects.bulk_create(
        Product(name=f"P{n}", sku=f"S{n}", price=1, category="tea") for n in range(2000)
    )
    busy = Product.objects.get(sku="S7")
    for stock in range(1, 301):
        Product.objects.filter(pk=busy.pk).update(stock=stock)
    Product.objects.update(stock=F("stock") + 1)
    with connection.cursor() as cursor:
        cursor.execute(f"{'VACUUM ' if vacuum else ''}ANALYZE shop_productevent")
    assert Events.objects.across("shop.ProductEvent").count() == 4_300
    client.force_login(root)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/history/object/shop.product/{busy.pk}/")
    assert response.status_code == 200
    (timeline_sql,) = [q["sql"] for q in captured if '"pghistory_events"' in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + timeline_sql)
        (plan,) = cursor.fetchone()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return plan[0]["Plan"]


def test_a_busy_objects_timeline_reads_its_own_events_and_diffs_a_page_of_them(client):
    plan = _busy_timeline_plan(client)

    # The timeline reads the busy product's 302 events through the object index, and the 51
    # it shows again with each one's previous event.
    assert _scanned_rows(plan, "shop_productevent") <= 302 + 2 * 51 + 10
    assert "shop_productevent" not in _seq_scanned(plan)


@pytest.mark.django_db(transaction=True)
def test_a_busy_objects_newest_events_are_chosen_from_the_object_index_alone(client):
    plan = _busy_timeline_plan(client, vacuum=True)

    # Choosing the newest 51 of 302 by time reads the times from the (pgh_obj_id, pgh_id)
    # index, which includes them: no table page is read for the 251 events not shown.
    (choice,) = [
        scan
        for scan in _scans(plan, "shop_productevent")
        if scan["Actual Rows"] * scan["Actual Loops"] == 302
    ]
    assert (choice["Node Type"], choice["Index Name"], choice["Heap Fetches"]) == (
        "Index Only Scan",
        "shop_produc_pgh_obj_14c233_idx",
        0,
    )


def _scans(plan, table) -> list[dict]:
    """The plan's scans of `table`."""
    found = [plan] if plan.get("Relation Name") == table and "Scan" in plan["Node Type"] else []
    for child in plan.get("Plans", []):
        found += _scans(child, table)
    return found


def _seq_scanned(plan) -> set[str]:
    """The tables the plan reads whole."""
    found = {plan["Relation Name"]} if plan["Node Type"] == "Seq Scan" else set()
    for child in plan.get("Plans", []):
        found |= _seq_scanned(child)
    return found
