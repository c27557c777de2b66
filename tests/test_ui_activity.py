"""The context and user pages of `pghistory_admin`, through real HTTP: what one request
changed, what one user changed (with their activity per day), and who may see it."""

import datetime
import re
import uuid
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.utils import timezone

import pghistory
from example_project.shop.models import Customer, Order, Product
from pghistory.models import Context, Events
from pghistory_admin.charts import activity_chart
from pghistory_admin.views.activity import chart_range
from tests.html import column, event_rows
from tests.testapp.models import DenormContext

pytestmark = pytest.mark.django_db(transaction=True)

SURFACES = ["/history/", "/admin/pghistory_ui/event/"]


def staff(django_user_model, username, *perms, **names):
    user = django_user_model.objects.create_user(username, password="pw", is_staff=True, **names)
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def slugs(**filters):
    """The slugs of the events matching `filters`, newest first."""
    events = Events.objects.filter(**filters).order_by("-pgh_created_at", "-pgh_model", "-pgh_id")
    return list(events.values_list("pgh_slug", flat=True))


def text(html: bytes) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.decode())).strip()


class _Page(HTMLParser):
    """The context's definition list and the chart's bars, as a person (or a screen reader)
    reads them."""

    def __init__(self):
        super().__init__()
        self.meta: dict[str, str] = {}
        self.meta_links: dict[str, str] = {}
        self.bars: list[dict[str, str]] = []
        self.x_labels: list[str] = []
        self.y_labels: list[str] = []
        self._where: list[str] = []
        self._key: str | None = None
        self._label: str | None = None
        self._text: list[str] = []
        self._axis: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._where.append(attrs.get("class", ""))
        if tag == "dt" and "pgh-context-meta" in self._where[-2]:
            self._label, self._text = "", []
        elif tag == "dd" and self._label is not None:
            self._key, self._text = self._label, []
        elif tag == "a" and self._key is not None:
            self.meta_links[self._key] = attrs["href"]
        elif tag == "rect" and "pgh-bar" in attrs.get("class", ""):
            self.bars.append({**attrs, "title": ""})
        elif tag == "title" and self._where[-2].startswith("pgh-bar"):
            self._text = []
        elif tag == "g" and "pgh-chart-axis" in attrs.get("class", ""):
            self._axis = "x" if "pgh-chart-x" in attrs["class"] else "y"
        elif tag == "text" and self._axis:
            self._text = []

    def handle_endtag(self, tag):
        joined = re.sub(r"\s+", " ", "".join(self._text)).strip()
        if tag == "dt" and self._label is not None:
            self._label = joined
        elif tag == "dd" and self._key is not None:
            self.meta[self._key] = joined
            self._key = self._label = None
        elif tag == "title" and self._where[-2].startswith("pgh-bar"):
            self.bars[-1]["title"] = joined
        elif tag == "text" and self._axis:
            (self.x_labels if self._axis == "x" else self.y_labels).append(joined)
        elif tag == "g":
            self._axis = None
        self._where.pop()

    def handle_data(self, data):
        self._text.append(data)


def read(html: bytes) -> _Page:
    parser = _Page()
    parser.feed(html.decode())
    return parser


@pytest.fixture
def shop(django_user_model):
    """Alice (staff, may view products and customers) works in two requests; root places an
    order; a context with custom metadata changes a product and a customer."""
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    alice = staff(
        django_user_model,
        "alice",
        "view_product",
        "view_customer",
        first_name="Alice",
        last_name="Archer",
    )
    with pghistory.context(user=alice.pk, url="/shop/products/new/", method="POST") as created:
        tea = Product.objects.create(
            name="Sencha", sku="T-1", price=Decimal("4.50"), stock=10, category="tea"
        )
        ada = Customer.objects.create(name="Ada", email="ada@example.com", city="Oslo")
        order = Order.objects.create(customer=ada, shipping_address="Storgata 1")
    with pghistory.context(user=alice.pk, url="/shop/products/1/restock/", method="POST") as again:
        tea.stock = 25
        tea.save()
    with pghistory.context(user=root.pk, url="/shop/orders/new/"):
        Order.objects.create(customer=ada, shipping_address="Storgata 1")
    with pghistory.context(reason="Black Friday", batch=42, tags=["sale", "tea"]) as sale:
        Product.objects.filter(pk=tea.pk).update(price=Decimal("3.83"))
        Customer.objects.filter(pk=ada.pk).update(is_vip=True)
    with pghistory.context(user=root.pk, url="/shop/orders/1/") as order_only:
        Order.objects.filter(pk=order.pk).update(shipping_address="Storgata 2")
    return {
        "root": root,
        "alice": alice,
        "tea": tea,
        "ada": ada,
        "order": order,
        "created": created.id,
        "again": again.id,
        "sale": sale.id,
        "order_only": order_only.id,
    }


