"""Revert an object to one of its versions, and restore a deleted one, from the history UI:
the confirmation page's diff, the write and the event it leaves, what blocks it, and who may
do it. Through the test client, standalone and in the admin."""

import datetime
import html
import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

import pghistory
from example_project.shop.models import (
    Customer,
    Order,
    Product,
    ProductTag,
    StaffMember,
    Tag,
)
from pghistory.models import Events
from pghistory_admin import revert
from tests.testapp.models import Place, Restaurant

pytestmark = pytest.mark.django_db(transaction=True)

PLACED = datetime.datetime(2024, 3, 1, 9, 30, 15, 123456, tzinfo=datetime.UTC)
LATER = datetime.datetime(2024, 3, 2, 17, 5, 0, 654321, tzinfo=datetime.UTC)


def revert_url(slug, admin=False):
    if admin:
        return f"/admin/pghistory_ui/event/event/{slug}/revert/"
    return f"/history/event/{slug}/revert/"


def staff(django_user_model, username, *perms):
    user = django_user_model.objects.create_user(username, password="pw", is_staff=True)
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def row_of(model, pk):
    """Every field of a row, as the database holds it now."""
    return model._base_manager.values().get(pk=pk)


def events_of(model, pk):
    """The object's events, oldest first."""
    return list(
        Events.objects.filter(pgh_obj_model=model._meta.label, pgh_obj_id=str(pk)).order_by(
            "pgh_id"
        )
    )


def slug_of(model, pk, label):
    return next(event.pgh_slug for event in events_of(model, pk) if event.pgh_label == label)


