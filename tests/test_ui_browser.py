"""The event browser of `pghistory_admin`, standalone and in the admin, through real HTTP:
the rows people see, each filter, sorting, keyset pages, and who may see what."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.utils import timezone

import pghistory
from example_project.shop.models import Customer, Order, OrderLine, Product
from pghistory.models import Events
from tests.html import column, event_rows

BROWSER = "/history/"
ADMIN_BROWSER = "/admin/pghistory_ui/event/"

pytestmark = pytest.mark.django_db(transaction=True)


def staff(django_user_model, username, *perms, **names):
    user = django_user_model.objects.create_user(username, password="pw", is_staff=True, **names)
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def db_now():
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def when(slug):
    """The "When" cell of an event, as the page shows it."""
    event = Events.objects.get(pgh_slug=slug)
    return timezone.localtime(event.pgh_created_at).strftime("%Y-%m-%d %H:%M:%S")


def slugs(obj, **filters):
    """The slugs of an object's events, newest first."""
    events = Events.objects.tracks(obj).filter(**filters).order_by("-pgh_id")
    return list(events.values_list("pgh_slug", flat=True))


@pytest.fixture
def shop(django_user_model):
    """Alice may view products and customers; a sencha's life and a customer, in four
    transactions (so four distinct times), two of them in alice's requests."""
    alice = staff(
        django_user_model,
        "alice",
        "view_product",
        "view_customer",
        first_name="Alice",
        last_name="Archer",
    )
    with pghistory.context(user=alice.pk, url="/shop/products/new/") as created:
        tea = Product.objects.create(
            name="Sencha", sku="T-1", price=Decimal("4.50"), stock=10, category="tea"
        )
    with pghistory.context(user=alice.pk, url="/shop/products/1/restock/") as restocked:
        tea.stock = 25
        tea.save()
    with pghistory.context(reason="Black Friday"):
        Product.objects.filter(pk=tea.pk).update(price=Decimal("3.83"))
    ada = Customer.objects.create(name="Ada", email="ada@example.com", city="Oslo")
    return {
        "alice": alice,
        "tea": tea,
        "ada": ada,
        "created": created.id,
        "restocked": restocked.id,
    }


def test_rows_show_when_who_what_object_changes_and_where_newest_first(client, shop):
    client.force_login(shop["alice"])
    tea, ada = shop["tea"], shop["ada"]

    response = client.get(BROWSER)

    assert response.status_code == 200
    created, restocked = str(shop["created"]), str(shop["restocked"])
    insert_ada = slugs(ada)[0]
    tea_slugs = slugs(tea)
    black_friday = Events.objects.get(pgh_slug=tea_slugs[0]).pgh_context_id
    assert event_rows(response.content) == [
        {
            "event": insert_ada,
            "When": when(insert_ada),
            "Who": "—",
            "What": "insert",
            "Object": "Customer Ada <ada@example.com>",
            "Changes": "",
            "Where": "",
        },
        {
            "event": tea_slugs[0],
            "When": when(tea_slugs[0]),
            "Who": "—",
            "What": "update",
            "Object": "Product Sencha (T-1)",
            "Changes": "Price (EUR): 4.50 → 3.83",
            "Where": f"reason: Black Friday {str(black_friday)[:8]}",
        },
        {
            "event": tea_slugs[1],
            "When": when(tea_slugs[1]),
            "Who": "Alice Archer (alice)",
            "What": "update",
            "Object": "Product Sencha (T-1)",
            "Changes": "Units in stock: 10 → 25",
            "Where": f"/shop/products/1/restock/ {restocked[:8]}",
        },
        {
            "event": tea_slugs[2],
            "When": when(tea_slugs[2]),
            "Who": "Alice Archer (alice)",
            "What": "insert",
            "Object": "Product Sencha (T-1)",
            "Changes": "",
            "Where": f"/shop/products/new/ {created[:8]}",
        },
    ]


@pytest.fixture
def root_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "pw"))
    return client


def objects_of(response):
    return column(response.content, "Object")


def test_model_filter_takes_several_models(client, shop):
    client.force_login(shop["alice"])

    products = client.get(BROWSER, {"model": "shop.product"})
    both = client.get(BROWSER, {"model": ["shop.product", "shop.customer"]})

    assert objects_of(products) == ["Product Sencha (T-1)"] * 3
    assert objects_of(both) == ["Customer Ada <ada@example.com>"] + ["Product Sencha (T-1)"] * 3


def test_label_filter(root_client, shop):
    response = root_client.get(BROWSER, {"label": "update", "model": "shop.product"})

    assert column(response.content, "Changes") == [
        "Price (EUR): 4.50 → 3.83",
        "Units in stock: 10 → 25",
    ]