# -- The context page ----------------------------------------------------------------------


@pytest.mark.parametrize("surface", SURFACES)
def test_context_page_lists_exactly_that_contexts_events_newest_first(client, shop, surface):
    client.force_login(shop["root"])

    response = client.get(f"{surface}context/{shop['created']}/")

    assert response.status_code == 200
    rows = event_rows(response.content)
    assert [row["event"] for row in rows] == slugs(pgh_context_id=shop["created"])
    assert [(row["What"], row["Object"]) for row in rows] == [
        ("insert", f"Order Order #{shop['order'].pk} (New)"),
        ("insert", "Customer Ada <ada@example.com>"),
        ("insert", "Product Sencha (T-1)"),
    ]
    # Who and where are the context's, shown once above the table.
    assert set(rows[0]) == {"event", "When", "What", "Object", "Changes"}
    assert "Context " + str(shop["created"])[:8] in text(response.content)


def test_context_page_shows_every_metadata_key_and_links_the_user(client, shop):
    client.force_login(shop["root"])

    created = read(client.get(f"/history/context/{shop['created']}/").content)
    sale = read(client.get(f"/history/context/{shop['sale']}/").content)

    stored = Context.objects.get(pk=shop["created"])
    local = timezone.localtime(stored.created_at).strftime("%Y-%m-%d %H:%M:%S")
    assert created.meta["Context id"] == str(shop["created"])
    assert created.meta["User"] == "Alice Archer (alice)"
    assert created.meta["URL"] == "/shop/products/new/"
    assert created.meta["Method"] == "POST"
    assert created.meta["Created"] == local
    assert created.meta["Updated"] == timezone.localtime(stored.updated_at).strftime(
        "%Y-%m-%d %H:%M:%S"
    )
    assert created.meta_links == {"User": "/history/user/alice/"}
    assert sale.meta["reason"] == "Black Friday"
    assert sale.meta["batch"] == "42"
    assert sale.meta["tags"] == '["sale", "tea"]'
    assert "User" not in sale.meta and "URL" not in sale.meta
    assert column(client.get(f"/history/context/{shop['sale']}/").content, "Changes") == [
        "VIP: No → Yes",
        "Price (EUR): 4.50 → 3.83",
    ]


def test_context_page_in_the_admin_links_the_admin_user_page(client, shop):
    client.force_login(shop["root"])

    page = read(client.get(f"/admin/pghistory_ui/event/context/{shop['again']}/").content)

    assert page.meta_links == {"User": "/admin/pghistory_ui/event/user/alice/"}


def test_a_deleted_users_context_names_them_by_id(client, shop, django_user_model):
    bob = staff(django_user_model, "bob")
    with pghistory.context(user=bob.pk, url="/shop/customers/1/") as ctx:
        Customer.objects.filter(pk=shop["ada"].pk).update(city="Bergen")
    bob_pk = bob.pk
    bob.delete()
    client.force_login(shop["root"])

    page = read(client.get(f"/history/context/{ctx.id}/").content)

    assert page.meta["User"] == f"user #{bob_pk} (deleted)"
    assert page.meta_links == {"User": f"/history/user/{bob_pk}/"}
    assert client.get(page.meta_links["User"]).status_code == 200


def test_metadata_values_are_text_never_html(client, shop):
    with pghistory.context(
        user=None,
        url="/shop/<script>alert(1)</script>",
        note="<script>alert(2)</script>",
        **{"<b>": "x"},
    ) as ctx:
        Customer.objects.filter(pk=shop["ada"].pk).update(city="Bergen")
    client.force_login(shop["root"])

    response = client.get(f"/history/context/{ctx.id}/")

    html = response.content.decode()
    assert "<script>alert" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    page = read(response.content)
    assert page.meta["URL"] == "/shop/<script>alert(1)</script>"
    assert page.meta["note"] == "<script>alert(2)</script>"
    assert page.meta["<b>"] == "x"
    assert page.meta["User"] == "Anonymous" and page.meta_links == {}


