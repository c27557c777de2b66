"""Revert and restore in a real browser (Chromium through Playwright) against a live server:
the confirmation page in the admin, the button, and what the database holds afterwards. The
tests save screenshots of both confirmation pages to test-artifacts/."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User

import pghistory
from example_project.shop.models import Customer, Product
from pghistory.models import Events
from tests.browser import ARTIFACTS, follow, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

JOINED = datetime.datetime(2023, 5, 4, 8, 15, 30, 250000, tzinfo=datetime.UTC)


def revert_page(live_server, slug):
    return f"{live_server.url}/admin/pghistory_ui/event/event/{slug}/revert/"


def events_of(model, pk):
    return list(
        Events.objects.filter(pgh_obj_model=model._meta.label, pgh_obj_id=str(pk)).order_by(
            "pgh_id"
        )
    )


def changed_rows(page):
    return page.locator("table.pgh-diff tr.pgh-changed").evaluate_all(
        "rows => rows.map(row => row.dataset.field)"
    )


@pytest.fixture
def shop():
    """A tea repriced and taken off sale, and a customer who was deleted."""
    root = User.objects.create_superuser("root", "root@example.com", "secret-pw")
    alice = User.objects.create_user("alice", password="secret-pw", is_staff=True)
    alice.user_permissions.add(Permission.objects.get(codename="view_product"))
    tea = Product.objects.create(
        name="Sencha",
        sku="T-1",
        price=Decimal("4.50"),
        stock=10,
        category="tea",
        attributes={"origin": "Japan", "grams": 100},
    )
    with pghistory.context(reason="Black Friday"):
        Product.objects.filter(pk=tea.pk).update(
            price=Decimal("3.83"), is_active=False, attributes={"origin": "China"}
        )
    ada = Customer.objects.create(name="Ada", email="ada@example.com", city="Oslo", is_vip=True)
    Customer.objects.filter(pk=ada.pk).update(created_at=JOINED, notes="Prefers <green> tea")
    Customer.objects.filter(pk=ada.pk).delete()
    return {"root": root, "alice": alice, "tea": tea, "ada": ada}


@pytest.fixture
def root_page(page, live_server, shop):
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, "root")
    return page


def test_revert_a_product_to_an_older_version(root_page, live_server, shop):
    page, tea = root_page, shop["tea"]
    insert = events_of(Product, tea.pk)[0]
    page.goto(revert_page(live_server, insert.pgh_slug))

    assert page.locator("h1").inner_text() == "Revert product Sencha (T-1)"
    assert changed_rows(page) == ["price", "is_active", "attributes"]
    price = page.locator('table.pgh-diff tr[data-field="price"] td')
    assert price.all_inner_texts() == ["3.83", "4.50"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "revert-confirm.png", full_page=True)

    follow(page, page.get_by_role("button", name="Revert"))
    page.wait_for_url(f"{live_server.url}/admin/pghistory_ui/event/object/shop.product/{tea.pk}/")

    tea.refresh_from_db()
    assert (tea.price, tea.is_active, tea.attributes) == (
        Decimal("4.50"),
        True,
        {"origin": "Japan", "grams": 100},
    )
    latest = events_of(Product, tea.pk)[-1]
    assert latest.pgh_label == "update"
    assert latest.pgh_data == insert.pgh_data
    assert latest.pgh_context["reverted_to"] == insert.pgh_slug
    assert latest.pgh_context["user"] == shop["root"].pk


def test_restore_a_deleted_customer(root_page, live_server, shop):
    page, ada = root_page, shop["ada"]
    deleted = events_of(Customer, ada.pk)[-1]
    assert deleted.pgh_label == "delete"
    page.goto(revert_page(live_server, deleted.pgh_slug))

    assert page.locator("h1").inner_text() == "Restore customer Ada <ada@example.com>"
    heads = page.locator("table.pgh-diff thead th").all_text_contents()
    assert heads == ["Field", "Now: does not exist", "After restore"]
    notes = page.locator('table.pgh-diff tr[data-field="notes"] td.pgh-after')
    assert notes.inner_text() == "Prefers <green> tea"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "restore-confirm.png", full_page=True)

    follow(page, page.get_by_role("button", name="Restore"))
    page.wait_for_url(f"{live_server.url}/admin/pghistory_ui/event/object/shop.customer/{ada.pk}/")

    restored = Customer.objects.get(pk=ada.pk)
    assert (restored.name, restored.email, restored.city, restored.is_vip) == (
        "Ada",
        "ada@example.com",
        "Oslo",
        True,
    )
    assert (restored.created_at, restored.notes) == (JOINED, "Prefers <green> tea")
    latest = events_of(Customer, ada.pk)[-1]
    assert latest.pgh_label == "insert"
    assert latest.pgh_data == deleted.pgh_data
    assert latest.pgh_context["reverted_to"] == deleted.pgh_slug
    assert latest.pgh_context["user"] == shop["root"].pk


def test_staff_without_the_change_permission_see_why_and_no_button(page, live_server, shop):
    tea = shop["tea"]
    sign_in(page, live_server, "alice")

    response = page.goto(revert_page(live_server, events_of(Product, tea.pk)[0].pgh_slug))

    assert response.status == 403
    assert (
        "reverting needs the permission to change products"
        in page.locator(".pgh-refusal").inner_text()
    )
    assert page.get_by_role("button", name="Revert").count() == 0
    tea.refresh_from_db()
    assert tea.price == Decimal("3.83")
