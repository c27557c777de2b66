"""The context and user pages in a real browser (Chromium through Playwright) against a live
server: from the event browser to one request's events, and one user's activity chart. The
tests save screenshots of both pages, with the example shop's seeded history, to
test-artifacts/."""

import datetime
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

import pghistory
from example_project.shop.models import Customer, Order, Product
from pghistory.models import Context, Events
from tests.browser import ARTIFACTS, cells, follow, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def metadata(page) -> dict[str, str]:
    """The context's definition list, as {term: description}."""
    terms = page.locator("dl.pgh-context-meta dt").all_inner_texts()
    values = page.locator("dl.pgh-context-meta dd").all_inner_texts()
    return dict(zip(terms, values))


@pytest.fixture
def shop():
    """Alice's requests (a product, a customer and a restock), a sale without a user and
    root's order."""
    root = User.objects.create_superuser("root", "root@example.com", "secret-pw")
    alice = User.objects.create_user(
        "alice", password="secret-pw", is_staff=True, first_name="Alice", last_name="Archer"
    )
    with pghistory.context(user=alice.pk, url="/shop/products/new/", method="POST") as new:
        tea = Product.objects.create(
            name="Sencha", sku="T-1", price=Decimal("4.50"), stock=10, category="tea"
        )
        ada = Customer.objects.create(name="Ada", email="ada@example.com", city="Oslo")
    with pghistory.context(user=alice.pk, url="/shop/products/1/restock/"):
        tea.stock = 25
        tea.save()
    with pghistory.context(reason="Black Friday"):
        Product.objects.filter(pk=tea.pk).update(price=Decimal("3.83"))
    with pghistory.context(user=root.pk, url="/shop/orders/new/"):
        order = Order.objects.create(customer=ada, shipping_address="Storgata 1, Oslo")
    return {"root": root, "alice": alice, "tea": tea, "order": order, "new": new}


@pytest.fixture
def root_page(page, live_server, shop):
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, live_server, "root")
    return page


def test_the_context_link_in_the_browser_opens_that_requests_events(root_page, live_server, shop):
    page = root_page
    context_id = str(shop["new"].id)
    page.goto(f"{live_server.url}/history/")
    page.locator("td[data-label=Where] a.pgh-context", has_text=context_id[:8]).first.click()

    page.wait_for_url(f"{live_server.url}/history/context/{context_id}/")
    assert page.locator("h1").inner_text() == f"Context {context_id[:8]}"
    assert cells(page, "Object") == ["Customer Ada <ada@example.com>", "Product Sencha (T-1)"]
    assert cells(page, "What") == ["insert", "insert"]
    about = metadata(page)
    assert about["Context id"] == context_id
    assert about["User"] == "Alice Archer (alice)"
    assert about["URL"] == "/shop/products/new/"
    assert about["Method"] == "POST"

    follow(page, page.get_by_role("link", name="Alice Archer (alice)"))
    page.wait_for_url(f"{live_server.url}/history/user/alice/")
    assert page.locator("h1").inner_text() == "Alice Archer (alice)"


def test_the_user_page_charts_their_events_per_day(root_page, live_server, shop):
    page = root_page
    today = timezone.localdate().isoformat()
    page.goto(f"{live_server.url}/history/user/alice/")

    bars = page.locator("svg.pgh-chart-svg rect.pgh-bar")
    # Root sees every model: the chart counts her requests (two, with three events).
    assert bars.count() == 30
    assert bars.last.locator("title").text_content() == f"{today}: 2 requests"
    assert bars.last.get_attribute("aria-label") == f"{today}: 2 requests"
    assert bars.first.locator("title").text_content().endswith(": 0 requests")
    assert page.locator(".pgh-chart-total").inner_text() == "2 requests"
    assert cells(page, "Object") == [
        "Product Sencha (T-1)",
        "Customer Ada <ada@example.com>",
        "Product Sencha (T-1)",
    ]

    # The browser's filters, on her page.
    page.get_by_label("Customer", exact=True).check()
    follow(page, page.get_by_role("button", name="Apply"))
    page.wait_for_url("**/history/user/alice/?model=shop.customer")
    # Filtered, the chart counts the events the filters select.
    assert cells(page, "Object") == ["Customer Ada <ada@example.com>"]
    assert bars.last.locator("title").text_content() == f"{today}: 1 event"


def test_staff_see_only_what_they_may_view_on_both_pages(page, live_server, shop):
    dan = User.objects.create_user("dan", password="secret-pw", is_staff=True)
    dan.user_permissions.add(Permission.objects.get(codename="view_customer"))
    sign_in(page, live_server, "dan")

    page.goto(f"{live_server.url}/history/context/{shop['new'].id}/")
    assert cells(page, "Object") == ["Customer Ada <ada@example.com>"]
    page.goto(f"{live_server.url}/history/user/alice/")
    assert cells(page, "Object") == ["Customer Ada <ada@example.com>"]
    assert page.locator(".pgh-chart-total").inner_text() == "1 event"
    assert "Sencha" not in page.content()


def test_screenshots_of_the_context_and_user_pages(page, live_server, shop_site):
    """Pictures of both pages with the example project's seeded history (staff requests
    carry their user and URL)."""
    call_command("seed", events=400, seed=1, stdout=io.StringIO(), stderr=io.StringIO())
    User.objects.create_superuser("root", "root@example.com", "secret-pw")
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(page, live_server, "root")
    ARTIFACTS.mkdir(exist_ok=True)

    # The staff request that changed the most, opened from the browser.
    busiest = (
        Events.objects.filter(pgh_context__url__startswith="/shop/")
        .values("pgh_context_id")
        .annotate(events=Count("pgh_slug"))
        .order_by("-events", "pgh_context_id")
        .first()
    )
    context_id = str(busiest["pgh_context_id"])
    page.goto(f"{live_server.url}/history/?context={context_id}")
    page.locator("td[data-label=Where] a.pgh-context").first.click()
    page.wait_for_url(f"{live_server.url}/history/context/{context_id}/")
    assert page.locator("h1").inner_text() == f"Context {context_id[:8]}"
    assert len(cells(page, "Object")) == busiest["events"] > 3
    about = metadata(page)
    assert about["URL"].startswith("/shop/") and about["User"].endswith(")")
    page.screenshot(path=ARTIFACTS / "context-page.png")

    # The busiest staff member's month.
    follow(page, page.get_by_role("link", name=about["User"]))
    username = about["User"].rsplit("(", 1)[1].rstrip(")")
    page.wait_for_url(f"{live_server.url}/history/user/{username}/")
    bars = page.locator("svg.pgh-chart-svg rect.pgh-bar")
    assert bars.count() == 30
    counts = [int(bar.get_attribute("data-count")) for bar in bars.all()]
    total = Context.objects.filter(
        metadata__user=User.objects.get(username=username).pk,
        # The chart's 30 days: from midnight 29 days ago, today included.
        created_at__gte=timezone.make_aware(
            datetime.datetime.combine(
                timezone.localdate() - datetime.timedelta(days=29), datetime.time.min
            )
        ),
    ).count()
    assert sum(counts) == total > 0
    # The seed spreads its history over the past 90 days: the month has several busy days.
    assert sum(1 for count in counts if count) > 1
    page.screenshot(path=ARTIFACTS / "user-page.png")
