"""Every page of the history UI, standalone and inside the admin, as each kind of user: who gets
in, who is sent to log in, who is refused, and that no event of a model a user may not see
reaches the page or the export. State-changing forms refuse requests without a CSRF token."""

import re
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

import pghistory
from example_project.shop.models import Customer, Product
from pghistory.models import Events
from tests.test_ui_access import body

pytestmark = pytest.mark.django_db

SURFACES = {"standalone": "/history/", "admin": "/admin/pghistory_ui/event/"}

# Distinctive strings stored in the events of each model: the customer's are the ones a
# "viewer" may see, the product's the ones nobody but the superuser may see.
CUSTOMER_MARKERS = ["VeraVisible7F3A", "OsloVisible2B9C", "BergenVisible3D4E"]
PRODUCT_MARKERS = [
    "SecretBlend9D1E",
    "SKUHIDDEN4C2A",
    "HiddenDescription5E8F",
    "HiddenDescription6A0B",
]
MARKERS = {"customer": CUSTOMER_MARKERS, "product": PRODUCT_MARKERS}

USERS = ["anonymous", "member", "staff_without_permission", "viewer", "superuser"]
#: The models whose events each user may see.
VISIBLE = {
    "anonymous": set(),
    "member": set(),
    "staff_without_permission": set(),
    "viewer": {"customer"},
    "superuser": {"customer", "product"},
}


@pytest.fixture
def seeded(django_user_model):
    """A customer and a product, each created and then changed in one request of "actor", and
    a second request that changes only the product."""
    actor = django_user_model.objects.create_user("actor", password="pw")
    with pghistory.context(user=actor.pk, url="/shop/edit/") as shared:
        vera = Customer.objects.create(
            name=CUSTOMER_MARKERS[0], email="vera@example.com", city=CUSTOMER_MARKERS[1]
        )
        blend = Product.objects.create(
            name=PRODUCT_MARKERS[0],
            sku=PRODUCT_MARKERS[1],
            price=9,
            category="coffee",
            description=PRODUCT_MARKERS[2],
        )
        vera.city = CUSTOMER_MARKERS[2]
        vera.save()
        blend.description = PRODUCT_MARKERS[3]
        blend.save()
    with pghistory.context(user=actor.pk, url="/shop/restock/") as product_only:
        blend.stock = 7
        blend.save()
    # A job the shared request enqueued, and one of a request that wrote nothing itself:
    # both change only the product.
    with pghistory.context(task="shop.tasks.reprice", task_id="1", parent=str(shared.id)) as job:
        Product.objects.filter(pk=blend.pk).update(price=10)
    quiet = uuid.uuid4()
    with pghistory.context(task="shop.tasks.reprice", task_id="2", parent=str(quiet)):
        Product.objects.filter(pk=blend.pk).update(price=11)
    return {
        "customer": vera,
        "product": blend,
        "shared": shared.id,
        "product_only": product_only.id,
        "job": job.id,
        "quiet": quiet,
        "slugs": {
            "customer": slugs_of(Customer, vera.pk),
            "product": slugs_of(Product, blend.pk),
        },
    }


def slugs_of(model, pk) -> dict[str, str]:
    """The slug of the object's first event of each label."""
    events = Events.objects.filter(pgh_obj_model=model._meta.label, pgh_obj_id=str(pk))
    slugs = {}
    for event in events.order_by("pgh_id"):
        slugs.setdefault(event.pgh_label, event.pgh_slug)
    return slugs