def test_user_filter_by_user_name_and_by_the_id_of_a_deleted_user(root_client, shop):
    alice = shop["alice"]
    by_name = root_client.get(BROWSER, {"user": "alice"})
    pk = alice.pk
    alice.delete()
    by_id = root_client.get(BROWSER, {"user": str(pk)})

    assert column(by_name.content, "Changes") == ["Units in stock: 10 → 25", ""]
    assert column(by_name.content, "Who") == ["Alice Archer (alice)"] * 2
    assert column(by_id.content, "Who") == [f"user #{pk} (deleted)"] * 2


def test_date_range_filter_keeps_events_from_since_and_before_until(
    root_client, django_user_model
):
    Product.objects.create(name="Early", sku="E", price=1, category="tea")
    middle = db_now()
    Product.objects.create(name="Late", sku="L", price=1, category="tea")
    end = db_now()
    Product.objects.create(name="After", sku="A", price=1, category="tea")
    fmt = "%Y-%m-%dT%H:%M:%S.%f"

    since = root_client.get(
        BROWSER, {"model": "shop.product", "since": timezone.localtime(middle).strftime(fmt)}
    )
    between = root_client.get(
        BROWSER,
        {
            "model": "shop.product",
            "since": timezone.localtime(middle).strftime(fmt),
            "until": timezone.localtime(end).strftime(fmt),
        },
    )
    whole_day = root_client.get(
        BROWSER, {"model": "shop.product", "until": timezone.localdate().isoformat()}
    )

    assert objects_of(since) == ["Product After (A)", "Product Late (L)"]
    assert objects_of(between) == ["Product Late (L)"]
    assert objects_of(whole_day) == ["Product After (A)", "Product Late (L)", "Product Early (E)"]


def test_period_presets_link_to_recent_events(root_client, shop):
    response = root_client.get(BROWSER, {"model": "shop.customer", "period": "hour"})

    assert objects_of(response) == ["Customer Ada <ada@example.com>"]
    assert '<a href="?model=shop.customer&amp;period=day" class="pgh-preset">' in (
        response.content.decode()
    )


def test_context_filter_shows_one_requests_events(root_client, shop):
    response = root_client.get(BROWSER, {"context": str(shop["restocked"])})

    assert column(response.content, "Changes") == ["Units in stock: 10 → 25"]


def test_url_filter_matches_part_of_the_url(root_client, shop):
    response = root_client.get(BROWSER, {"url": "RESTOCK"})

    assert column(response.content, "Where") == [
        f"/shop/products/1/restock/ {str(shop['restocked'])[:8]}"
    ]


def test_object_filter_shows_one_objects_events(root_client, shop):
    other = Product.objects.create(name="Other", sku="O", price=1, category="tea")

    response = root_client.get(BROWSER, {"object": f"shop.product:{shop['tea'].pk}"})

    assert [row["event"] for row in event_rows(response.content)] == slugs(shop["tea"])
    assert other.pk != shop["tea"].pk


def test_changed_field_filter(root_client, shop):
    response = root_client.get(BROWSER, {"field": "stock"})

    assert column(response.content, "Changes") == ["Units in stock: 10 → 25"]


def test_text_search_looks_in_changed_values_and_inserted_rows(root_client, shop):
    by_new_value = root_client.get(BROWSER, {"q": "3.83"})
    by_inserted_value = root_client.get(BROWSER, {"q": "oslo"})

    assert column(by_new_value.content, "Changes") == ["Price (EUR): 4.50 → 3.83"]
    assert objects_of(by_inserted_value) == ["Customer Ada <ada@example.com>"]


def test_a_search_stopped_by_the_statement_timeout_gets_advice(root_client):
    Product.objects.bulk_create(
        Product(name=f"P{n}", sku=f"S{n}", price=1, category="tea") for n in range(10_000)
    )
    for stock in range(1, 4):
        Product.objects.update(stock=stock)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE shop_productevent")
        # Reading 40,000 events and their diffs for a value no event holds takes longer.
        cursor.execute("SET statement_timeout = '50ms'")
    try:
        response = root_client.get(BROWSER, {"q": "no such value"})
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")

    assert response.status_code == 400
    assert column(response.content, "Object") == []
    assert (
        "Finding these events took longer than the database allows, so the search was "
        "stopped. Narrow it with a date range, a model or a user."
    ) in " ".join(response.content.decode().split())
    # Without the limit the same search completes, with nothing found.
    response = root_client.get(BROWSER, {"q": "no such value"})
    assert response.status_code == 200
    assert column(response.content, "Object") == []