def test_a_denormalised_context_without_a_row_shows_its_events_metadata(client, shop):
    with pghistory.context(reason="backfill", user=shop["alice"].pk) as ctx:
        DenormContext.objects.create(int_field=1)
    assert not Context.objects.filter(pk=ctx.id).exists()
    client.force_login(shop["root"])

    response = client.get(f"/history/context/{ctx.id}/")

    assert response.status_code == 200
    page = read(response.content)
    assert page.meta["reason"] == "backfill"
    assert page.meta["User"] == "Alice Archer (alice)"
    assert "Created" not in page.meta
    assert "no context row" in page.meta["Events"]
    assert column(response.content, "What") == ["insert"]


def test_context_page_hides_events_of_models_the_user_may_not_view(client, shop):
    client.force_login(shop["alice"])  # products and customers, no orders

    response = client.get(f"/history/context/{shop['created']}/")

    assert column(response.content, "Object") == [
        "Customer Ada <ada@example.com>",
        "Product Sencha (T-1)",
    ]
    assert "Storgata" not in response.content.decode()
    assert "2 events" in text(response.content)
    # A context of nothing but orders is as unknown to her as a context that never was.
    assert client.get(f"/history/context/{shop['order_only']}/").status_code == 404


def test_context_pages_are_keyset_pages(client, shop):
    with pghistory.context(reason="import") as ctx:
        Customer.objects.bulk_create(
            Customer(name=f"C{i:03}", email=f"c{i}@example.com") for i in range(60)
        )
    client.force_login(shop["root"])
    expected = [f"Customer C{i:03} <c{i}@example.com>" for i in reversed(range(60))]

    first = client.get(f"/history/context/{ctx.id}/")
    older = re.search(r'href="(\?after=[^"]+)" class="pgh-page-older"', first.content.decode())
    second = client.get(f"/history/context/{ctx.id}/" + older.group(1).replace("&amp;", "&"))

    assert column(first.content, "Object") == expected[:50]
    assert column(second.content, "Object") == expected[50:]
    assert "60 events" in text(first.content)


def test_unknown_and_malformed_contexts_are_404(client, shop):
    client.force_login(shop["root"])

    assert client.get(f"/history/context/{uuid.uuid4()}/").status_code == 404
    assert client.get("/history/context/not-a-uuid/").status_code == 404
    assert client.get("/admin/pghistory_ui/event/context/12345/").status_code == 404


def test_an_altered_page_link_on_the_context_page_is_a_400(client, shop):
    client.force_login(shop["root"])

    response = client.get(f"/history/context/{shop['created']}/?after=not-a-cursor")

    assert response.status_code == 400
    assert "This page link is not valid." in text(response.content)


# -- The user page -------------------------------------------------------------------------


@pytest.mark.parametrize("surface", SURFACES)
def test_user_page_lists_exactly_that_users_events(client, shop, surface):
    client.force_login(shop["root"])

    response = client.get(f"{surface}user/alice/")

    assert response.status_code == 200
    rows = event_rows(response.content)
    assert [row["event"] for row in rows] == slugs(
        pgh_context_id__in=[shop["again"], shop["created"]]
    )
    assert "Who" not in rows[0]  # every row is hers
    assert text(response.content).count("Alice Archer (alice)") >= 1


def test_user_page_takes_the_browsers_filters(client, shop):
    client.force_login(shop["root"])

    response = client.get("/history/user/alice/", {"model": "shop.product"})

    assert column(response.content, "Changes") == ["Units in stock: 10 → 25", ""]
    assert column(response.content, "Object") == ["Product Sencha (T-1)"] * 2
    labels = client.get("/history/user/alice/", {"label": "insert", "model": "shop.customer"})
    assert column(labels.content, "Object") == ["Customer Ada <ada@example.com>"]
    # The URL fixes the user: a `user` parameter does not change it.
    other = client.get("/history/user/alice/", {"user": "root"})
    assert len(column(other.content, "Object")) == 4


def test_user_page_form_has_every_filter_but_the_user(client, shop):
    client.force_login(shop["root"])

    html = client.get("/history/user/alice/").content.decode()

    assert 'name="user"' not in html
    assert 'name="model"' in html and 'name="since"' in html
    assert 'action="/history/user/alice/"' in html


def test_unknown_users_are_404(client, shop):
    client.force_login(shop["root"])

    assert client.get("/history/user/ghost/").status_code == 404
    assert client.get("/history/user/99999999999999999999/").status_code == 404
    assert client.get("/admin/pghistory_ui/event/user/424242/").status_code == 404