def make_user(django_user_model, kind: str):
    """None for "anonymous", else a user of that kind."""
    if kind == "anonymous":
        return None
    if kind == "superuser":
        return django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    user = django_user_model.objects.create_user(kind, password="pw", is_staff=kind != "member")
    # The member may view everything, but is not staff: permissions alone let nobody in.
    codenames = {"member": ["view_customer", "view_product"], "viewer": ["view_customer"]}
    for codename in codenames.get(kind, []):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def pages(seeded) -> dict[str, tuple[str, str, str]]:
    """Every page, by name: (method, route below the surface's root, what it is about:
    "customer", "product", "all" for pages that list events of every visible model, or "none"
    for the statistics, which show no event)."""
    customer, product = seeded["customer"], seeded["product"]
    routes = {
        "browser": ("GET", "", "all"),
        "export_csv": ("GET", "export.csv", "all"),
        "export_jsonl": ("GET", "export.jsonl", "all"),
        "context_shared": ("GET", f"context/{seeded['shared']}/", "all"),
        "context_product_only": ("GET", f"context/{seeded['product_only']}/", "product"),
        "undo_shared": ("GET", f"context/{seeded['shared']}/undo/", "all"),
        "caused_shared": ("GET", f"context/{seeded['shared']}/caused/", "all"),
        "context_job": ("GET", f"context/{seeded['job']}/", "product"),
        # A request that wrote nothing: its page lists its job, and none of its events.
        "context_quiet": ("GET", f"context/{seeded['quiet']}/", "none"),
        "caused_quiet": ("GET", f"context/{seeded['quiet']}/caused/", "product"),
        "user": ("GET", "user/actor/", "all"),
        "stats": ("GET", "stats/", "none"),
    }
    for name, obj in (("customer", customer), ("product", product)):
        key = f"shop.{name}/{obj.pk}"
        slugs = seeded["slugs"][name]
        routes.update(
            {
                f"object_{name}": ("GET", f"object/{key}/", name),
                f"as_of_{name}": ("GET", f"object/{key}/as-of/?at=2999-01-01", name),
                f"table_as_of_{name}": ("GET", f"model/shop.{name}/as-of/?at=2999-01-01", name),
                f"compare_{name}": (
                    "GET",
                    f"object/{key}/compare/?event={slugs['insert']}&event={slugs['update']}",
                    name,
                ),
                f"event_{name}": ("GET", f"event/{slugs['update']}/", name),
                f"revert_{name}": ("GET", f"event/{slugs['insert']}/revert/", name),
                f"revert_post_{name}": ("POST", f"event/{slugs['insert']}/revert/", name),
            }
        )
    return routes


PAGE_NAMES = [
    "browser",
    "export_csv",
    "export_jsonl",
    "object_customer",
    "object_product",
    "as_of_customer",
    "as_of_product",
    "table_as_of_customer",
    "table_as_of_product",
    "compare_customer",
    "compare_product",
    "event_customer",
    "event_product",
    "revert_customer",
    "revert_product",
    "revert_post_customer",
    "revert_post_product",
    "context_shared",
    "context_product_only",
    "undo_shared",
    "caused_shared",
    "context_job",
    "context_quiet",
    "caused_quiet",
    "user",
    "stats",
]

# The status each staff user gets, page by page (the same on both surfaces). A model a user
# may not see is answered like an unknown one (404); a revert of a model the user may see but
# not change is refused (403).
STAFF_STATUS = {
    "staff_without_permission": {
        "browser": 200,
        "export_csv": 200,
        "export_jsonl": 200,
        "object_customer": 404,
        "object_product": 404,
        "as_of_customer": 404,
        "as_of_product": 404,
        "table_as_of_customer": 404,
        "table_as_of_product": 404,
        "compare_customer": 404,
        "compare_product": 404,
        "event_customer": 404,
        "event_product": 404,
        "revert_customer": 404,
        "revert_product": 404,
        "revert_post_customer": 404,
        "revert_post_product": 404,
        "context_shared": 404,
        "context_product_only": 404,
        "undo_shared": 404,
        "caused_shared": 404,
        "context_job": 404,
        "context_quiet": 404,
        "caused_quiet": 404,
        "user": 200,
        "stats": 403,  # superusers only
    },
    "viewer": {
        "browser": 200,
        "export_csv": 200,
        "export_jsonl": 200,
        "object_customer": 200,
        "object_product": 404,
        "as_of_customer": 200,
        "as_of_product": 404,
        "table_as_of_customer": 200,
        "table_as_of_product": 404,
        "compare_customer": 200,
        "compare_product": 404,
        "event_customer": 200,
        "event_product": 404,
        "revert_customer": 403,
        "revert_product": 404,
        "revert_post_customer": 403,
        "revert_post_product": 404,
        "context_shared": 200,
        "context_product_only": 404,
        "undo_shared": 200,
        "caused_shared": 200,
        "context_job": 404,
        "context_quiet": 404,
        "caused_quiet": 404,
        "user": 200,
        "stats": 403,
    },
    "superuser": {
        **dict.fromkeys(PAGE_NAMES, 200),
        "revert_post_customer": 303,
        "revert_post_product": 303,
    },
}


def login_redirect(response) -> tuple:
    """(status, the page it redirects to, its `next` parameters) of a redirect to log in."""
    location = urlsplit(response["Location"])
    return response.status_code, location.path, parse_qs(location.query)["next"]


def request(client, method: str, url: str):
    return client.post(url) if method == "POST" else client.get(url)


def row(model, pk) -> dict | None:
    return model._base_manager.filter(pk=pk).values().first()


