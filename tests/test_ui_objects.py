"""One object's pages through real HTTP: its timeline (grouped by request, with related
objects' events), one event's before and after, two versions compared, the object as of a
moment, and the admin's History button leading there."""

import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.test import RequestFactory, override_settings
from django.urls import NoReverseMatch, reverse

import pghistory
from example_project.shop.models import Customer, Order, OrderLine, Product
from pghistory.models import Events
from pghistory_admin.admin import HistoryTabMixin, browser_admin
from pghistory_admin.urls import site
from pghistory_admin.views.browser import BrowserView

pytestmark = pytest.mark.django_db(transaction=True)


class _Tables(HTMLParser):
    """Rows of `table.pgh-diff` tables: (field, cell, cell, ...) as text, and whether the row
    is marked changed."""

    def __init__(self):
        super().__init__()
        self.rows, self._row, self._cell = [], None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-field" in attrs:
            self._row = {"changed": "pgh-changed" in (attrs.get("class") or ""), "cells": []}
            self.rows.append(self._row)
        elif tag in ("th", "td") and self._row is not None:
            self._cell = []
        elif self._cell is not None:
            self._cell.append(" ")  # elements inside a cell read as separate words

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self._row is not None and self._cell is not None:
            self._row["cells"].append(re.sub(r"\s+", " ", "".join(self._cell)).strip())
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def diff_rows(response, changed_only=False):
    parser = _Tables()
    parser.feed(response.content.decode())
    return [tuple(row["cells"]) for row in parser.rows if row["changed"] or not changed_only]


def slugs(obj):
    return list(Events.objects.tracks(obj).order_by("pgh_id").values_list("pgh_slug", flat=True))


@pytest.fixture
def root(client, django_user_model):
    user = django_user_model.objects.create_superuser(
        "root", "r@example.com", "pw", first_name="Rita", last_name="Root"
    )
    client.force_login(user)
    return user


@pytest.fixture
def tea(root):
    """A product created in one request, then edited twice in another."""
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
    with pghistory.context(user=root.pk, url="/shop/products/1/edit/"):
        tea.stock = 5
        tea.save()
        tea.description = "A grassy green tea from Uji with a sweet finish"
        tea.attributes = {"origin": "JP", "weight": 250, "organic": True}
        tea.price = Decimal("1234.50")
        tea.is_active = False
        tea.category = "coffee"
        tea.save()
    return tea


def test_event_page_shows_every_field_before_and_after_changed_first(client, tea):
    response = client.get(f"/history/event/{slugs(tea)[2]}/")

    assert response.status_code == 200
    assert diff_rows(response) == [
        ("Price (EUR)", "4.50", "1,234.50"),
        ("On sale", "Yes", "No"),
        ("Category", "Tea", "Coffee"),
        (
            "Description",
            "A grassy green tea from Shizuoka with a sweet finish",
            "A grassy green tea from Uji with a sweet finish",
        ),
        (
            "Attributes",
            '{"origin": "JP", "weight": 100}',
            '{"organic": true, "origin": "JP", "weight": 250} organic: — → true weight: 100 → 250',
        ),
        ("ID", str(tea.pk), str(tea.pk)),
        ("Name", "Sencha", "Sencha"),
        ("SKU", "T-1", "T-1"),
        ("Units in stock", "5", "5"),
    ]
    assert [cells[0] for cells in diff_rows(response, changed_only=True)] == [
        "Price (EUR)",
        "On sale",
        "Category",
        "Description",
        "Attributes",
    ]
    html = response.content.decode()
    assert "<del>Shizuoka</del>" in html and "<ins>Uji</ins>" in html


def test_timeline_groups_a_requests_events_and_shows_what_an_insert_stored(client, tea):
    response = client.get(f"/history/object/shop.product/{tea.pk}/")
    html = response.content.decode()

    groups = re.findall(r'<li class="pgh-group( pgh-grouped)?">', html)
    assert groups == [" pgh-grouped", ""]
    assert re.findall(r'data-event="([^"]+)"', html) == list(reversed(slugs(tea)))
    assert "2 events in this request" in html
    assert ("Units in stock", "10", "5") in diff_rows(response)
    assert ("Name", "Sencha") in diff_rows(response)  # the insert: its stored values
    assert "Rita Root (root)</a>" in html
    assert '<code class="pgh-url">/shop/products/1/edit/</code>' in html


def test_timeline_can_show_the_events_of_objects_that_point_to_it(client, root, tea):
    ada = Customer.objects.create(name="Ada", email="ada@example.com")
    order = Order.objects.create(customer=ada, shipping_address="Main St 1")
    OrderLine.objects.create(order=order, product=tea, quantity=2, unit_price=Decimal("4.50"))

    own = client.get(f"/history/object/shop.order/{order.pk}/").content.decode()
    with_related = client.get(f"/history/object/shop.order/{order.pk}/?related=1").content.decode()

    assert "related: Order line" not in own
    assert re.findall(r"related: Order line <a [^>]+>([^<]+)</a>", with_related) == ["2 × Sencha"]
    assert len(re.findall(r'class="pgh-event pgh-event-related"', with_related)) == 1


