"""In a real browser (Chromium through Playwright): the statistics page as a superuser sees
it, and a redacted field on an event's page and in the events table, of the history UI and
of the django-pghistory-compatible events admin. Screenshots go to test-artifacts/."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User

from example_project.shop.models import Customer, Product
from pghistory.models import Events
from tests.browser import ARTIFACTS, cells, follow, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop():
    User.objects.create_superuser("root", "root@example.com", "secret-pw")
    tea = Product.objects.create(name="Sencha", sku="T-1", price=Decimal("4.50"), category="tea")
    Product.objects.filter(pk=tea.pk).update(stock=3)
    Product.objects.filter(pk=tea.pk).update(stock=7)
    ada = Customer.objects.create(name="Ada", email="ada@example.com", city="Oslo Secretside")
    ada.city = "Bergen Hideaway"
    ada.save()
    return {"tea": tea, "ada": ada}


def stats_row(page, label):
    """One row of the statistics table as {column: cell text}."""
    row = page.locator(f'table.pgh-stats-table tr[data-event-model="{label}"]')
    return {
        cell.get_attribute("data-label"): cell.inner_text() for cell in row.locator("td").all()
    }


def test_a_superuser_reads_each_event_tables_figures_and_opens_its_events(page, live_server, shop):
    sign_in(page, live_server, "root")
    page.goto(f"{live_server.url}/history/stats/")

    products = stats_row(page, "shop.ProductEvent")
    assert page.locator("h1").inner_text() == "Statistics"
    assert (products["Tracked model"], products["Events"]) == ("shop.Product", "3")
    assert products["Last 7 days"] == "3 (0.4/day)"
    assert products["Last 30 days"] == "3 (0.1/day)"
    assert stats_row(page, "shop.TagEvent")["Events"] == "0"
    assert stats_row(page, "shop.TagEvent")["Oldest"] == ""
    page.screenshot(path=ARTIFACTS / "stats-page.png", full_page=True)

    follow(page, page.get_by_role("link", name="shop.Product", exact=True))
    assert page.url.endswith("/history/?model=shop.product")
    assert cells(page, "Object") == ["Product Sencha (T-1)"] * 3


def test_staff_who_are_not_superusers_see_a_refusal(page, live_server, shop):
    dan = User.objects.create_user("dan", password="secret-pw", is_staff=True)
    dan.user_permissions.add(Permission.objects.get(codename="view_product"))
    sign_in(page, live_server, "dan")

    response = page.goto(f"{live_server.url}/history/stats/")

    assert response.status == 403
    assert "shop.ProductEvent" not in page.content()


def test_a_redacted_field_shows_that_it_changed_and_never_its_values(
    page, live_server, shop, settings
):
    settings.PGHISTORY_ADMIN_REDACT = {"shop.Customer": ["city"]}
    update = Events.objects.tracks(shop["ada"]).get(pgh_label="update")
    sign_in(page, live_server, "root")

    page.goto(f"{live_server.url}/history/?model=shop.customer")
    assert cells(page, "Changes") == ["City: [redacted] → [redacted]", ""]
    page.goto(f"{live_server.url}/history/event/{update.pgh_slug}/")
    changed = page.locator("table.pgh-diff tbody tr", has_text="City")
    assert changed.locator("th, td").all_inner_texts() == ["City", "[redacted]", "[redacted]"]
    for url in ("/history/?model=shop.customer", f"/history/event/{update.pgh_slug}/"):
        page.goto(f"{live_server.url}{url}")
        assert "Secretside" not in page.content() and "Hideaway" not in page.content()


def test_the_compatible_events_admin_shows_a_redacted_field_as_redacted(
    page, live_server, shop, settings
):
    settings.PGHISTORY_ADMIN_REDACT = {"shop.Customer": ["city"]}
    update = Events.objects.tracks(shop["ada"]).get(pgh_label="update")
    sign_in(page, live_server, "root")

    page.goto(f"{live_server.url}/admin/pghistory/events/?pgh_obj_model=shop.Customer")
    diffs = page.locator("#result_list tbody td.field-pgh_diff").all_inner_texts()
    assert diffs == ['{"city": ["[redacted]", "[redacted]"]}', "-"]
    page.goto(f"{live_server.url}/admin/pghistory/events/{update.pgh_slug}/change/")
    data = page.locator(".form-row.field-pgh_data .readonly").inner_text()
    assert '"city": "[redacted]"' in data and '"name": "Ada"' in data
    page.screenshot(path=ARTIFACTS / "compatible-admin-redacted.png", full_page=True)
    for url in (
        "/admin/pghistory/events/?pgh_obj_model=shop.Customer",
        f"/admin/pghistory/events/{update.pgh_slug}/change/",
    ):
        page.goto(f"{live_server.url}{url}")
        assert "Secretside" not in page.content() and "Hideaway" not in page.content()