@pytest.mark.parametrize("user_kind", USERS)
@pytest.mark.parametrize("page", PAGE_NAMES)
@pytest.mark.parametrize("surface", SURFACES)
def test_every_page_as_every_kind_of_user(
    client, django_user_model, seeded, surface, page, user_kind
):
    user = make_user(django_user_model, user_kind)
    if user is not None:
        client.force_login(user)
    method, route, about = pages(seeded)[page]
    url = SURFACES[surface] + route
    objects = {"customer": seeded["customer"], "product": seeded["product"]}
    rows_before = {name: row(type(obj), obj.pk) for name, obj in objects.items()}
    events_before = Events.objects.count()

    response = request(client, method, url)
    content = body(response)

    if user_kind == "anonymous" or (user_kind == "member" and surface == "admin"):
        login = "/accounts/login/" if surface == "standalone" else "/admin/login/"
        assert login_redirect(response) == (302, login, [url])
    elif user_kind == "member":
        assert response.status_code == 403
    else:
        assert response.status_code == STAFF_STATUS[user_kind][page]

    visible = VISIBLE[user_kind]
    for model, markers in MARKERS.items():
        if model not in visible:
            assert [marker for marker in markers if marker in content] == []
    if response.status_code == 200:
        shown = visible if about == "all" else {about} & visible
        for model in shown:
            assert MARKERS[model][0] in content

    written = response.status_code == 303
    assert Events.objects.count() == events_before + written
    if written:
        assert (
            response["Location"] == f"{SURFACES[surface]}object/shop.{about}/{objects[about].pk}/"
        )
        assert row(type(objects[about]), objects[about].pk) != rows_before[about]
    else:
        assert {name: row(type(obj), obj.pk) for name, obj in objects.items()} == rows_before


def test_exports_hold_exactly_the_visible_models_events(client, django_user_model, seeded):
    client.force_login(make_user(django_user_model, "viewer"))

    csv_lines = body(client.get("/history/export.csv")).splitlines()
    jsonl_lines = body(client.get("/admin/pghistory_ui/event/export.jsonl")).splitlines()

    # The header, then the customer's insert and update: nothing of the product.
    assert len(csv_lines) == 3
    assert [line.split(",")[3] for line in csv_lines[1:]] == ["shop.Customer", "shop.Customer"]
    assert len(jsonl_lines) == 2
    assert all('"model": "shop.Customer"' in line for line in jsonl_lines)


# -- The admin's own pages: the History button and pghistory.admin's events list ---------------


HISTORY_TAB_STATUS = {
    # Staff who may not view the model get Django's own answer: 403.
    "staff_without_permission": {"customer": 403, "product": 403},
    "viewer": {"customer": 200, "product": 403},
    "superuser": {"customer": 200, "product": 200},
}


@pytest.mark.parametrize("user_kind", USERS)
@pytest.mark.parametrize("model", ["customer", "product"])
def test_the_admin_history_button(client, django_user_model, settings, seeded, model, user_kind):
    settings.PGHISTORY_ADMIN_HISTORY_TAB = True
    user = make_user(django_user_model, user_kind)
    if user is not None:
        client.force_login(user)
    pk = seeded[model].pk
    url = f"/admin/shop/{model}/{pk}/change/"

    response = client.get(url)

    if user_kind in ("anonymous", "member"):
        assert login_redirect(response) == (302, "/admin/login/", [url])
    else:
        assert response.status_code == HISTORY_TAB_STATUS[user_kind][model]
    if response.status_code == 200:
        history_links = re.findall(r'<a href="([^"]*)" class="historylink"', body(response))
        assert history_links == [f"/admin/pghistory_ui/event/object/shop.{model}/{pk}/"]
    for hidden in set(MARKERS) - VISIBLE[user_kind]:
        assert [marker for marker in MARKERS[hidden] if marker in body(response)] == []


EVENTS_ADMIN_STATUS = {"staff_without_permission": 403, "viewer": 403, "superuser": 200}


@pytest.mark.parametrize("user_kind", USERS)
def test_the_pghistory_events_admin(client, django_user_model, seeded, user_kind):
    """`pghistory.admin`'s list of every event needs the Events model's own view permission,
    which the viewer (who may view customers) does not have."""
    user = make_user(django_user_model, user_kind)
    if user is not None:
        client.force_login(user)
    url = "/admin/pghistory/events/"

    response = client.get(url)
    content = body(response)

    if user_kind in ("anonymous", "member"):
        assert login_redirect(response) == (302, "/admin/login/", [url])
        assert content == ""
    else:
        assert response.status_code == EVENTS_ADMIN_STATUS[user_kind]
    if user_kind == "superuser":
        # The list shows each event's diff: the city and the description changes.
        for marker in (*CUSTOMER_MARKERS[1:], *PRODUCT_MARKERS[2:]):
            assert marker in content
    else:
        assert [m for m in CUSTOMER_MARKERS + PRODUCT_MARKERS if m in content] == []


