"""One object's pages in a real browser (Chromium through Playwright): the admin's History
button, the timeline with a request's events grouped, an event's diff cells for each kind of
field, comparing two versions, the point-in-time view, and values with markup shown as text.
Screenshots go to test-artifacts/."""

import datetime
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User

import pghistory
from example_project.shop.models import Customer, Order, Product
from pghistory.models import Events
from tests.browser import ARTIFACTS, follow, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def slugs(obj):
    return list(Events.objects.tracks(obj).order_by("pgh_id").values_list("pgh_slug", flat=True))


def diff_cells(page, table="table.pgh-diff"):
    """Each row of the first diff table as [field, before, after] (inner text)."""
    rows = page.locator(f"{table} tbody tr").all()
    return [row.locator("th, td").all_inner_texts() for row in rows]


@pytest.fixture
def history(settings):
    settings.PGHISTORY_ADMIN_HISTORY_TAB = True
    root = User.objects.create_superuser(
        "root", "root@example.com", "secret-pw", first_name="Rita", last_name="Root"
    )
    with pghistory.context(user=root.pk, url="/shop/products/new/"):
        tea = Product.objects.create(
            name="Sencha",
            sku="T-1",
            price=Decimal("4.50"),
            stock=10,
            category="tea",
            description="A grassy green tea from Shizuoka with a sweet finish",
            attributes={"origin": "JP", "weight": 100},
        )
    with pghistory.context(user=root.pk, url=f"/shop/products/{tea.pk}/edit/"):
        tea.stock = 5
        tea.save()
        tea.description = "A grassy green tea from Uji with a sweet finish"
        tea.attributes = {"origin": "JP", "weight": 250}
        tea.price = Decimal("1234.50")
        tea.is_active = False
        tea.category = "coffee"
        tea.save()
    ada = Customer.objects.create(name="Ada", email="ada@example.com")
    order = Order.objects.create(
        customer=ada,
        shipping_address="Storgata 1",
        placed_at=datetime.datetime(2026, 11, 2, 9, 30, tzinfo=datetime.UTC),
    )
    bo = Customer.objects.create(name="Bo", email="bo@example.com")
    order.customer = bo
    order.status = Order.Status.PAID
    order.placed_at = datetime.datetime(2026, 11, 3, 17, 5, 9, tzinfo=datetime.UTC)
    order.save()
    ada.delete()
    return {"tea": tea, "order": order}


@pytest.fixture
def root_page(page, live_server, history):
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(page, live_server, "root")
    return page


def test_history_button_opens_the_timeline_with_a_requests_events_grouped(
    root_page, live_server, history
):
    tea = history["tea"]
    page = root_page
    page.goto(f"{live_server.url}/admin/shop/product/{tea.pk}/change/")
    follow(page, page.locator(".object-tools").get_by_role("link", name="History"))

    page.wait_for_url(f"{live_server.url}/admin/pghistory_ui/event/object/shop.product/{tea.pk}/")
    assert page.locator("h1").inner_text() == "History of Sencha (T-1)"
    groups = page.locator("li.pgh-group")
    assert groups.count() == 2
    assert groups.nth(0).locator("article.pgh-event").count() == 2
    assert groups.nth(0).locator(".pgh-group-head").inner_text().split("\n")[0:1] == [
        "Rita Root (root)"
    ]
    assert "2 events in this request" in groups.nth(0).locator(".pgh-group-head").inner_text()
    assert groups.nth(1).locator("article.pgh-event").count() == 1
    page.screenshot(path=ARTIFACTS / "history-tab.png")


