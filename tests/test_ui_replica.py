"""`PGHISTORY_ADMIN_DATABASE`: the history UI reads from another database (a read replica),
while reverts read the current row and write, with their context, on the default one. The
suite's second database ("other", on the same server) stands in for the replica: it holds a
different history, so every page shows which database it read."""

import csv
import io
import re
from decimal import Decimal

import pytest

import pghistory
from example_project.shop.models import Product
from pghistory.models import Context, Events
from tests.html import column
from tests.test_commands_stats import stats_rows

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "other"])


@pytest.fixture
def replica(settings, django_user_model):
    """The same product (same primary key) in both databases, with different histories."""
    settings.PGHISTORY_ADMIN_DATABASE = "other"
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    primary = Product.objects.create(name="Primary tea", sku="T-1", price=Decimal("4.00"))
    with pghistory.context(user=root.pk, url="/replicated/"):
        copy = Product.objects.using("other").create(
            pk=primary.pk, name="Replica tea", sku="T-1", price=Decimal("4.00")
        )
        copy.price = Decimal("5.00")
        copy.save(using="other")
    return {"root": root, "product": primary}


def test_the_browser_timeline_and_export_read_the_replica(client, replica):
    client.force_login(replica["root"])
    product = replica["product"]

    browser = client.get("/history/")
    timeline = client.get(f"/history/object/shop.product/{product.pk}/")
    export = client.get("/history/export.csv")

    assert column(browser.content, "Object") == ["Product Replica tea (T-1)"] * 2
    assert column(browser.content, "Changes")[0] == "Price (EUR): 4.00 → 5.00"
    assert "Primary tea" not in browser.content.decode()
    assert "Replica tea" in timeline.content.decode()
    assert "Primary tea" not in timeline.content.decode()
    lines = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert [(line["label"], line["object"]) for line in lines] == [
        ("update", "Replica tea (T-1)"),
        ("insert", "Replica tea (T-1)"),
    ]


def test_the_context_and_event_pages_read_the_replica(client, replica):
    client.force_login(replica["root"])
    event = Events.objects.using("other").order_by("-pgh_id").first()

    context_page = client.get(f"/history/context/{event.pgh_context_id}/")
    event_page = client.get(f"/history/event/{event.pgh_slug}/")
    user_page = client.get("/history/user/root/")

    assert context_page.status_code == 200
    assert "/replicated/" in context_page.content.decode()
    assert not Context.objects.using("default").filter(pk=event.pgh_context_id).exists()
    assert event_page.status_code == 200 and "Replica tea" in event_page.content.decode()
    assert column(user_page.content, "Object") == ["Product Replica tea (T-1)"] * 2


def test_a_revert_writes_on_the_default_database_with_its_context(client, replica):
    client.force_login(replica["root"])
    product = replica["product"]
    insert = Events.objects.using("other").filter(pgh_label="insert").get()

    url = f"/history/event/{insert.pgh_slug}/revert/"
    confirmation = client.get(url)
    # The confirmation compares the replica's version with the default database's row.
    assert "Primary tea" in confirmation.content.decode()
    state = re.search(r'name="state" value="([0-9a-f]+)"', confirmation.content.decode())
    response = client.post(url, {"state": state.group(1)})

    assert response.status_code == 303
    product.refresh_from_db(using="default")
    assert product.name == "Replica tea"  # the stored version, applied to the default row
    newest = Events.objects.using("default").tracks(product).order_by("-pgh_id").first()
    assert newest.pgh_label == "update"
    assert newest.pgh_context["reverted_by"] == "root"
    # The replica's history is as it was.
    assert Events.objects.using("other").count() == 2


def test_the_statistics_page_reads_the_replica(client, replica):
    client.force_login(replica["root"])

    rows = stats_rows(client.get("/history/stats/").content)

    # The default database holds the product's insert only; the replica, insert and update.
    assert Events.objects.using("default").across("shop.ProductEvent").count() == 1
    assert (rows["shop.ProductEvent"]["Events"], rows["shop.CustomerEvent"]["Events"]) == (
        "2",
        "0",
    )
