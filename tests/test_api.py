"""The JSON API (`pghistory_admin.api`): what it returns, who may read it, and a property-based
run of schemathesis against its own OpenAPI document (no 5xx, every response as documented)."""

import json
from decimal import Decimal

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

import pghistory
from example_project.shop.models import Customer, Product
from tests.customising.api import TOKENS

pytestmark = pytest.mark.django_db

TOKEN = next(iter(TOKENS))
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def shop(django_user_model):
    reporting = django_user_model.objects.create_user(
        "reporting", is_staff=True, is_superuser=True
    )
    # (Before the contexts: inside the test's transaction, a context's settings last until
    # the transaction ends, as in django-pghistory 3.9.)
    Customer.objects.create(name="Ann", email="ann@example.com", city="Ghent")
    with pghistory.context(user=reporting.pk, url="/shop/products/new/"):
        beans = Product.objects.create(name="Beans", sku="B-1", price=Decimal("9.50"), stock=5)
    with pghistory.context(user=reporting.pk, url="/shop/products/1/edit/"):
        beans.stock = 3
        beans.save()
    return {"beans": beans, "reporting": reporting}


def get(client, url, **params):
    response = client.get(url, params, headers=BEARER)
    return response.status_code, json.loads(response.content)


def test_events_are_the_browsers_newest_first_with_keyset_links(client, shop):
    status, page = get(client, "/token-history/api/events/", model="shop.product")
    assert status == 200
    assert [(event["label"], event["object"]) for event in page["results"]] == [
        ("update", "Beans (B-1)"),
        ("insert", "Beans (B-1)"),
    ]
    update = page["results"][0]
    assert update["changes"] == [
        {"field": "stock", "label": "Units in stock", "old": 5, "new": 3, "redacted": False}
    ]
    assert (update["user"], update["url"]) == ("reporting", "/shop/products/1/edit/")
    assert page["next"] is None and page["previous"] is None


def test_one_event_an_object_and_a_context(client, shop):
    _, page = get(client, "/token-history/api/events/", model="shop.product")
    slug, context = page["results"][0]["slug"], page["results"][0]["context_id"]
    status, event = get(client, f"/token-history/api/events/{slug}/")
    assert status == 200
    assert event["data"]["stock"] == 3 and event["data"]["sku"] == "B-1"
    assert event["context"] == {"user": shop["reporting"].pk, "url": "/shop/products/1/edit/"}
    status, history = get(client, f"/token-history/api/objects/shop.product/{shop['beans'].pk}/")
    assert (status, history["exists"], len(history["results"])) == (200, True, 2)
    status, recorded = get(client, f"/token-history/api/contexts/{context}/")
    assert status == 200
    assert [event["slug"] for event in recorded["results"]] == [slug]
    assert recorded["metadata"]["url"] == "/shop/products/1/edit/"


def test_bad_input_is_a_400_with_a_json_error(client, shop):
    assert get(client, "/token-history/api/events/", since="garbage") == (
        400,
        {"detail": "Bad filters.", "errors": {"since": ["Enter a valid date/time."]}},
    )
    status, error = get(client, "/token-history/api/events/", after="garbage")
    assert status == 400 and error["detail"]
    assert get(client, "/token-history/api/objects/shop.nothing/1/")[0] == 404
    assert get(client, "/token-history/api/contexts/not-a-uuid/")[0] == 404


def test_only_staff_may_read_it(client, shop, django_user_model):
    assert client.get("/token-history/api/events/").status_code == 401
    assert client.get("/token-history/api/openapi.json").status_code == 401
    member = django_user_model.objects.create_user("member")
    client.force_login(member)
    assert client.get("/history/api/events/").status_code == 401
    client.force_login(shop["reporting"])
    assert client.get("/history/api/events/").status_code == 200
    assert client.get("/admin/pghistory_ui/event/api/events/").status_code == 200


def test_redacted_fields_never_appear(client, shop, settings):
    settings.PGHISTORY_ADMIN_REDACT = {"shop.Customer": ["city"]}
    _, page = get(client, "/token-history/api/events/", model="shop.customer")
    (insert,) = page["results"]
    status, event = get(client, f"/token-history/api/events/{insert['slug']}/")
    assert status == 200
    assert "Ghent" not in json.dumps(page) + json.dumps(event)
    assert event["data"]["city"] != "Ghent" and event["data"]["name"] == "Ann"


def test_the_document_describes_every_endpoint(client, shop):
    status, document = get(client, "/token-history/api/openapi.json")
    assert status == 200
    assert document["openapi"].startswith("3.")
    assert sorted(document["paths"]) == [
        "/token-history/api/contexts/{context_id}/",
        "/token-history/api/events/",
        "/token-history/api/events/{slug}/",
        "/token-history/api/objects/{model}/{pk}/",
    ]


@pytest.fixture
def api_schema(shop):
    # As Django's test client does: a request's end must not close the test's connection.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi(
            "/token-history/api/openapi.json", get_wsgi_application(), headers=BEARER
        )
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def test_the_api_keeps_to_its_document(api_schema):
    """Every operation, with parameters schemathesis generates from the document: no 5xx,
    and every response (its status, headers and body) as the document describes it."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 4
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30,
            deadline=None,
            derandomize=True,  # (the same cases every run: a failure is not luck)
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        def conforms(case):
            # Every other default check. (A filter's value can be valid for the document and
            # still name no user, or no date: a 400. And the token sent here is credentials
            # schemathesis cannot take away: test_only_staff_may_read_it checks the 401s.)
            case.call_and_validate(
                headers=BEARER, excluded_checks=[positive_data_acceptance, ignored_auth]
            )

        conforms()


def test_the_browser_links_to_the_same_events_in_the_api(client, shop):
    client.force_login(shop["reporting"])
    page = client.get("/history/", {"model": "shop.product"}).content.decode()
    assert 'href="/history/api/events/?model=shop.product">API</a>' in page
    admin = client.get("/admin/pghistory_ui/event/").content.decode()
    assert 'href="/admin/pghistory_ui/event/api/events/?">API</a>' in admin