def test_a_deleted_objects_timeline_and_its_foreign_keys_last_names(client, root, tea):
    ada = Customer.objects.create(name="Ada", email="ada@example.com")
    order = Order.objects.create(customer=ada, shipping_address="Main St 1")
    order.customer = Customer.objects.create(name="Bo", email="bo@example.com")
    order.save()
    order_pk = order.pk
    order.delete()
    ada.delete()

    response = client.get(f"/history/object/shop.order/{order_pk}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert f"<strong>Order #{order_pk} (New)</strong>" in html
    assert '<span class="pgh-gone">deleted</span>' in html
    assert ("Customer", "Ada <ada@example.com> (deleted)", "Bo <bo@example.com>") in diff_rows(
        response
    )


def test_compare_two_versions(client, tea):
    first, _, last = slugs(tea)

    response = client.get(
        f"/history/object/shop.product/{tea.pk}/compare/", {"event": [last, first]}
    )

    assert response.status_code == 200
    assert diff_rows(response, changed_only=True) == [
        ("Price (EUR)", "4.50", "1,234.50"),
        ("Units in stock", "10", "5"),
        ("On sale", "Yes", "No"),
        ("Category", "Tea", "Coffee"),
        (
            "Description",
            "A grassy green tea from Shizuoka with a sweet finish",
            "A grassy green tea from Uji with a sweet finish",
        ),
        (
            "Attributes",
            '{"origin": "JP", "weight": 100}',
            '{"organic": true, "origin": "JP", "weight": 250} organic: — → true weight: 100 → 250',
        ),
    ]
    assert "6 fields differ between" in response.content.decode()


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([], "Pick two versions of this object to compare."),
        (["one"], "Pick two versions of this object to compare."),
        (["shop.ProductEvent:999999", "shop.ProductEvent:1"], "Pick two versions"),
    ],
)
def test_compare_needs_two_versions(client, tea, events, message):
    response = client.get(f"/history/object/shop.product/{tea.pk}/compare/", {"event": events})

    assert response.status_code == 400
    assert message in response.content.decode()


def test_compare_refuses_versions_of_another_object(client, tea):
    other = Product.objects.create(name="Other", sku="O-1", price=1, category="tea")

    response = client.get(
        f"/history/object/shop.product/{tea.pk}/compare/",
        {"event": [slugs(tea)[0], slugs(other)[0]]},
    )

    assert response.status_code == 400
    assert "Both versions must be of this object." in response.content.decode()


def test_as_of_shows_the_object_as_it_was(client, tea):
    created, restocked, edited = (Events.objects.get(pgh_slug=s) for s in slugs(tea))
    url = f"/history/object/shop.product/{tea.pk}/as-of/"

    before = client.get(url, {"at": "2000-01-01T00:00"})
    at_restock = client.get(url, {"at": restocked.pgh_created_at.isoformat()})
    later = client.get(url, {"at": "2999-01-01T00:00"})
    tea.delete()
    after_delete = client.get(url, {"at": "2999-01-01T00:00"})

    assert "did not exist yet" in before.content.decode()
    assert ("Units in stock", "5") in diff_rows(at_restock)
    assert ("Price (EUR)", "4.50") in diff_rows(at_restock)
    assert ("Category", "Coffee") in diff_rows(later)
    assert "had been deleted" in after_delete.content.decode()
    assert created.pgh_created_at < edited.pgh_created_at


def test_as_of_with_a_bad_moment_is_a_400(client, tea):
    response = client.get(f"/history/object/shop.product/{tea.pk}/as-of/", {"at": "tomorrow"})

    assert response.status_code == 400
    assert "Enter a valid date/time." in response.content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "/history/object/shop.product/999999/",
        "/history/object/shop.product/abc/",
        "/history/object/shop.product/99999999999999999999/",
        "/history/object/nope.model/1/",
        "/history/event/shop.ProductEvent:999999/",
        "/history/event/shop.ProductEvent:abc/",
        "/history/event/nope.Model:1/",
        "/history/event/zzz/",
        "/history/object/shop.product/abc/as-of/",
        "/history/object/shop.product/abc/compare/",
    ],
)
def test_unknown_objects_and_events_are_404(client, root, url):
    assert client.get(url).status_code == 404


def test_a_model_the_user_may_not_view_looks_unknown(client, django_user_model, tea):
    dan = django_user_model.objects.create_user("dan", password="pw", is_staff=True)
    dan.user_permissions.add(Permission.objects.get(codename="view_customer"))
    client.force_login(dan)

    for url in [
        f"/history/object/shop.product/{tea.pk}/",
        f"/history/event/{slugs(tea)[0]}/",
        f"/history/object/shop.product/{tea.pk}/as-of/?at=2999-01-01",
        f"/admin/pghistory_ui/event/object/shop.product/{tea.pk}/",
    ]:
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Sencha" not in response.content.decode()


