"""Redacted fields: every page and export says that such a field changed, never what it
held. `auth.User.password` by default (also through proxies of `auth.User`), and the fields
`PGHISTORY_ADMIN_REDACT` names."""

import csv
import io
import json
import re
import types
from html import unescape

import pytest
from django.contrib import admin
from django.urls import path

from example_project.shop.models import Customer, CustomerEvent, StaffMember
from pghistory.admin import EventModelAdmin
from pghistory.config import redacted_columns
from pghistory.models import Events
from pghistory_admin.diffs import compare
from tests.html import column

pytestmark = pytest.mark.django_db

SECRET_OLD, SECRET_NEW = "Oslo Secretside", "Bergen Hideaway"


def test_a_users_password_is_redacted_by_default_also_through_a_proxy():
    assert redacted_columns(StaffMember) == {"password"}
    [diff] = compare(StaffMember, {"password": "pbkdf2$old"}, {"password": "pbkdf2$new"})

    assert (diff.label, diff.old_display, diff.new_display, diff.changed) == (
        "Password",
        "[redacted]",
        "[redacted]",
        True,
    )
    [same] = compare(StaffMember, {"password": "pbkdf2$x"}, {"password": "pbkdf2$x"})
    assert same.changed is False and same.old == same.new == "[redacted]"


@pytest.fixture
def ada(settings, django_user_model):
    settings.PGHISTORY_ADMIN_REDACT = {"shop.Customer": ["city"]}
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    customer = Customer.objects.create(name="Ada", email="ada@example.com", city=SECRET_OLD)
    customer.email = "ada@example.org"
    customer.city = SECRET_NEW
    customer.save()
    return {"root": root, "customer": customer}


def pages(customer):
    update, insert = Events.objects.tracks(customer).order_by("-pgh_id")
    return {
        "browser": "/history/",
        "admin browser": "/admin/pghistory_ui/event/",
        "timeline": f"/history/object/shop.customer/{customer.pk}/",
        "event": f"/history/event/{update.pgh_slug}/",
        "insert event": f"/history/event/{insert.pgh_slug}/",
        "compare": (
            f"/history/object/shop.customer/{customer.pk}/compare/"
            f"?event={insert.pgh_slug}&event={update.pgh_slug}"
        ),
        "as of": f"/history/object/shop.customer/{customer.pk}/as-of/?at=2999-01-01",
        "context": f"/history/context/{update.pgh_context_id}/" if update.pgh_context_id else None,
        "revert": f"/history/event/{insert.pgh_slug}/revert/",
        "csv": "/history/export.csv",
        "jsonl": "/history/export.jsonl",
    }


def body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def test_no_page_or_export_shows_a_redacted_value(client, ada):
    client.force_login(ada["root"])
    for name, url in pages(ada["customer"]).items():
        if url is None:
            continue
        response = client.get(url)
        assert response.status_code == 200, name
        text = body(response)
        assert SECRET_OLD not in text and SECRET_NEW not in text, name
        assert "Secretside" not in text and "Hideaway" not in text, name


def test_the_diff_says_the_field_changed(client, ada):
    client.force_login(ada["root"])

    browser = client.get("/history/", {"model": "shop.customer"})
    export = body(client.get("/history/export.csv", {"model": "shop.customer"}))
    jsonl = body(client.get("/history/export.jsonl", {"model": "shop.customer"}))

    assert column(browser.content, "Changes")[0] == (
        "Email address: ada@example.com → ada@example.orgCity: [redacted] → [redacted]"
    )
    update = next(csv.DictReader(io.StringIO(export)))
    assert update["changed_fields"] == "email, city"
    assert json.loads(update["diff"]) == {
        "city": ["[redacted]", "[redacted]"],
        "email": ["ada@example.com", "ada@example.org"],
    }
    assert json.loads(jsonl.splitlines()[0])["diff"]["city"] == ["[redacted]", "[redacted]"]


def test_a_search_does_not_find_events_by_a_redacted_value(client, ada):
    client.force_login(ada["root"])

    by_secret = client.get("/history/", {"q": "Hideaway"})
    by_email = client.get("/history/", {"q": "example.org"})

    assert column(by_secret.content, "Object") == []
    assert column(by_email.content, "Object") == ["Customer Ada <ada@example.org>"]


def _admin_cells(html: str, name: str) -> list[str]:
    """The text of the admin change list's `field-<name>` cells, top to bottom."""
    return [
        unescape(cell)
        for cell in re.findall(rf'<td class="field-{name}">(.*?)</td>', html, re.DOTALL)
    ]


def test_the_events_admin_hides_redacted_values_in_its_list_and_on_an_events_page(client, ada):
    client.force_login(ada["root"])
    update, insert = Events.objects.tracks(ada["customer"]).order_by("-pgh_id")

    listing = client.get("/admin/pghistory/events/", {"pgh_obj_model": "shop.Customer"})
    page = client.get(f"/admin/pghistory/events/{update.pgh_slug}/change/")

    assert listing.status_code == page.status_code == 200
    assert _admin_cells(listing.content.decode(), "pgh_diff") == [
        '{"city": ["[redacted]", "[redacted]"], "email": ["ada@example.com", "ada@example.org"]}',
        "-",
    ]
    data = re.search(
        r'<div class="form-row field-pgh_data">.*?<div class="readonly">(.*?)</div>',
        page.content.decode(),
        re.DOTALL,
    )
    assert json.loads(unescape(data.group(1)))["city"] == "[redacted]"
    for response in (listing, page):
        assert "Secretside" not in response.content.decode()
        assert "Hideaway" not in response.content.decode()


def test_an_event_models_admin_hides_a_redacted_field(client, settings, ada):
    site = admin.AdminSite(name="redaction")
    site.register(CustomerEvent, EventModelAdmin)
    urls = types.ModuleType("redaction_urls")
    urls.urlpatterns = [path("admin/", site.urls)]
    settings.ROOT_URLCONF = urls
    event = CustomerEvent.objects.filter(pgh_obj=ada["customer"]).latest("pgh_id")
    client.force_login(ada["root"])

    response = client.get(f"/admin/shop/customerevent/{event.pk}/change/")

    html = response.content.decode()
    city = re.search(
        r'<div class="form-row field-city">.*?<label>(.*?)</label>.*?'
        r'<div class="readonly">(.*?)</div>',
        html,
        re.DOTALL,
    )
    assert response.status_code == 200
    assert (city.group(1), city.group(2)) == ("City:", "[redacted]")
    assert "Hideaway" not in html and "ada@example.org" in html
