"""The README's "Customising" examples, run as written (tests/customising/): a column of each
kind django-tables2 offers and row attributes, a filter, one block of one model's timeline,
the UI on a custom admin site with its own revert rule and request-dependent redaction, and
the standalone pages' rules."""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission, User

import pghistory
from example_project.shop.models import Customer, Order, Product
from pghistory.models import Events
from tests.browser import ARTIFACTS, sign_in

ROOT = Path(__file__).resolve().parent.parent
CUSTOMISING = Path(__file__).resolve().parent / "customising"
SHOP_ADMIN = "/shop-admin/pghistory_ui/event/"

pytestmark = pytest.mark.django_db


def readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Customising")
    return text[start : text.index("\n## ", start + 1)]


def code_blocks(section: str) -> list[str]:
    return re.findall(r"```(?:python|html\+django)\n(.*?)```", section, re.S)


def test_the_readme_shows_the_examples_exactly_as_they_run():
    sources = (CUSTOMISING / "history.py").read_text() + (
        CUSTOMISING / "templates/pghistory_admin/shop/order/timeline.html"
    ).read_text()
    blocks = code_blocks(readme_section())

    assert len(blocks) >= 5
    for block in blocks:
        # The first line names the file the block goes in.
        body = block.split("\n", 1)[1]
        assert body in sources, block


def cells_of(html: str, name: str) -> list[str]:
    return re.findall(rf'<td class="pgh-cell-{name}"[^>]*>(.*?)</td>', html, re.S)


def td(html: str, header: str) -> list[str]:
    """The inner HTML of the cells under `header` (columns without cell_attrs)."""
    html = html.split('<table class="pgh-events"', 1)[1]
    rows = re.findall(r"<tr [^>]*>(.*?)</tr>", html.split("<tbody", 1)[1], re.S)
    heads = re.findall(r'<th scope="col"[^>]*>\s*(.*?)\s*</th>', html, re.S)
    heads = [re.sub(r"<[^>]+>", "", head).strip() for head in heads]
    position = heads.index(header)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[position].strip() for row in rows]


@pytest.fixture
def root(client):
    user = User.objects.create_superuser("root", "root@example.com", "secret-pw")
    client.force_login(user)
    return user


@pytest.fixture
def imported(root):
    with pghistory.context(source="price list import", user=root.pk):
        tea = Product.objects.create(name="Sencha", sku="T-1", price=Decimal("4.50"), stock=3)
    with pghistory.context(user=root.pk, url="/shop/products/1/edit/"):
        tea.price, tea.stock = Decimal("5.25"), 4
        tea.save()
    return tea


def test_added_columns_render_through_django_tables2(client, imported):
    html = client.get(SHOP_ADMIN, {"model": "shop.product"}).content.decode()
    update, insert = Events.objects.tracks(imported).order_by("-pgh_id")

    assert cells_of(html, "source") == ["—", "price list import"]
    assert td(html, "SKU then") == ["<code>T-1</code>", "<code>T-1</code>"]
    assert td(html, "Details") == [
        f'<a href="{SHOP_ADMIN}event/{event.pgh_slug}/">Open</a>' for event in (update, insert)
    ]
    # The update changed two fields; the insert's diff is empty (its row holds the values).
    assert td(html, "Fields changed") == ["2", "0"]
    assert re.findall(r'<tr data-event="([^"]+)" data-model="([^"]+)"', html) == [
        (update.pgh_slug, "shop.Product"),
        (insert.pgh_slug, "shop.Product"),
    ]


def test_an_added_filter_filters_and_shows_in_the_form(client, imported):
    response = client.get(SHOP_ADMIN, {"source": "price list import"})
    html = response.content.decode()
    (insert,) = Events.objects.tracks(imported).filter(pgh_label="insert")

    assert response.status_code == 200
    assert re.findall(r'<tr data-event="([^"]+)"', html) == [insert.pgh_slug]
    assert '<input type="text" name="source" value="price list import"' in html


def test_the_custom_admin_site_lists_the_browser(client, imported):
    index = client.get("/shop-admin/").content.decode()

    assert f'<a href="{SHOP_ADMIN}">Events</a>' in index
    assert client.get(f"{SHOP_ADMIN}object/shop.product/{imported.pk}/").status_code == 200