def test_related_events_of_a_forbidden_model_are_left_out(client, django_user_model, root, tea):
    ada = Customer.objects.create(name="Ada", email="ada@example.com")
    order = Order.objects.create(customer=ada, shipping_address="Main St 1")
    OrderLine.objects.create(order=order, product=tea, quantity=2, unit_price=1)
    dan = django_user_model.objects.create_user("dan", password="pw", is_staff=True)
    dan.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(dan)

    html = client.get(f"/history/object/shop.order/{order.pk}/?related=1").content.decode()

    assert "Order line" not in html
    assert "Sencha" not in html


def test_values_with_markup_are_shown_as_text(client, root):
    product = Product.objects.create(
        name="<script>alert(1)</script>", sku="<b>X</b>", price=1, category="tea"
    )
    product.description = "<img src=x onerror=alert(2)> long enough to be compared word by word"
    product.save()
    pages = [
        f"/history/object/shop.product/{product.pk}/",
        f"/history/event/{slugs(product)[1]}/",
        f"/history/object/shop.product/{product.pk}/compare/?event={slugs(product)[0]}"
        f"&event={slugs(product)[1]}",
        f"/history/object/shop.product/{product.pk}/as-of/?at=2999-01-01",
    ]
    for url in pages:
        html = client.get(url).content.decode()
        assert "<script>alert(1)" not in html, url
        assert "<img src=x" not in html, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url


def history_buttons(response) -> list[str]:
    return re.findall(r'<a href="([^"]*)" class="historylink"', response.content.decode())


def test_the_switch_points_the_history_button_at_the_timeline(client, root, tea):
    change = f"/admin/shop/product/{tea.pk}/change/"
    history = f"/admin/shop/product/{tea.pk}/history/"
    timeline = f"/admin/pghistory_ui/event/object/shop.product/{tea.pk}/"

    without_switch = client.get(change)
    with override_settings(PGHISTORY_ADMIN_HISTORY_TAB=True):
        with_switch = client.get(change)
        django_log = client.get(history)
        group = Group.objects.create(name="Roasters")
        untracked = client.get(f"/admin/auth/group/{group.pk}/change/")

    assert history_buttons(without_switch) == [history]
    assert history_buttons(with_switch) == [timeline]
    assert django_log.status_code == 200  # Django's own page, unchanged
    assert "Change history" in django_log.content.decode()
    assert history_buttons(untracked) == [f"/admin/auth/group/{group.pk}/history/"]
    assert f'href="{history}?log=1"' in client.get(timeline).content.decode()


def test_the_switch_leaves_django_s_model_admin_alone():
    from django.contrib.admin import ModelAdmin
    from django.contrib.admin.options import ModelAdmin as DjangoModelAdmin

    assert ModelAdmin.history_view.__module__ == "django.contrib.admin.options"
    assert ModelAdmin.history_view is DjangoModelAdmin.__dict__["history_view"]


class HistoryProductAdmin(HistoryTabMixin, admin.ModelAdmin):
    pass


def test_history_tab_mixin(rf, root, tea):
    model_admin = HistoryProductAdmin(Product, admin.site)
    request = rf.get("/")
    request.user = root

    response = model_admin.history_view(request, str(tea.pk))

    assert (response.status_code, response["Location"]) == (
        302,
        f"/admin/pghistory_ui/event/object/shop.product/{tea.pk}/",
    )


def test_the_mixin_opens_a_deleted_objects_timeline(client, root, tea):
    pk = tea.pk
    tea.delete()
    model_admin = HistoryProductAdmin(Product, admin.site)
    request = RequestFactory().get(f"/admin/shop/product/{pk}/history/")
    request.user = root

    response = model_admin.history_view(request, str(pk))

    timeline = f"/admin/pghistory_ui/event/object/shop.product/{pk}/"
    assert (response.status_code, response["Location"]) == (302, timeline)
    assert "<strong>Sencha (T-1)</strong>" in client.get(timeline).content.decode()


@pytest.mark.parametrize(
    "args",
    [
        ("shop.order", "12"),
        ("shop.tag", "café au lait"),
        ("shop.tag", "50% off? #1 & more;=+,!$'()*"),
        ("shop.tag", "~:@-._"),
    ],
)
def test_links_are_the_urls_reverse_gives(args):
    """A page reverses each linked page once and puts each row's arguments in: the URLs are
    exactly Django's, quoted as it quotes them, on both surfaces."""
    for ui in (site, browser_admin(admin.site)):
        view = BrowserView(ui=ui)
        for _ in range(2):  # the second time from the URL reversed the first time
            assert view.link("object", *args) == reverse(
                f"{ui.namespace}:{ui.url_name('object')}", args=args
            )
        assert view.link("user", args[1], sort="time") == (
            reverse(f"{ui.namespace}:{ui.url_name('user')}", args=[args[1]]) + "?sort=time"
        )
    # What reverse() refuses is still refused.
    with pytest.raises(NoReverseMatch):
        BrowserView(ui=site).link("object", "shop.tag", "a/b")