def test_a_user_id_leads_to_the_page_under_their_name(client, shop):
    client.force_login(shop["root"])

    response = client.get(f"/history/user/{shop['alice'].pk}/?model=shop.product")

    assert response.status_code == 302
    assert response["Location"] == "/history/user/alice/?model=shop.product"


def test_a_deleted_users_page_is_found_by_id(client, shop, django_user_model):
    bob = staff(django_user_model, "bob")
    with pghistory.context(user=bob.pk, url="/shop/customers/1/"):
        Customer.objects.filter(pk=shop["ada"].pk).update(city="Bergen")
    bob_pk = bob.pk
    bob.delete()
    client.force_login(shop["root"])

    response = client.get(f"/history/user/{bob_pk}/")

    assert response.status_code == 200
    assert f"User #{bob_pk} (deleted)" in text(response.content)
    assert column(response.content, "Changes") == ["City: Oslo → Bergen"]


def test_bad_filters_on_the_user_page_are_a_400_with_the_reason(client, shop):
    client.force_login(shop["root"])

    for params, message in [
        ({"since": "yesterday"}, "Enter a valid date/time."),
        ({"model": "shop.nope"}, "Select a valid choice."),
        ({"after": "not-a-cursor"}, "This page link is not valid."),
        ({"since": "0001-01-01T00:00", "until": "0001-01-01T00:00"}, None),
    ]:
        response = client.get("/history/user/alice/", params)
        if message is None:
            assert response.status_code == 200
            continue
        assert response.status_code == 400, params
        assert message in text(response.content)
        assert "Sencha" not in response.content.decode()


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"])
@pytest.mark.parametrize(
    "params",
    [
        {"since": "0001-01-01"},
        {"since": "9999-12-31"},
        {"since": "9999-12-31T23:59:59"},
        {"until": "0001-01-01T00:00:00"},
        {"until": "9999-12-30"},
        {"since": "2026-11-27", "until": "2026-01-01"},
        {"since": "0001-01-01", "until": "9999-12-30", "period": "hour"},
    ],
)
def test_any_valid_date_range_gives_a_chart(client, shop, settings, zone, params):
    settings.TIME_ZONE = zone
    client.force_login(shop["root"])

    response = client.get("/history/user/alice/", params)

    assert response.status_code == 200
    assert 1 <= len(read(response.content).bars) <= 92


def test_user_page_hides_models_the_user_may_not_view(client, shop, django_user_model):
    dan = staff(django_user_model, "dan", "view_customer")
    client.force_login(dan)

    response = client.get("/history/user/alice/")
    chart = read(response.content)

    assert column(response.content, "Object") == ["Customer Ada <ada@example.com>"]
    assert sum(int(bar["data-count"]) for bar in chart.bars) == 1
    assert chart.bars[-1]["title"].endswith(": 1 event")
    assert "Sencha" not in response.content.decode()
    # Root's events are all orders: his page is there (he exists), and empty for dan.
    root = client.get("/history/user/root/")
    assert root.status_code == 200
    assert column(root.content, "Object") == []
    assert sum(int(bar["data-count"]) for bar in read(root.content).bars) == 0


# -- Who may see these pages ---------------------------------------------------------------


def pages(shop):
    return [
        f"{surface}{page}"
        for surface in SURFACES
        for page in (f"context/{shop['created']}/", "user/alice/")
    ]


def test_anonymous_users_are_sent_to_log_in(client, shop):
    for url in pages(shop):
        response = client.get(url)

        assert response.status_code == 302, url
        assert response["Location"].startswith(("/admin/login/?next=", "/accounts/login/?next="))


def test_signed_in_users_who_are_not_staff_are_refused(client, shop, django_user_model):
    carol = django_user_model.objects.create_user("carol", password="pw")
    carol.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    client.force_login(carol)

    for url in pages(shop):
        response = client.get(url)

        if url.startswith("/admin/"):
            assert response.status_code == 302, url
            assert response["Location"].startswith("/admin/login/?next=")
        else:
            assert response.status_code == 403, url
            assert "Sencha" not in response.content.decode()


# -- The activity chart --------------------------------------------------------------------


def move_events(context_id, moment):
    """Rewrite the time of a context and of its events (their tables are written by
    triggers, so the test moves them afterwards)."""
    with connection.cursor() as cursor:
        for table in ("shop_productevent", "shop_customerevent", "shop_orderevent"):
            cursor.execute(
                f"UPDATE {table} SET pgh_created_at = %s WHERE pgh_context_id = %s",
                [moment, context_id],
            )
        cursor.execute(
            "UPDATE pghistory_context SET created_at = %s WHERE id = %s", [moment, context_id]
        )