def staff(username, *codenames, groups=()):
    user = User.objects.create_user(username, password="secret-pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return user


def test_only_managers_may_revert(client, imported):
    update = Events.objects.tracks(imported).filter(pgh_label="insert").get()
    url = f"{SHOP_ADMIN}event/{update.pgh_slug}/revert/"
    clerk = staff("clerk", "view_product", "change_product")
    manager = staff("manager", "view_product", "change_product", groups=["Managers"])

    client.force_login(clerk)
    refused = client.get(url)
    client.force_login(manager)
    allowed = client.get(url)

    assert refused.status_code == 403
    assert "reverting needs the permission to change products" in refused.content.decode()
    assert allowed.status_code == 200
    assert '<button type="submit" class="button default">Revert</button>' in (
        allowed.content.decode()
    )


def test_redaction_depends_on_the_request(client, root):
    with pghistory.context(user=root.pk):
        ada = Customer.objects.create(name="Ada", email="ada@example.com", notes="Owes 20")
        ada.notes = "Paid her tab"
        ada.save()
    timeline = f"{SHOP_ADMIN}object/shop.customer/{ada.pk}/"
    clerk = staff("clerk", "view_customer")

    as_root = client.get(timeline).content.decode()
    client.force_login(clerk)
    as_clerk = client.get(timeline).content.decode()
    exported = b"".join(client.get(f"{SHOP_ADMIN}export.csv").streaming_content).decode()
    searched = client.get(SHOP_ADMIN, {"q": "tab"}).content.decode()
    standard = client.get(f"/history/object/shop.customer/{ada.pk}/").content.decode()

    assert "Owes 20" in as_root and "Paid her tab" in as_root
    assert "Owes 20" not in as_clerk and "Paid her tab" not in as_clerk
    assert (
        '<tr data-field="notes"><th scope="row">Notes</th>'
        '<td><span class="pgh-value">[redacted]</span></td></tr>'
    ) in as_clerk
    assert '"notes": ["[redacted]", "[redacted]"]' in exported.replace('""', '"')
    assert "Paid her tab" not in exported
    assert "No events match these filters." in searched
    # The standard pages keep the standard rules.
    assert "Paid her tab" in standard


def test_the_standalone_sites_own_rule_lets_support_in(client, imported):
    support = User.objects.create_user("sam", password="secret-pw")
    support.groups.add(Group.objects.create(name="Support"))
    support.user_permissions.add(*Permission.objects.filter(codename="view_product"))
    client.force_login(support)

    custom = client.get("/shop-history/", {"model": "shop.product"})
    standard = client.get("/history/")

    assert custom.status_code == 200
    assert cells_of(custom.content.decode(), "source") == ["—", "price list import"]
    assert standard.status_code == 403


def test_one_models_timeline_block_is_overridden(client, root):
    with pghistory.context(user=root.pk):
        ada = Customer.objects.create(name="Ada", email="ada@example.com")
        order = Order.objects.create(customer=ada, shipping_address="1 Quay")
        order.status = Order.Status.PAID
        order.save()

    order_page = client.get(f"/history/object/shop.order/{order.pk}/").content.decode()
    customer_page = client.get(f"/history/object/shop.customer/{ada.pk}/").content.decode()

    assert re.findall(r'<p class="shop-order-status">(.*?)</p>', order_page) == [
        "Status after this change: paid",
        "Status after this change: new",
    ]
    assert "shop-order-status" not in customer_page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_overridden_timeline_in_a_browser(page, live_server):
    User.objects.create_superuser("root", "root@example.com", "secret-pw")
    ada = Customer.objects.create(name="Ada", email="ada@example.com")
    with pghistory.context(url="/shop/orders/new/"):
        order = Order.objects.create(customer=ada, shipping_address="1 Quay")
    with pghistory.context(url=f"/shop/orders/{order.pk}/pay/"):
        order.status = Order.Status.PAID
        order.save()
    sign_in(page, live_server, "root")

    page.goto(f"{live_server.url}/admin/pghistory_ui/event/object/shop.order/{order.pk}/")

    cards = page.locator("article.pgh-event")
    assert cards.count() == 2
    assert page.locator(".shop-order-status").all_inner_texts() == [
        "Status after this change: paid",
        "Status after this change: new",
    ]
    # The update and the status change are one change: one card with both labels.
    assert cards.nth(0).locator(".pgh-label").all_inner_texts() == ["update", "status_changed"]
    page.screenshot(path=ARTIFACTS / "customised-timeline.png", full_page=True)


def test_a_subclass_that_changes_a_built_in_column_gets_django_tables2_s_pipeline(rf, imported):
    from django_tables2 import Column

    from pghistory_admin.rows import event_rows
    from pghistory_admin.tables import EventTable

    class Loud(EventTable):
        # A render method that takes the value, and a built-in column replaced by a link.
        def render_label(self, value):
            return value.upper()

        time = Column("When", accessor="created_at", linkify=lambda record: f"/o/{record.slug}/")

    events = Events.objects.tracks(imported).order_by("-pgh_id")
    request = rf.get("/")
    html = Loud(event_rows(events), link=lambda *args, **params: "/").as_html(request)

    assert re.findall(r'<td class="pgh-cell-label"[^>]*>(.*?)</td>', html) == ["UPDATE", "INSERT"]
    times = [
        f'<a href="/o/{event.pgh_slug}/"><time datetime="{event.pgh_created_at.isoformat()}">'
        for event in events
    ]
    linked = re.findall(r"<td >(.*?)</td>", html)
    assert len(linked) == len(times) == 2
    assert [cell[: len(time)] for cell, time in zip(linked, times)] == times
