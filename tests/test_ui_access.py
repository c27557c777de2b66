"""Who may see history: staff only, and of each model only with permission to view it, in
the standalone pages, the admin pages and the exports alike."""

import pytest
from django.contrib.auth.models import Permission

from example_project.shop.models import Customer, Product
from tests.html import column

pytestmark = pytest.mark.django_db

PAGES = [
    "/history/",
    "/history/export.csv",
    "/history/export.jsonl",
    "/admin/pghistory_ui/event/",
    "/admin/pghistory_ui/event/export.csv",
    "/admin/pghistory_ui/event/export.jsonl",
]


@pytest.fixture
def history():
    Product.objects.create(name="Secret blend", sku="S-1", price=9, category="coffee")
    Customer.objects.create(name="Visible Vera", email="vera@example.com")


def body(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode()


def login(client, django_user_model, username, *perms, **flags):
    user = django_user_model.objects.create_user(username, password="pw", **flags)
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(user)
    return user


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_users_are_sent_to_log_in(client, history, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(("/admin/login/?next=", "/accounts/login/?next="))


@pytest.mark.parametrize("url", PAGES[:3])
def test_signed_in_users_who_are_not_staff_are_refused(client, django_user_model, history, url):
    login(client, django_user_model, "carol", "view_product", "view_customer")

    response = client.get(url)

    assert response.status_code == 403
    assert "Secret blend" not in body(response)


@pytest.mark.parametrize("url", PAGES[3:])
def test_admin_pages_send_non_staff_to_the_admin_login(client, django_user_model, history, url):
    login(client, django_user_model, "carol", "view_product", "view_customer")

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


@pytest.mark.parametrize("url", PAGES)
def test_staff_see_only_models_they_may_view(client, django_user_model, history, url):
    login(client, django_user_model, "dan", "view_customer", is_staff=True)

    response = client.get(url)

    assert response.status_code == 200
    assert "Visible Vera" in body(response)
    assert "Secret blend" not in body(response)
    assert "S-1" not in body(response)


def test_change_permission_also_lets_staff_see_a_models_events(client, django_user_model, history):
    login(client, django_user_model, "erin", "change_product", is_staff=True)

    response = client.get("/history/")

    assert column(response.content, "Object") == ["Product Secret blend (S-1)"]


def test_staff_cannot_filter_their_way_into_a_forbidden_model(client, django_user_model, history):
    login(client, django_user_model, "dan", "view_customer", is_staff=True)
    product = Product.objects.get()

    by_model = client.get("/history/", {"model": "shop.product"})
    by_object = client.get("/history/", {"object": f"shop.product:{product.pk}"})
    export = client.get("/history/export.csv", {"object": f"shop.product:{product.pk}"})

    assert by_model.status_code == by_object.status_code == export.status_code == 400
    for response in (by_model, by_object, export):
        assert "Secret blend" not in body(response)


def test_staff_without_any_permission_see_no_events_and_no_admin_entry(
    client, django_user_model, history
):
    login(client, django_user_model, "fay", is_staff=True)

    assert column(client.get("/history/").content, "Object") == []
    assert body(client.get("/history/export.csv")).splitlines() == [
        "time,user,label,model,object_id,object,changed_fields,diff,url,context_id"
    ]
    assert "/admin/pghistory_ui/event/" not in client.get("/admin/").content.decode()


def test_superusers_see_every_model(client, django_user_model, history):
    login(client, django_user_model, "root", is_staff=True, is_superuser=True)

    response = client.get("/history/", {"model": ["shop.product", "shop.customer"]})

    # One transaction, so one time: events of the same time come by event model, Z to A.
    assert column(response.content, "Object") == [
        "Product Secret blend (S-1)",
        "Customer Visible Vera <vera@example.com>",
    ]