def test_sort_by_model_groups_events_by_model_newest_first_within(root_client, shop):
    response = root_client.get(
        BROWSER, {"model": ["shop.product", "shop.customer"], "sort": "-model"}
    )

    assert [row["event"] for row in event_rows(response.content)] == (
        slugs(shop["tea"]) + slugs(shop["ada"])
    )


def test_pages_move_forward_and_back_without_counting(root_client):
    Product.objects.bulk_create(
        Product(name=f"P{i:03}", sku=f"S{i:03}", price=1, category="tea") for i in range(120)
    )
    newest_first = [f"Product P{i:03} (S{i:03})" for i in reversed(range(120))]

    first = root_client.get(BROWSER, {"model": "shop.product"})
    older_link = _link(first, "pgh-page-older")
    second = root_client.get(BROWSER + older_link)
    third = root_client.get(BROWSER + _link(second, "pgh-page-older"))
    back = root_client.get(BROWSER + _link(third, "pgh-page-newer"))
    last = root_client.get(BROWSER + _link(first, "pgh-page-last"))

    assert objects_of(first) == newest_first[:50]
    assert objects_of(second) == newest_first[50:100]
    assert objects_of(third) == newest_first[100:]
    assert "pgh-page-older" not in third.content.decode()
    assert objects_of(back) == newest_first[50:100]
    assert objects_of(last) == newest_first[70:]
    assert "pgh-page-first" not in first.content.decode()


def _link(response, css_class):
    import re

    match = re.search(rf'<a href="([^"]+)" class="{css_class}"', response.content.decode())
    assert match, f"no {css_class} link"
    return match.group(1).replace("&amp;", "&")


def test_a_page_takes_a_bounded_number_of_queries(root_client, django_assert_max_num_queries):
    products = Product.objects.bulk_create(
        Product(name=f"P{i}", sku=f"S{i}", price=1, category="tea") for i in range(60)
    )
    Customer.objects.bulk_create(
        Customer(name=f"C{i}", email=f"c{i}@example.com") for i in range(30)
    )
    Product.objects.filter(pk__in=[p.pk for p in products]).update(stock=5)

    with django_assert_max_num_queries(10):
        response = root_client.get(BROWSER)

    assert len(event_rows(response.content)) == 50


def test_unfiltered_browser_shows_an_estimate_not_a_count(root_client, shop):
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    response = root_client.get(BROWSER)

    assert "About " in response.content.decode()
    assert "About " not in root_client.get(BROWSER, {"label": "insert"}).content.decode()


def test_the_admin_browser_shows_the_same_rows_inside_the_admin(root_client, shop):
    standalone = root_client.get(BROWSER, {"model": "shop.product"})
    in_admin = root_client.get(ADMIN_BROWSER, {"model": "shop.product"})

    assert event_rows(in_admin.content) == event_rows(standalone.content)
    assert '<div class="breadcrumbs">' in in_admin.content.decode()
    assert 'href="/admin/pghistory_ui/event/export.csv?model=shop.product"' in (
        in_admin.content.decode()
    )


def test_admin_index_lists_the_browser_for_staff_who_may_see_events(client, shop):
    client.force_login(shop["alice"])

    assert 'href="/admin/pghistory_ui/event/"' in client.get("/admin/").content.decode()


def test_order_status_shows_choice_labels(root_client):
    customer = Customer.objects.create(name="Bo", email="bo@example.com")
    order = Order.objects.create(customer=customer, shipping_address="Main St 1")
    order.status = Order.Status.PAID
    order.save()

    response = root_client.get(BROWSER, {"object": f"shop.order:{order.pk}"})

    assert [(row["What"], row["Changes"]) for row in event_rows(response.content)] == [
        ("update", "Status: New → Paid"),
        ("status_changed", "Status: New → Paid"),
        ("insert", ""),
    ]


def test_a_deleted_object_is_named_from_its_stored_values(
    root_client, django_assert_max_num_queries
):
    tea = Product.objects.create(name="Sencha", sku="T-1", price=1, category="tea")
    order = Order.objects.create(
        customer=Customer.objects.create(name="Bo", email="bo@example.com"),
        shipping_address="Main St 1",
    )
    OrderLine.objects.bulk_create(
        OrderLine(order=order, product=tea, quantity=n, unit_price=1) for n in range(1, 31)
    )
    OrderLine.objects.filter(order=order).delete()

    with django_assert_max_num_queries(10):
        response = root_client.get(BROWSER, {"model": "shop.orderline", "label": "delete"})

    assert column(response.content, "Object") == [
        f"Order line {n} × Sencha deleted" for n in range(30, 0, -1)
    ]
