"""The event browser in a real browser (Chromium through Playwright) against a live server:
signing in, every filter, pages, sorting, the CSV download and permissions. The tests also
save screenshots of the admin and standalone pages to test-artifacts/."""

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

import pghistory
from example_project.shop.models import Customer, Order, Product
from pghistory.models import Events
from tests.browser import ARTIFACTS, cells, follow, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop():
    """A shop's history: a tea's life in alice's requests and a sale, a customer, an order."""
    root = User.objects.create_superuser("root", "root@example.com", "secret-pw")
    alice = User.objects.create_user(
        "alice", password="secret-pw", is_staff=True, first_name="Alice", last_name="Archer"
    )
    with pghistory.context(user=alice.pk, url="/shop/products/new/"):
        tea = Product.objects.create(
            name="Sencha", sku="T-1", price=Decimal("4.50"), stock=10, category="tea"
        )
    with pghistory.context(user=alice.pk, url="/shop/products/1/restock/") as restock:
        tea.stock = 25
        tea.save()
    with pghistory.context(reason="Black Friday"):
        Product.objects.filter(pk=tea.pk).update(price=Decimal("3.83"))
    ada = Customer.objects.create(name="Ada", email="ada@example.com", city="Oslo")
    with pghistory.context(user=root.pk, url="/shop/orders/new/"):
        order = Order.objects.create(customer=ada, shipping_address="Storgata 1, Oslo")
    return {
        "root": root,
        "alice": alice,
        "tea": tea,
        "ada": ada,
        "order": order,
        "restock": restock,
    }


@pytest.fixture
def root_page(page, live_server, shop):
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, live_server, "root")
    return page


def test_admin_index_leads_to_the_event_browser_newest_first(root_page, live_server, shop):
    page = root_page
    page.locator('a[href="/admin/pghistory_ui/event/"]').first.click()
    page.wait_for_url(f"{live_server.url}/admin/pghistory_ui/event/")

    assert page.locator("h1").inner_text() == "Events"
    shop_rows = [
        text for text in cells(page, "Object") if text.startswith(("Product", "Customer", "Order"))
    ]
    assert shop_rows == [
        f"Order Order #{shop['order'].pk} (New)",
        "Customer Ada <ada@example.com>",
        "Product Sencha (T-1)",
        "Product Sencha (T-1)",
        "Product Sencha (T-1)",
    ]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "event-browser-admin.png", full_page=True)


def test_model_checkboxes_narrow_the_rows(root_page, live_server, shop):
    page = root_page
    page.goto(f"{live_server.url}/history/")
    page.get_by_label("Customer", exact=True).check()
    page.get_by_label("Order", exact=True).check()
    follow(page, page.get_by_role("button", name="Apply"))

    assert cells(page, "Object") == [
        f"Order Order #{shop['order'].pk} (New)",
        "Customer Ada <ada@example.com>",
    ]
    assert "model=shop.customer" in page.url and "model=shop.order" in page.url


def test_label_filter(root_page, live_server):
    page = root_page
    page.goto(f"{live_server.url}/history/?model=shop.product")
    page.locator(".pgh-filter-label").get_by_label("update", exact=True).check()
    follow(page, page.get_by_role("button", name="Apply"))

    assert cells(page, "Changes") == ["Price (EUR): 4.50 → 3.83", "Units in stock: 10 → 25"]


def test_clicking_a_user_shows_their_activity(root_page, live_server):
    page = root_page
    page.goto(f"{live_server.url}/history/?model=shop.product")
    page.get_by_role("link", name="Alice Archer (alice)").first.click()

    assert page.url.endswith("/history/user/alice/")
    assert cells(page, "Changes") == ["Units in stock: 10 → 25", ""]


def test_user_field_takes_a_user_name(root_page, live_server, shop):
    page = root_page
    page.goto(f"{live_server.url}/history/")
    page.locator("#id_user").fill("root")
    follow(page, page.get_by_role("button", name="Apply"))

    assert cells(page, "Object") == [f"Order Order #{shop['order'].pk} (New)"]


