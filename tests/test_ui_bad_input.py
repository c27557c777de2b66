"""Malformed, oversized and hostile query parameters get a clear message and a 4xx (or are
ignored), never a server error, on every page of the history UI."""

import pytest

from example_project.shop.models import Product
from tests.html import column

pytestmark = pytest.mark.django_db

PAGES = ["/history/", "/admin/pghistory_ui/event/"]
EXPORTS = ["/history/export.csv", "/history/export.jsonl", "/admin/pghistory_ui/event/export.csv"]

# (parameters, the message the page shows)
REFUSED = [
    ({"since": "yesterday"}, "Enter a valid date/time."),
    ({"until": "2026-02-30"}, "Enter a valid date/time."),
    ({"until": "9999-12-31"}, "Enter a valid date/time."),
    ({"since": "99999-01-01T00:00"}, "Enter a valid date/time."),
    (
        {"model": "shop.nope"},
        "Select a valid choice. shop.nope is not one of the available choices.",
    ),
    ({"model": "'; DROP TABLE shop_product; --"}, "Select a valid choice."),
    ({"label": "<script>alert(1)</script>"}, "Select a valid choice."),
    ({"user": "ghost"}, "There is no user “ghost”."),
    ({"user": "99999999999999999999"}, "There is no user “99999999999999999999”."),
    ({"context": "not-a-uuid"}, "Enter a valid UUID."),
    ({"object": "shop.product:abc"}, "“abc” is not an id of shop.product."),
    ({"object": "shop.product:99999999999999999999"}, "is not an id of shop.product."),
    ({"object": "nope.model:1"}, "Enter an object as model:id"),
    ({"object": "shop.product"}, "Enter an object as model:id"),
    ({"field": "password"}, "Select a valid choice."),
    ({"period": "century"}, "Select a valid choice."),
    ({"url": "x" * 201}, "Ensure this value has at most 200 characters (it has 201)."),
    ({"q": "a\x00b"}, "Null characters are not allowed."),
    ({"after": "not-a-cursor"}, "This page link is not valid."),
    ({"before": "eyJmb28iOiAxfQ"}, "This page link is not valid."),  # {"foo": 1}
    ({"after": "WyJ0aW1lIiwiMjAyNi0wMS0wMSIsImEiLDFd"}, "made for another sort order"),
]


@pytest.fixture
def root_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "pw"))
    Product.objects.create(name="Sencha", sku="T-1", price=1, category="tea")
    return client


@pytest.mark.parametrize("url", PAGES)
@pytest.mark.parametrize(("params", "message"), REFUSED)
def test_bad_filters_get_a_400_with_the_reason(root_client, url, params, message):
    response = root_client.get(url, params)

    assert response.status_code == 400
    assert message in response.content.decode().replace("&quot;", '"').replace("&#x27;", "'")
    assert "Sencha" not in response.content.decode()
    assert "Traceback" not in response.content.decode()


@pytest.mark.parametrize("url", EXPORTS)
@pytest.mark.parametrize(("params", "message"), REFUSED[:18])
def test_exports_refuse_bad_filters_with_the_reason(root_client, url, params, message):
    response = root_client.get(url, params)

    assert response.status_code == 400
    assert response.content.decode().startswith("Cannot export: ")


@pytest.mark.parametrize(
    "params",
    [
        {"page": "abc"},
        {"page": "999999999999999999999"},
        {"p": "-1"},
        {"sort": "bogus"},
        {"sort": "pgh_data"},
        {"o": "1.2"},
        {"unknown": "<b>x</b>"},
    ],
)
def test_unknown_parameters_are_ignored(root_client, params):
    response = root_client.get("/history/", params)

    assert response.status_code == 200
    assert "Product Sencha (T-1)" in column(response.content, "Object")


def test_values_are_shown_as_text_never_as_markup(root_client):
    Product.objects.create(
        name="<script>alert('x')</script>", sku="<b>X</b>", price=1, category="tea"
    )

    html = root_client.get("/history/", {"q": "<b>"}).content.decode()

    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert '<a href="?q=%3Cb%3E&amp;period=hour" class="pgh-preset">' in html