def test_event_page_shows_each_kind_of_field_as_people_read_it(root_page, live_server, history):
    page = root_page
    page.goto(f"{live_server.url}/admin/pghistory_ui/event/event/{slugs(history['tea'])[2]}/")

    assert diff_cells(page)[:5] == [
        ["Price (EUR)", "4.50", "1,234.50"],
        ["On sale", "Yes", "No"],
        ["Category", "Tea", "Coffee"],
        [
            "Description",
            "A grassy green tea from Shizuoka with a sweet finish",
            "A grassy green tea from Uji with a sweet finish",
        ],
        [
            "Attributes",
            '{"origin": "JP", "weight": 100}',
            '{"origin": "JP", "weight": 250}\nweight: 100 → 250',
        ],
    ]
    assert page.locator("table.pgh-diff tr.pgh-changed").count() == 5
    assert page.locator("tr[data-field=description] del").all_inner_texts() == ["Shizuoka"]
    assert page.locator("tr[data-field=description] ins").all_inner_texts() == ["Uji"]
    page.screenshot(path=ARTIFACTS / "event-diff.png")

    page.goto(f"{live_server.url}/history/event/{slugs(history['order'])[-1]}/")
    changed = [
        cells for cells in diff_cells(page) if cells[0] in ("Customer", "Status", "Placed at")
    ]
    assert changed == [
        ["Customer", "Ada <ada@example.com> (deleted)", "Bo <bo@example.com>"],
        ["Status", "New", "Paid"],
        ["Placed at", "2026-11-02 09:30:00", "2026-11-03 17:05:09"],
    ]


def test_comparing_two_versions_picked_in_the_timeline(root_page, live_server, history):
    tea = history["tea"]
    first, _, last = slugs(tea)
    page = root_page
    page.goto(f"{live_server.url}/history/object/shop.product/{tea.pk}/")
    page.locator(f'input[name=event][value="{first}"]').check()
    page.locator(f'input[name=event][value="{last}"]').check()
    follow(page, page.get_by_role("button", name="Compare the two selected versions"))

    assert page.locator("h1").inner_text() == "Compare versions"
    changed = page.locator("table.pgh-diff tr.pgh-changed th").all_inner_texts()
    assert changed == [
        "Price (EUR)",
        "Units in stock",
        "On sale",
        "Category",
        "Description",
        "Attributes",
    ]
    assert "6 fields differ between" in page.locator(".pgh-summary").inner_text()


def test_point_in_time_view(root_page, live_server, history):
    tea = history["tea"]
    restocked = Events.objects.get(pgh_slug=slugs(tea)[1]).pgh_created_at
    page = root_page
    page.goto(f"{live_server.url}/history/object/shop.product/{tea.pk}/")
    page.locator("#pgh-as-of").fill("2000-01-01T00:00:00")
    follow(page, page.get_by_role("button", name="Show"))
    assert "did not exist yet" in page.locator(".pgh-as-of-state").inner_text()

    at = quote(restocked.isoformat())
    page.goto(f"{live_server.url}/history/object/shop.product/{tea.pk}/as-of/?at={at}")
    values = dict(
        page.locator("table.pgh-values tr").evaluate_all(
            "rows => rows.map(r => [r.querySelector('th').innerText, r.querySelector('td').innerText])"
        )
    )
    assert (values["Units in stock"], values["Price (EUR)"], values["Category"]) == (
        "5",
        "4.50",
        "Tea",
    )


def test_values_with_markup_are_text_on_every_page(root_page, live_server):
    root = User.objects.get(username="root")
    markup = '<script>window.pwned = 1</script><b id="injected">x</b>'
    with pghistory.context(user=root.pk, url="/shop/<b>x</b>", note=markup) as request:
        product = Product.objects.create(name=markup, sku="X-1", price=1, category="tea")
    product.description = '<img id="img-injected" src=x onerror="window.pwned=2"> and more words'
    product.save()
    first, second = slugs(product)
    page = root_page
    for url in [
        f"/history/context/{request.id}/",
        "/history/user/root/",
        f"/history/event/{first}/revert/",
        "/history/",
        f"/history/object/shop.product/{product.pk}/",
        f"/history/event/{second}/",
        f"/history/object/shop.product/{product.pk}/compare/?event={first}&event={second}",
        f"/history/object/shop.product/{product.pk}/as-of/?at=2999-01-01T00:00",
        f"/admin/pghistory_ui/event/object/shop.product/{product.pk}/",
    ]:
        page.goto(live_server.url + url)
        assert page.locator("#injected, #img-injected").count() == 0, url
        assert page.evaluate("window.pwned") is None, url
        assert "<script>window.pwned = 1</script>" in page.locator("body").inner_text(), url