def test_date_range_fields(root_page, live_server):
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        (middle,) = cursor.fetchone()
    Customer.objects.create(name="Late", email="late@example.com")
    page = root_page
    page.goto(f"{live_server.url}/history/?model=shop.customer")
    page.locator("#id_since").fill(timezone.localtime(middle).strftime("%Y-%m-%dT%H:%M:%S"))
    follow(page, page.get_by_role("button", name="Apply"))

    # The field keeps whole seconds, so events within that second of `middle` count too.
    assert cells(page, "Object")[0] == "Customer Late <late@example.com>"
    page.locator("#id_since").fill("")
    page.locator("#id_until").fill(timezone.localtime(middle).strftime("%Y-%m-%dT%H:%M:%S"))
    follow(page, page.get_by_role("button", name="Apply"))
    assert "Customer Late <late@example.com>" not in cells(page, "Object")


def test_period_preset(root_page, live_server, shop):
    page = root_page
    page.goto(f"{live_server.url}/history/?model=shop.order")
    follow(page, page.get_by_role("link", name="Last hour"))

    assert "period=hour" in page.url
    assert cells(page, "Object") == [f"Order Order #{shop['order'].pk} (New)"]
    assert page.locator(".pgh-preset.pgh-active").inner_text() == "Last hour"


def test_clicking_a_context_shows_that_requests_events(root_page, live_server, shop):
    page = root_page
    page.goto(f"{live_server.url}/history/?model=shop.product")
    follow(page, page.locator("a.pgh-context", has_text=str(shop["restock"].id)[:8]))

    assert page.url.endswith(f"/history/context/{shop['restock'].id}/")
    assert cells(page, "Changes") == ["Units in stock: 10 → 25"]


def test_url_contains(root_page, live_server, shop):
    page = root_page
    page.goto(f"{live_server.url}/history/")
    page.locator("#id_url").fill("orders")
    follow(page, page.get_by_role("button", name="Apply"))

    assert cells(page, "Where")[0].startswith("/shop/orders/new/")
    assert cells(page, "Object") == [f"Order Order #{shop['order'].pk} (New)"]


def test_clicking_an_object_opens_its_timeline(root_page, live_server, shop):
    page = root_page
    page.goto(f"{live_server.url}/history/")
    page.get_by_role("link", name="Sencha (T-1)").first.click()

    assert page.url.endswith(f"/history/object/shop.product/{shop['tea'].pk}/")
    labels = page.locator("article.pgh-event .pgh-label").all_inner_texts()
    assert labels == ["update", "update", "insert"]


def test_changed_field(root_page, live_server):
    page = root_page
    page.goto(f"{live_server.url}/history/")
    page.locator("#id_field").select_option("price")
    follow(page, page.get_by_role("button", name="Apply"))

    assert cells(page, "Changes") == ["Price (EUR): 4.50 → 3.83"]


def test_values_contain(root_page, live_server, shop):
    page = root_page
    page.goto(f"{live_server.url}/history/")
    page.locator("#id_q").fill("storgata")
    follow(page, page.get_by_role("button", name="Apply"))

    assert cells(page, "Object") == [f"Order Order #{shop['order'].pk} (New)"]


def test_a_bad_value_shows_a_form_error(root_page, live_server):
    page = root_page
    response = page.goto(f"{live_server.url}/history/?since=not-a-date&object=shop.product:x")

    assert response.status == 400
    assert page.locator(".pgh-filter-since .errorlist").inner_text() == "Enter a valid date/time."
    assert "“x” is not an id of shop.product." in page.locator(".pgh-errors").inner_text()


def test_removing_a_filter_chip(root_page, live_server):
    page = root_page
    page.goto(f"{live_server.url}/history/?model=shop.order&label=insert")
    follow(page, page.get_by_label("Remove filter Event: insert"))

    assert page.url.endswith("/history/?model=shop.order")


def test_pages_forward_back_and_to_the_oldest(root_page, live_server):
    Product.objects.bulk_create(
        Product(name=f"P{i:03}", sku=f"S{i:03}", price=1, category="tea") for i in range(110)
    )
    newest_first = [f"Product P{i:03} (S{i:03})" for i in reversed(range(110))]
    page = root_page
    page.goto(f"{live_server.url}/history/?model=shop.product&label=insert")
    assert cells(page, "Object") == newest_first[:50]

    follow(page, page.get_by_role("link", name="Older ›"))
    assert cells(page, "Object") == newest_first[50:100]
    follow(page, page.get_by_role("link", name="Older ›"))
    assert cells(page, "Object") == newest_first[100:] + ["Product Sencha (T-1)"]
    assert page.locator(".pgh-pager .pgh-disabled", has_text="Older ›").count() == 1
    follow(page, page.get_by_role("link", name="‹ Newer"))
    assert cells(page, "Object") == newest_first[50:100]
    follow(page, page.get_by_role("link", name="Oldest »"))
    assert cells(page, "Object") == newest_first[61:] + ["Product Sencha (T-1)"]
    follow(page, page.get_by_role("link", name="« Newest"))
    assert cells(page, "Object") == newest_first[:50]


