"""The example shop's own admin pages answer hostile query strings with 400 Bad Request, a
redirect to Django's `?e=1` page, or a normal page: never a server error.

The test client re-raises a view's exception, so a server error fails the test with its
traceback. Every changelist of the shop gets every hostile value in every parameter it reads.
"""

from decimal import Decimal

import pytest
from django.contrib import admin
from django.utils.html import escape

from example_project.shop.models import Customer, Order, OrderLine, Product, ProductTag, Tag

pytestmark = pytest.mark.django_db

CHANGELISTS = sorted(
    f"/admin/shop/{model._meta.model_name}/"
    for model in admin.site._registry
    if model._meta.app_label == "shop"
)

#: Values no form would send: numbers past a C long and past 9999, negatives, text where a
#: number goes, markup and nothing (NUL has a test of its own).
HOSTILE_VALUES = ["9999", "99999999999999999999", "-1", "abc", "<script>", ""]

#: The parameters every changelist reads (search, ordering, page, "show all", the error
#: flag) and one none knows.
COMMON_PARAMETERS = ["q", "o", "p", "all", "e", "no_such_field"]

#: Each shop changelist's own parameters: its filters', and the date hierarchy's.
FILTER_PARAMETERS = {
    "/admin/shop/customer/": ["city", "is_vip__exact"],
    "/admin/shop/order/": [
        "status__exact",
        "placed_at__gte",
        "placed_at__lt",
        "placed_at__year",
        "placed_at__month",
        "placed_at__day",
    ],
    "/admin/shop/orderline/": [],
    "/admin/shop/product/": ["category__exact", "is_active__exact", "tags__id__exact"],
    "/admin/shop/producttag/": ["tag__id__exact"],
    "/admin/shop/staffmember/": ["is_active__exact", "is_superuser__exact"],
    "/admin/shop/tag/": [],
}


@pytest.fixture
def superuser_client(shop_site, client, django_user_model):
    admin_user = django_user_model.objects.create_superuser(
        "boss", email="boss@kettleandbean.example", password="not-used"
    )
    client.force_login(admin_user)
    return client


@pytest.fixture
def shop(db):
    customer = Customer.objects.create(name="Ann Example", email="ann@example.com", city="Ghent")
    beans = Product.objects.create(
        name="Kenya Nyeri AA, 250 g", sku="COF-1", price=Decimal("12.50"), category="coffee"
    )
    ProductTag.objects.create(product=beans, tag=Tag.objects.create(name="bestseller"))
    order = Order.objects.create(customer=customer, shipping_address="Veldstraat 1, Ghent")
    OrderLine.objects.create(order=order, product=beans, quantity=1, unit_price=beans.price)
    return {"customer": customer, "order": order}


def test_every_shop_changelist_is_swept():
    assert sorted(FILTER_PARAMETERS) == CHANGELISTS


def assert_answered(client, url, response):
    """400, a normal page, or Django's redirect to `?e=1`, whose page then answers too."""
    if response.status_code == 302:
        path = url.split("?")[0]
        assert response["Location"] == f"{path}?e=1"
        assert client.get(response["Location"]).status_code == 200
    else:
        assert response.status_code in (200, 400), (url, response.status_code)


@pytest.mark.parametrize(
    "url",
    [
        "/admin/shop/customer/?city=%00",
        "/admin/shop/order/?placed_at__year=9999",
        "/admin/shop/order/?placed_at__year=99999999999999999999",
    ],
)
def test_the_crawls_server_errors_are_bad_requests(superuser_client, shop, url):
    assert superuser_client.get(url).status_code == 400


@pytest.mark.parametrize("changelist", CHANGELISTS)
def test_a_nul_character_in_any_parameter_or_name_is_a_bad_request(
    superuser_client, shop, changelist
):
    for parameter in [*COMMON_PARAMETERS, *FILTER_PARAMETERS[changelist]]:
        response = superuser_client.get(changelist, {parameter: "1\x00"})
        assert response.status_code == 400, (changelist, parameter)
    assert superuser_client.get(changelist + "?%00=1").status_code == 400