def test_chart_has_one_bar_per_day_of_the_last_30_days_with_exact_counts(client, shop):
    today = timezone.localdate()
    noon = timezone.make_aware(datetime.datetime.combine(today, datetime.time(12)))
    move_events(shop["created"], noon - datetime.timedelta(days=3))  # 2 events she may see
    client.force_login(shop["alice"])

    page = read(client.get("/history/user/alice/").content)

    days = [today - datetime.timedelta(days=n) for n in reversed(range(30))]
    assert [bar["title"].split(":")[0] for bar in page.bars] == [d.isoformat() for d in days]
    titles = {bar["title"] for bar in page.bars}
    assert f"{days[-4].isoformat()}: 2 events" in titles
    assert f"{today.isoformat()}: 1 event" in titles  # the restock
    assert sum(int(bar["data-count"]) for bar in page.bars) == 3
    assert all(bar["aria-label"] == bar["title"] for bar in page.bars)
    assert page.x_labels[0] == days[0].isoformat() and page.x_labels[-1] == today.isoformat()
    assert page.y_labels == ["0", "1", "2"]


def test_chart_follows_the_date_filters(client, shop):
    today = timezone.localdate()
    noon = timezone.make_aware(datetime.datetime.combine(today, datetime.time(12)))
    move_events(shop["created"], noon - datetime.timedelta(days=40))
    move_events(shop["again"], noon - datetime.timedelta(days=38))
    client.force_login(shop["root"])
    since = (today - datetime.timedelta(days=41)).isoformat()
    until = (today - datetime.timedelta(days=35)).isoformat()

    response = client.get("/history/user/alice/", {"since": since, "until": until})
    page = read(response.content)

    # Root sees every model and filters by date only: the chart counts alice's requests.
    assert len(page.bars) == 7
    assert [bar["title"] for bar in page.bars] == [
        f"{(today - datetime.timedelta(days=n)).isoformat()}: {count} request{'s' * (count != 1)}"
        for n, count in [(41, 0), (40, 1), (39, 0), (38, 1), (37, 0), (36, 0), (35, 0)]
    ]
    assert f"2 requests from {since} to {until}, one bar per day" in text(response.content)
    week = read(client.get("/history/user/alice/", {"period": "week"}).content)
    assert len(week.bars) == 8 and sum(int(b["data-count"]) for b in week.bars) == 0

    # Any other filter: the chart counts the events it selects.
    products = {"since": since, "until": until, "model": "shop.product"}
    page = read(client.get("/history/user/alice/", products).content)
    assert [bar["title"] for bar in page.bars if bar["data-count"] != "0"] == [
        f"{(today - datetime.timedelta(days=40)).isoformat()}: 1 event",
        f"{(today - datetime.timedelta(days=38)).isoformat()}: 1 event",
    ]


def test_chart_reads_events_per_day_in_one_grouped_query(client, shop):
    client.force_login(shop["root"])
    recorder = _Recorder()
    with connection.execute_wrapper(recorder):
        client.get("/history/user/alice/")
    grouped = [sql for sql in recorder.queries if "GROUP BY" in sql]
    assert len(grouped) == 1


class _Recorder:
    def __init__(self):
        self.queries = []

    def __call__(self, execute, sql, params, many, context):
        self.queries.append(sql)
        return execute(sql, params, many, context)


def test_long_ranges_are_drawn_per_week_month_or_year():
    day = datetime.date
    now = timezone.now()

    weekly = activity_chart(
        {day(2026, 3, 4): 2, day(2026, 3, 5): 1}, day(2026, 1, 1), day(2026, 6, 30)
    )
    monthly = activity_chart({day(2024, 3, 4): 5}, day(2020, 1, 1), day(2026, 6, 30))
    yearly = activity_chart(
        {day(2019, 3, 4): 5},
        *chart_range(
            {"since": timezone.make_aware(datetime.datetime(1, 1, 2))}, day(2026, 6, 30), now
        ),
    )

    assert weekly.unit == "week" and len(weekly.bars) == 27
    assert weekly.bars[0].label == "Week of 2025-12-29"
    assert [b.title for b in weekly.bars if b.count] == ["Week of 2026-03-02: 3 events"]
    assert monthly.unit == "month" and len(monthly.bars) == 78
    assert [b.title for b in monthly.bars if b.count] == ["2024-03: 5 events"]
    assert yearly.unit == "year" and [b.title for b in yearly.bars] == ["2019: 5 events"]