# -- Reverting needs "change", restoring needs "add" -------------------------------------------


@pytest.mark.parametrize("surface", SURFACES)
def test_revert_needs_change_and_restore_needs_add(client, django_user_model, seeded, surface):
    kept = seeded["customer"]
    gone = Customer.objects.create(name="Gone Gus", email="gus@example.com")
    gone_pk = gone.pk
    gone_slug = slugs_of(Customer, gone_pk)["insert"]
    gone.delete()
    revert_url = f"{SURFACES[surface]}event/{seeded['slugs']['customer']['insert']}/revert/"
    restore_url = f"{SURFACES[surface]}event/{gone_slug}/revert/"
    editor = make_user(django_user_model, "viewer")
    editor.user_permissions.add(Permission.objects.get(codename="change_customer"))
    client.force_login(editor)
    # Signing in writes events of the user (a tracked model too): count the customers' only.
    customer_events = Events.objects.filter(pgh_obj_model="shop.Customer")
    events = customer_events.count()

    restore_refused = client.post(restore_url)

    assert restore_refused.status_code == 403
    assert "restoring a deleted customer needs the permission to add customers" in body(
        restore_refused
    )
    assert row(Customer, gone_pk) is None
    assert customer_events.count() == events

    reverted = client.post(revert_url)

    assert reverted.status_code == 303
    assert Customer.objects.get(pk=kept.pk).city == CUSTOMER_MARKERS[1]
    assert customer_events.count() == events + 1

    adder = django_user_model.objects.create_user("adder", password="pw", is_staff=True)
    adder.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_customer", "add_customer"])
    )
    client.force_login(adder)

    revert_refused = client.post(revert_url)
    restored = client.post(restore_url)

    assert revert_refused.status_code == 403
    assert "reverting needs the permission to change customers" in body(revert_refused)
    assert restored.status_code == 303
    assert Customer.objects.get(pk=gone_pk).name == "Gone Gus"
    assert customer_events.count() == events + 2


# -- Every other page is read-only -------------------------------------------------------------


@pytest.mark.parametrize("surface", SURFACES)
def test_pages_that_only_show_refuse_posts(client, django_user_model, seeded, surface):
    client.force_login(make_user(django_user_model, "superuser"))
    events = Events.objects.count()
    statuses = {}

    for name, (method, route, _) in pages(seeded).items():
        if method == "GET" and not name.startswith(("revert_", "undo_")):
            statuses[name] = client.post(SURFACES[surface] + route).status_code

    assert set(statuses.values()) == {405}
    assert len(statuses) == 21
    assert Events.objects.count() == events


# -- CSRF ------------------------------------------------------------------------------------


def form_fields(html: str) -> dict[str, str]:
    """The hidden inputs of the revert form."""
    form = re.search(r'<form method="post" class="pgh-revert-form">(.*?)</form>', html, re.S)
    assert form is not None
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form[1]))


@pytest.mark.parametrize("action", ["revert", "restore"])
@pytest.mark.parametrize("surface", SURFACES)
def test_state_changing_forms_need_the_csrf_token(django_user_model, seeded, surface, action):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user(django_user_model, "superuser"))
    pk = seeded["customer"].pk
    if action == "restore":
        seeded["customer"].delete()
    url = f"{SURFACES[surface]}event/{seeded['slugs']['customer']['insert']}/revert/"
    before = row(Customer, pk)
    events = Events.objects.count()

    fields = form_fields(body(client.get(url)))
    without_token = client.post(url, {"state": fields["state"]})
    wrong_token = client.post(url, {**fields, "csrfmiddlewaretoken": "x" * 64})

    assert sorted(fields) == ["csrfmiddlewaretoken", "state"]
    assert (without_token.status_code, wrong_token.status_code) == (403, 403)
    assert "CSRF verification failed" in body(without_token)
    assert row(Customer, pk) == before
    assert Events.objects.count() == events

    # The same form with its token goes through.
    with_token = client.post(url, fields)

    assert with_token.status_code == 303
    assert row(Customer, pk)["city"] == CUSTOMER_MARKERS[1]
    assert Events.objects.count() == events + 1