def test_sorting_by_clicking_column_headers(root_page, live_server, shop):
    page = root_page
    page.goto(f"{live_server.url}/history/?model=shop.product&model=shop.customer")
    follow(page, page.get_by_role("link", name="When"))  # oldest first
    assert cells(page, "Object")[0] == "Product Sencha (T-1)"
    assert "sort=time" in page.url

    follow(page, page.get_by_role("link", name="Object"))  # by model
    assert (
        cells(page, "Object") == ["Customer Ada <ada@example.com>"] + ["Product Sencha (T-1)"] * 3
    )


def test_csv_download_has_the_rows_on_screen(root_page, live_server, shop):
    page = root_page
    page.goto(f"{live_server.url}/history/?model=shop.product")
    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    download = info.value
    text = Path(download.path()).read_text()

    rows = list(csv.DictReader(io.StringIO(text)))
    assert download.suggested_filename.startswith("events-")
    assert [(row["label"], row["object"], row["changed_fields"], row["user"]) for row in rows] == [
        ("update", "Sencha (T-1)", "price", ""),
        ("update", "Sencha (T-1)", "stock", "alice"),
        ("insert", "Sencha (T-1)", "", "alice"),
    ]
    events = Events.objects.tracks(shop["tea"]).order_by("-pgh_id")
    assert [row["time"] for row in rows] == [e.pgh_created_at.isoformat() for e in events]


def test_staff_without_view_permission_on_a_model_see_none_of_its_events(page, live_server, shop):
    dan = User.objects.create_user("dan", password="secret-pw", is_staff=True)
    dan.user_permissions.add(Permission.objects.get(codename="view_customer"))
    sign_in(page, live_server, "dan")

    page.goto(f"{live_server.url}/history/")

    assert cells(page, "Object") == ["Customer Ada <ada@example.com>"]
    assert page.get_by_label("Product", exact=True).count() == 0
    assert "Sencha" not in page.content()


def test_standalone_page_on_a_narrow_screen_and_in_dark_mode(root_page, live_server):
    page = root_page
    page.goto(f"{live_server.url}/history/")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "event-browser-standalone.png", full_page=True)

    page.emulate_media(color_scheme="dark")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.locator("details.pgh-filters-box").get_attribute("open") is None
    assert page.locator("table.pgh-events thead").is_hidden()
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(18, 18, 18)"
    page.screenshot(path=ARTIFACTS / "event-browser-standalone-narrow-dark.png", full_page=True)


def test_screenshots_of_a_seeded_shop(page, live_server, shop_site):
    """The README's pictures: the example project's seeded history, in the admin and
    standalone."""
    call_command("seed", events=400, seed=1, stdout=io.StringIO(), stderr=io.StringIO())
    User.objects.create_superuser("root", "root@example.com", "secret-pw")
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(page, live_server, "root")
    ARTIFACTS.mkdir(exist_ok=True)

    page.goto(f"{live_server.url}/admin/pghistory_ui/event/?model=shop.order&model=shop.product")
    assert len(cells(page, "Object")) == 50
    assert any(name.endswith(")") for name in cells(page, "Who"))  # staff: "Full Name (user)"
    page.screenshot(path=ARTIFACTS / "readme-admin-event-browser.png")

    page.goto(f"{live_server.url}/history/?model=shop.order&label=status_changed")
    assert set(cells(page, "What")) == {"status_changed"}
    page.screenshot(path=ARTIFACTS / "readme-standalone-event-browser.png")


def test_filters_work_without_javascript(browser, live_server, shop):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, live_server, "root")
    page.goto(f"{live_server.url}/history/")
    page.get_by_label("Customer", exact=True).check()
    page.locator("#id_q").fill("oslo")
    follow(page, page.get_by_role("button", name="Apply"))

    assert cells(page, "Object") == ["Customer Ada <ada@example.com>"]
    assert page.locator("details.pgh-filters-box").get_attribute("open") == ""
    context.close()