class _DiffTable(HTMLParser):
    """The rows of `table.pgh-diff`: field name, changed or not, and the text of each cell."""

    def __init__(self):
        super().__init__()
        self.rows = []
        self._in_table = False
        self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and "pgh-diff" in (attrs.get("class") or "").split():
            self._in_table = True
        elif self._in_table and tag == "tr" and "data-field" in attrs:
            changed = "pgh-changed" in (attrs.get("class") or "").split()
            self.rows.append({"field": attrs["data-field"], "changed": changed, "cells": []})
        elif self._in_table and self.rows and tag == "td":
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1]["cells"].append(re.sub(r"\s+", " ", "".join(self._cell)).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def diff_rows(response):
    parser = _DiffTable()
    parser.feed(response.content.decode())
    return parser.rows


def changed_fields(response):
    return [row["field"] for row in diff_rows(response) if row["changed"]]


def has_form(response):
    return b'class="pgh-revert-form"' in response.content


def text(response):
    """The page's text as a person reads it: no tags, entities decoded, spaces collapsed."""
    without_tags = re.sub(r"<[^>]*>", "", response.content.decode())
    return re.sub(r"\s+", " ", html.unescape(without_tags))


@pytest.fixture
def shop(django_user_model):
    """A tea changed in every kind of field, a customer who changed her email, and an order
    whose status and time moved; each write its own transaction (its own time)."""
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    tea = Product.objects.create(
        name="Sencha",
        sku="T-1",
        price=Decimal("4.50"),
        stock=10,
        is_active=True,
        category="tea",
        description="Grassy and fresh.",
        attributes={"origin": "Japan", "grams": 100, "notes": ["grass", "sea"]},
    )
    tea_v1 = row_of(Product, tea.pk)
    with pghistory.context(reason="repricing"):
        Product.objects.filter(pk=tea.pk).update(
            name="Sencha Premium",
            price=Decimal("5.99"),
            stock=0,
            is_active=False,
            category="coffee",
            attributes={"origin": "China", "grams": 250, "notes": ["smoke"], "new": True},
        )
    ada = Customer.objects.create(
        name="Ada", email="ada@example.com", city="Oslo", is_vip=True, notes="Likes sencha."
    )
    Customer.objects.filter(pk=ada.pk).update(email="ada.lovelace@example.com", is_vip=False)
    order = Order.objects.create(customer=ada, placed_at=PLACED, shipping_address="Storgata 1")
    order_v1 = row_of(Order, order.pk)
    Order.objects.filter(pk=order.pk).update(status="paid", placed_at=LATER, note="Paid by card")
    return {
        "root": root,
        "tea": tea,
        "tea_v1": tea_v1,
        "ada": ada,
        "order": order,
        "order_v1": order_v1,
    }


@pytest.fixture
def root_client(client, shop):
    client.force_login(shop["root"])
    return client


# -- the confirmation page ------------------------------------------------------------------


def test_confirmation_shows_exactly_the_fields_that_will_change(root_client, shop):
    tea = shop["tea"]

    response = root_client.get(revert_url(slug_of(Product, tea.pk, "insert")))

    assert response.status_code == 200
    assert changed_fields(response) == [
        "name",
        "price",
        "stock",
        "is_active",
        "category",
        "attributes",
    ]
    rows = {row["field"]: row for row in diff_rows(response)}
    assert rows["price"]["cells"] == ["5.99", "4.50"]
    assert rows["is_active"]["cells"] == ["No", "Yes"]
    assert rows["category"]["cells"] == ["Coffee", "Tea"]
    assert not rows["sku"]["changed"] and rows["sku"]["cells"] == ["T-1", "T-1"]
    assert not rows["description"]["changed"]
    assert '<th scope="col">Now</th>' in response.content.decode()
    assert "After revert" in response.content.decode()
    assert has_form(response)
    assert "Revert</button>" in response.content.decode()


def test_unchanged_decimals_and_times_compare_equal(root_client, shop):
    """The order's customer and address did not change; its time and status did."""
    order = shop["order"]

    response = root_client.get(revert_url(slug_of(Order, order.pk, "insert")))

    assert changed_fields(response) == ["status", "placed_at", "note"]
    rows = {row["field"]: row for row in diff_rows(response)}
    assert rows["customer"]["cells"] == ["Ada <ada.lovelace@example.com>"] * 2
    assert rows["placed_at"]["cells"] == ["2024-03-02 17:05:00", "2024-03-01 09:30:15"]


def test_reverting_to_the_current_version_offers_nothing_to_do(root_client, shop):
    tea = shop["tea"]
    before = row_of(Product, tea.pk)

    latest = events_of(Product, tea.pk)[-1].pgh_slug
    response = root_client.get(revert_url(latest))
    posted = root_client.post(revert_url(latest))

    assert response.status_code == 200
    assert changed_fields(response) == []
    assert "there is nothing to revert" in text(response)
    assert not has_form(response)
    assert posted.status_code == 200
    assert row_of(Product, tea.pk) == before
    assert len(events_of(Product, tea.pk)) == 2


def test_values_are_shown_as_text(root_client, shop):
    tea = shop["tea"]
    Product.objects.filter(pk=tea.pk).update(name="<script>alert(1)</script>")

    response = root_client.get(revert_url(slug_of(Product, tea.pk, "insert")))

    body = response.content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


# -- reverting ------------------------------------------------------------------------------


def test_revert_writes_back_the_exact_values_and_records_who_and_which_event(
    shop_site, root_client, shop
):
    tea = shop["tea"]
    slug = slug_of(Product, tea.pk, "insert")

    response = root_client.post(revert_url(slug))

    assert response.status_code == 303
    assert response["Location"] == f"/history/object/shop.product/{tea.pk}/"
    reverted = row_of(Product, tea.pk)
    assert reverted == shop["tea_v1"]
    assert str(reverted["price"]) == "4.50"
    assert reverted["attributes"] == {"origin": "Japan", "grams": 100, "notes": ["grass", "sea"]}
    events = events_of(Product, tea.pk)
    assert [event.pgh_label for event in events] == ["insert", "update", "update"]
    assert events[-1].pgh_data == events[0].pgh_data
    assert events[-1].pgh_context == {
        "reverted_to": slug,
        "reverted_by": "root",
        "user": shop["root"].pk,
        "url": revert_url(slug),
    }


def test_revert_puts_back_datetimes_and_choices_to_the_microsecond(shop_site, root_client, shop):
    order = shop["order"]
    slug = slug_of(Order, order.pk, "insert")

    response = root_client.post(revert_url(slug))

    assert response.status_code == 303
    reverted = row_of(Order, order.pk)
    assert reverted == shop["order_v1"]
    assert reverted["placed_at"] == PLACED
    assert reverted["status"] == "new"
    labels = [event.pgh_label for event in events_of(Order, order.pk)]
    assert labels[-2:] == ["update", "status_changed"] or labels[-2:] == [
        "status_changed",
        "update",
    ]
    assert all(
        event.pgh_context["reverted_to"] == slug for event in events_of(Order, order.pk)[-2:]
    )


def test_revert_shows_a_success_message(shop_site, root_client, shop):
    tea = shop["tea"]
    insert = events_of(Product, tea.pk)[0]

    response = root_client.post(revert_url(insert.pgh_slug), follow=False)
    message = [str(m) for m in response.wsgi_request._messages]

    moment = insert.pgh_created_at.strftime("%Y-%m-%d %H:%M:%S")
    assert message == [f"Reverted product Sencha (T-1) to the version of {moment}."]


def test_revert_in_the_admin_goes_back_to_the_admin_timeline(root_client, shop):
    tea = shop["tea"]
    slug = slug_of(Product, tea.pk, "insert")

    page = root_client.get(revert_url(slug, admin=True))
    stale = root_client.post(revert_url(slug, admin=True), {"state": "0" * 32})

    assert page.status_code == 200
    assert changed_fields(page)[0] == "name"
    # A stale (or forged) confirmation is refused; the page's own state is accepted.
    assert stale.status_code == 409
    state = re.search(r'name="state" value="([0-9a-f]+)"', page.content.decode()).group(1)
    response = root_client.post(revert_url(slug, admin=True), {"state": state})
    assert response.status_code == 303
    assert response["Location"] == f"/admin/pghistory_ui/event/object/shop.product/{tea.pk}/"
    assert row_of(Product, tea.pk) == shop["tea_v1"]


def test_a_confirmation_for_another_state_is_not_applied(root_client, shop):
    tea = shop["tea"]
    slug = slug_of(Product, tea.pk, "insert")
    page = root_client.get(revert_url(slug))
    state = re.search(r'name="state" value="([0-9a-f]+)"', page.content.decode()).group(1)
    Product.objects.filter(pk=tea.pk).update(stock=7)  # someone else, meanwhile

    response = root_client.post(revert_url(slug), {"state": state})

    assert response.status_code == 409
    assert "changed after the confirmation page was opened" in text(response)
    assert row_of(Product, tea.pk)["stock"] == 7
    assert len(events_of(Product, tea.pk)) == 3
    assert has_form(response)  # the new diff, to confirm again


def test_without_the_middleware_the_user_is_still_recorded(root_client, shop):
    tea = shop["tea"]
    slug = slug_of(Product, tea.pk, "insert")

    root_client.post(revert_url(slug))

    assert events_of(Product, tea.pk)[-1].pgh_context == {
        "reverted_to": slug,
        "reverted_by": "root",
        "user": shop["root"].pk,
    }


# -- restoring ------------------------------------------------------------------------------


def test_restore_recreates_a_deleted_object_with_its_exact_values(shop_site, root_client, shop):
    ada = shop["ada"]
    Order.objects.all().delete()
    last = row_of(Customer, ada.pk)
    Customer.objects.filter(pk=ada.pk).delete()
    slug = slug_of(Customer, ada.pk, "delete")

    page = root_client.get(revert_url(slug))
    response = root_client.post(revert_url(slug))

    assert page.status_code == 200
    assert "Restore</button>" in page.content.decode()
    assert "Now: does not exist" in page.content.decode()
    assert "After restore" in page.content.decode()
    assert changed_fields(page) == ["id", "name", "email", "city", "is_vip", "notes", "created_at"]
    assert response.status_code == 303
    assert response["Location"] == f"/history/object/shop.customer/{ada.pk}/"
    assert row_of(Customer, ada.pk) == last
    events = events_of(Customer, ada.pk)
    assert [event.pgh_label for event in events] == ["insert", "update", "delete", "insert"]
    assert events[-1].pgh_data == events[-2].pgh_data
    assert events[-1].pgh_context == {
        "reverted_to": slug,
        "reverted_by": "root",
        "user": shop["root"].pk,
        "url": revert_url(slug),
    }
    message = [str(m) for m in response.wsgi_request._messages]
    assert message == ["Restored customer Ada <ada.lovelace@example.com>."]


def test_restore_to_an_older_version_of_a_deleted_object(root_client, shop):
    ada = shop["ada"]
    Order.objects.all().delete()
    Customer.objects.filter(pk=ada.pk).delete()

    response = root_client.post(revert_url(slug_of(Customer, ada.pk, "insert")))

    assert response.status_code == 303
    restored = Customer.objects.get(pk=ada.pk)
    assert (restored.email, restored.is_vip) == ("ada@example.com", True)


def test_restore_whose_foreign_key_target_is_gone_is_reported_and_not_applied(root_client, shop):
    order, ada = shop["order"], shop["ada"]
    Order.objects.filter(pk=order.pk).delete()
    Customer.objects.filter(pk=ada.pk).delete()
    slug = slug_of(Order, order.pk, "delete")
    count = Events.objects.count()

    page = root_client.get(revert_url(slug))
    response = root_client.post(revert_url(slug))

    assert page.status_code == 200
    assert f"Customer: Customer #{ada.pk} no longer exists." in text(page)
    assert 'data-field="customer"' in page.content.decode()
    assert not has_form(page)
    assert response.status_code == 409
    assert not has_form(response)
    assert not Order.objects.filter(pk=order.pk).exists()
    assert Events.objects.count() == count


def test_revert_to_a_unique_value_now_taken_is_reported_and_not_applied(root_client, shop):
    ada = shop["ada"]
    Customer.objects.create(name="Another Ada", email="ada@example.com")
    slug = slug_of(Customer, ada.pk, "insert")
    before = row_of(Customer, ada.pk)
    count = len(events_of(Customer, ada.pk))

    page = root_client.get(revert_url(slug))
    response = root_client.post(revert_url(slug))

    assert page.status_code == 200
    assert (
        "Email address: “ada@example.com” is now used by another customer"
        " (Another Ada <ada@example.com>), so this value cannot be restored."
    ) in text(page)
    assert not has_form(page)
    assert response.status_code == 409
    assert row_of(Customer, ada.pk) == before
    assert len(events_of(Customer, ada.pk)) == count


def test_a_unique_constraint_over_two_fields_is_checked_too(root_client, shop):
    tea = shop["tea"]
    green, black = Tag.objects.create(name="green"), Tag.objects.create(name="black")
    tagged = ProductTag.objects.create(product=tea, tag=green)
    ProductTag.objects.filter(pk=tagged.pk).update(tag=black)
    ProductTag.objects.create(product=tea, tag=green)

    response = root_client.get(revert_url(slug_of(ProductTag, tagged.pk, "insert")))

    assert "Product and Tag: This combination of Product and Tag is now used by" in text(response)
    assert not has_form(response)


def test_a_database_refusal_is_reported_and_nothing_is_written(root_client, shop, monkeypatch):
    """When a check misses a conflict (another writer, say), the database still refuses it,
    and the whole write is rolled back."""
    ada = shop["ada"]
    Customer.objects.create(name="Another Ada", email="ada@example.com")
    monkeypatch.setattr(revert, "problems", lambda target, using="default": [])
    slug = slug_of(Customer, ada.pk, "insert")
    before = row_of(Customer, ada.pk)
    count = Events.objects.count()

    response = root_client.post(revert_url(slug))

    assert response.status_code == 409
    assert "The database refused the change, so nothing was written" in text(response)
    assert "shop_customer_email" in text(response)
    assert row_of(Customer, ada.pk) == before
    assert Events.objects.count() == count


def test_a_database_refusal_of_a_foreign_key_is_caught_before_commit(
    root_client, shop, monkeypatch
):
    order, ada = shop["order"], shop["ada"]
    Order.objects.filter(pk=order.pk).delete()
    Customer.objects.filter(pk=ada.pk).delete()
    monkeypatch.setattr(revert, "problems", lambda target, using="default": [])
    count = Events.objects.count()

    response = root_client.post(revert_url(slug_of(Order, order.pk, "delete")))

    assert response.status_code == 409
    assert "foreign key" in text(response)
    assert not Order.objects.filter(pk=order.pk).exists()
    assert Events.objects.count() == count


# -- multi-table inheritance ----------------------------------------------------------------


def test_multi_table_inheritance_reverts_and_restores_the_parents_too(root_client, shop):
    pizzeria = Restaurant.objects.create(name="Luigi's", address="Via Roma 1", serves_pizza=True)
    Restaurant.objects.filter(pk=pizzeria.pk).update(name="Mario's", serves_pizza=False)
    slug = slug_of(Restaurant, pizzeria.pk, "insert")

    page = root_client.get(revert_url(slug))
    assert changed_fields(page) == ["name", "serves_pizza"]
    assert root_client.post(revert_url(slug)).status_code == 303
    reverted = Restaurant.objects.get(pk=pizzeria.pk)
    assert (reverted.name, reverted.address, reverted.serves_pizza) == (
        "Luigi's",
        "Via Roma 1",
        True,
    )

    Restaurant.objects.get(pk=pizzeria.pk).delete()
    assert not Place.objects.filter(pk=pizzeria.pk).exists()
    assert root_client.post(revert_url(slug)).status_code == 303
    assert Restaurant.objects.get(pk=pizzeria.pk).name == "Luigi's"


def test_restoring_a_child_whose_parent_row_remains_is_reported(root_client, shop):
    pizzeria = Restaurant.objects.create(name="Luigi's", serves_pizza=True)
    Restaurant.objects.get(pk=pizzeria.pk).delete(keep_parents=True)
    slug = slug_of(Restaurant, pizzeria.pk, "insert")

    page = root_client.get(revert_url(slug))
    response = root_client.post(revert_url(slug))

    assert "The place part of this restaurant" in text(page)
    assert "still exists" in text(page)
    assert not has_form(page)
    assert response.status_code == 409
    assert not Restaurant.objects.filter(pk=pizzeria.pk).exists()


# -- what cannot be reverted, and who may not -----------------------------------------------


def test_an_event_that_does_not_store_every_field_cannot_revert(root_client, shop):
    member = StaffMember.objects.create(username="bea", email="bea@example.com", is_staff=True)
    StaffMember.objects.filter(pk=member.pk).update(email="bea@shop.example")
    slug = slug_of(StaffMember, member.pk, "insert")

    page = root_client.get(revert_url(slug))
    response = root_client.post(revert_url(slug))

    assert page.status_code == 409
    assert "does not store every field of staff members" in text(page)
    assert not has_form(page)
    assert response.status_code == 409
    assert StaffMember.objects.get(pk=member.pk).email == "bea@shop.example"


def test_viewing_without_the_change_permission_is_refused(client, django_user_model, shop):
    tea = shop["tea"]
    client.force_login(staff(django_user_model, "alice", "view_product"))
    slug = slug_of(Product, tea.pk, "insert")
    before = row_of(Product, tea.pk)

    page = client.get(revert_url(slug))
    response = client.post(revert_url(slug))

    assert page.status_code == 403
    assert (
        "You cannot revert this product: reverting needs the permission to change products"
        in text(page)
    )
    assert not has_form(page)
    assert response.status_code == 403
    assert row_of(Product, tea.pk) == before
    assert len(events_of(Product, tea.pk)) == 2
    assert client.get(revert_url(slug, admin=True)).status_code == 403


def test_the_change_permission_allows_a_revert(client, django_user_model, shop):
    tea = shop["tea"]
    client.force_login(staff(django_user_model, "bob", "change_product"))

    response = client.post(revert_url(slug_of(Product, tea.pk, "insert")))

    assert response.status_code == 303
    assert row_of(Product, tea.pk) == shop["tea_v1"]


def test_restoring_needs_the_add_permission(client, django_user_model, shop):
    ada = shop["ada"]
    Order.objects.all().delete()
    Customer.objects.filter(pk=ada.pk).delete()
    slug = slug_of(Customer, ada.pk, "delete")
    client.force_login(staff(django_user_model, "bob", "view_customer", "change_customer"))

    page = client.get(revert_url(slug))
    response = client.post(revert_url(slug))

    assert page.status_code == 403
    assert "restoring a deleted customer needs the permission to add customers" in text(page)
    assert not has_form(page)
    assert response.status_code == 403
    assert not Customer.objects.filter(pk=ada.pk).exists()

    client.force_login(staff(django_user_model, "carl", "view_customer", "add_customer"))
    assert client.post(revert_url(slug)).status_code == 303
    assert Customer.objects.filter(pk=ada.pk).exists()


def test_a_model_the_user_may_not_see_is_not_found(client, django_user_model, shop):
    client.force_login(staff(django_user_model, "dan", "view_customer", "add_product"))

    assert client.get(revert_url(slug_of(Product, shop["tea"].pk, "insert"))).status_code == 404


@pytest.mark.parametrize(
    "slug",
    ["shop.ProductEvent:999999", "shop.NoSuchEvent:1", "nonsense", "shop.ProductEvent:x"],
)
def test_unknown_events_are_not_found(root_client, shop, slug):
    assert root_client.get(revert_url(slug)).status_code == 404
    assert root_client.post(revert_url(slug)).status_code == 404
    assert root_client.get(revert_url(slug, admin=True)).status_code == 404


def test_anonymous_users_are_sent_to_log_in(client, shop):
    slug = slug_of(Product, shop["tea"].pk, "insert")

    standalone = client.get(revert_url(slug))
    admin = client.get(revert_url(slug, admin=True))
    posted = client.post(revert_url(slug))

    assert standalone.status_code == 302
    assert standalone["Location"].startswith("/accounts/login/?next=")
    assert admin.status_code == 302
    assert admin["Location"].startswith("/admin/login/?next=")
    assert posted.status_code == 302
    assert row_of(Product, shop["tea"].pk) != shop["tea_v1"]


def test_users_who_are_not_staff_are_refused(client, django_user_model, shop):
    user = django_user_model.objects.create_user("carol", password="pw")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["change_product"]))
    client.force_login(user)
    slug = slug_of(Product, shop["tea"].pk, "insert")

    assert client.get(revert_url(slug)).status_code == 403
    assert client.post(revert_url(slug)).status_code == 403
    assert client.post(revert_url(slug, admin=True)).status_code == 302  # the admin login
    assert row_of(Product, shop["tea"].pk) != shop["tea_v1"]


@pytest.mark.parametrize("admin", [False, True], ids=["standalone", "admin"])
def test_a_post_without_the_csrf_token_is_refused(shop, admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(shop["root"])
    slug = slug_of(Product, shop["tea"].pk, "insert")

    page = client.get(revert_url(slug, admin=admin))
    response = client.post(revert_url(slug, admin=admin))

    assert 'name="csrfmiddlewaretoken"' in page.content.decode()
    assert response.status_code == 403
    assert row_of(Product, shop["tea"].pk) != shop["tea_v1"]
    assert len(events_of(Product, shop["tea"].pk)) == 2