@pytest.mark.parametrize("changelist", CHANGELISTS)
def test_every_hostile_value_in_every_parameter_is_answered(superuser_client, shop, changelist):
    for parameter in [*COMMON_PARAMETERS, *FILTER_PARAMETERS[changelist]]:
        for value in HOSTILE_VALUES:
            url = f"{changelist}?{parameter}={value}"
            assert_answered(
                superuser_client, url, superuser_client.get(changelist, {parameter: value})
            )


@pytest.mark.parametrize(
    "query, status",
    [
        ("placed_at__year=9998", 200),
        ("placed_at__year=9999&placed_at__month=12", 400),
        ("placed_at__year=9999&placed_at__month=12&placed_at__day=31", 400),
        ("placed_at__year=2024&placed_at__month=99999999999999999999", 400),
        ("placed_at__year=2024&placed_at__month=2&placed_at__day=99999999999999999999", 400),
        ("placed_at__year=2024&placed_at__month=13", 302),
        ("placed_at__year=2024&placed_at__month=2&placed_at__day=30", 302),
        ("placed_at__year=abc", 302),
        ("placed_at__month=5", 200),
        ("placed_at__gte=9999-12-31&placed_at__lt=0001-01-01", 200),
        ("o=abc", 200),
        ("o=99999999999999999999.-3", 200),
        ("p=999999999", 200),
        ("p=99999999999999999999", 200),
    ],
)
def test_the_date_hierarchy_and_the_pager_answer_bad_values(superuser_client, shop, query, status):
    response = superuser_client.get(f"/admin/shop/order/?{query}")

    assert response.status_code == status
    assert_answered(superuser_client, f"/admin/shop/order/?{query}", response)


def test_a_good_date_hierarchy_still_lists_the_orders_of_the_day(superuser_client, shop):
    placed = shop["order"].placed_at
    query = f"placed_at__year={placed.year}&placed_at__month={placed.month}&placed_at__day={placed.day}"

    response = superuser_client.get(f"/admin/shop/order/?{query}")

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [shop["order"]]


@pytest.mark.parametrize(
    "query", ["term=%00", "term=a%00b", "term=" + "9" * 30, "term=%3Cscript%3E"]
)
@pytest.mark.parametrize(
    "source",
    [
        "app_label=shop&model_name=order&field_name=customer",
        "app_label=shop&model_name=orderline&field_name=product",
        "app_label=shop&model_name=producttag&field_name=tag",
    ],
)
def test_autocomplete_searches_answer_hostile_terms(superuser_client, shop, source, query):
    response = superuser_client.get(f"/admin/autocomplete/?{source}&{query}")

    assert response.status_code == (400 if "%00" in query else 200)


@pytest.mark.parametrize(
    "url, status",
    [
        ("/admin/shop/order/add/?customer=%00", 400),
        ("/admin/shop/order/add/?customer=abc", 400),
        ("/admin/shop/order/add/?customer=99999999999999999999", 200),
        ("/admin/shop/order/add/?placed_at=abc", 400),
        ("/admin/shop/order/add/?placed_at=99999-01-01", 400),
        ("/admin/shop/order/add/?note=%00", 400),
        ("/admin/shop/producttag/add/?tag=abc", 400),
        ("/admin/shop/product/add/?tags=1,abc", 400),
        ("/admin/shop/customer/add/?is_vip=maybe", 200),
    ],
)
def test_add_pages_answer_hostile_initial_values(superuser_client, shop, url, status):
    assert superuser_client.get(url).status_code == status


def test_add_pages_take_good_initial_values_from_the_query_string(superuser_client, shop):
    customer = shop["customer"]

    response = superuser_client.get(
        f"/admin/shop/order/add/?customer={customer.pk}&placed_at=2025-03-04+10:30&note=Gift"
    )

    assert response.status_code == 200
    initial = response.context["adminform"].form.initial
    assert initial["customer"] == customer.pk
    assert (initial["placed_at"].date().isoformat(), initial["note"]) == ("2025-03-04", "Gift")
    assert f'<option value="{customer.pk}" selected>{escape(customer)}</option>' in response.text
