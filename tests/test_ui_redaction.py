"""Redacted fields: every page and export says that such a field changed, never what it
held. `auth.User.password` by default (also through proxies of `auth.User`), and the fields
`PGHISTORY_ADMIN_REDACT` names."""

import csv
import io
import json

import pytest

from example_project.shop.models import Customer, StaffMember
from pghistory.models import Events
from pghistory_admin.conf import redacted_columns
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
