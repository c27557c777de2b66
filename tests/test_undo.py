"""Undoing everything one context changed (`pghistory_admin.undo`), from Python and with
`manage.py pghistory_undo`, on the example shop's models."""

import io
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db import DatabaseError

import pghistory
from example_project.shop.models import Customer, Order, Product
from pghistory.models import Context
from pghistory_admin import undo
from tests.browser import ARTIFACTS, follow, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def imported():
    """Ann and two products exist; then one context ("the wrong import") moves Ann to Oslo,
    creates Bob, deletes the old grinder and restocks the beans; afterwards someone else
    sells two bags of beans."""
    ann = Customer.objects.create(name="Ann", email="ann@example.com", city="Ghent")
    beans = Product.objects.create(name="Beans", sku="B-1", price=Decimal("9.50"), stock=5)
    grinder = Product.objects.create(name="Grinder", sku="G-1", price=Decimal("80.00"), stock=1)
    with pghistory.context(source="import") as context:
        ann.city = "Oslo"
        ann.save()
        bob = Customer.objects.create(name="Bob", email="bob@example.com", city="Lyon")
        grinder_pk = grinder.pk
        grinder.delete()
        Product.objects.filter(pk=beans.pk).update(stock=9)
    with pghistory.context(source="till"):
        Product.objects.filter(pk=beans.pk).update(stock=7)
    return {
        "context": context.id,
        "ann": ann.pk,
        "bob": bob.pk,
        "grinder": grinder_pk,
        "beans": beans.pk,
    }


def lines(made) -> list[str]:
    from pghistory_admin.management.commands.pghistory_undo import describe

    return [describe(step) for step in made.steps]


def test_the_plan_says_what_undoing_does_to_each_object(imported):
    made = undo.plan(imported["context"])
    actions = {step.key: (step.action, step.conflict, step.blocked) for step in made.steps}
    assert actions == {
        f"shop.customer:{imported['ann']}": ("revert", False, ""),
        f"shop.customer:{imported['bob']}": ("delete", False, ""),
        f"shop.product:{imported['beans']}": ("revert", True, ""),
        f"shop.product:{imported['grinder']}": ("restore", False, ""),
    }
    ann = next(step for step in made.steps if step.key.endswith(f":{imported['ann']}"))
    assert [(diff.name, diff.old, diff.new) for diff in ann.diffs] == [("city", "Oslo", "Ghent")]
    beans = next(step for step in made.steps if step.conflict)
    assert [row.pgh_context["source"] for row in beans.later] == ["till"]


def test_undo_puts_everything_back_except_what_changed_since(imported, admin_user):
    taken = undo.apply(undo.plan(imported["context"]), user=admin_user)

    assert len(taken.steps) == 3
    assert Customer.objects.get(pk=imported["ann"]).city == "Ghent"
    assert not Customer.objects.filter(pk=imported["bob"]).exists()
    grinder = Product.objects.get(pk=imported["grinder"])
    assert (grinder.name, grinder.sku, grinder.stock) == ("Grinder", "G-1", 1)
    assert Product.objects.get(pk=imported["beans"]).stock == 7  # (changed since: left alone)
    # The undo is itself recorded, in a context that names the undone one and the user.
    (recorded,) = Context.objects.filter(metadata__undo_of=str(imported["context"]))
    assert recorded.id == taken.context_id
    assert recorded.metadata == {
        "undo_of": str(imported["context"]),
        "undone_by": admin_user.username,
        "user": admin_user.pk,
    }


def test_a_conflicting_object_is_undone_when_forced(imported):
    made = undo.plan(imported["context"])
    undo.apply(made, force=[f"shop.product:{imported['beans']}"])
    assert Product.objects.get(pk=imported["beans"]).stock == 5


def test_a_plan_is_not_applied_to_a_state_it_was_not_made_for(imported):
    made = undo.plan(imported["context"])
    Customer.objects.filter(pk=imported["ann"]).update(city="Bergen")
    with pytest.raises(undo.Stale, match="changed since the plan"):
        undo.apply(made)
    assert Customer.objects.filter(pk=imported["bob"]).exists()  # nothing written


def test_a_refusal_from_the_database_writes_nothing(imported):
    Order.objects.create(customer_id=imported["bob"], shipping_address="Lyon")
    made = undo.plan(imported["context"])
    with pytest.raises(DatabaseError):
        undo.apply(made)
    assert Customer.objects.get(pk=imported["ann"]).city == "Oslo"
    assert not Product.objects.filter(pk=imported["grinder"]).exists()


def test_steps_the_caller_may_not_take_are_left_alone(imported):
    made = undo.plan(imported["context"], allowed=lambda action, model: action != "delete")
    bob = next(step for step in made.steps if step.action == "delete")
    assert bob.blocked == "You may not delete customers."
    undo.apply(made)
    assert Customer.objects.filter(pk=imported["bob"]).exists()
    assert Customer.objects.get(pk=imported["ann"]).city == "Ghent"


def test_the_command_prints_the_plan_and_undoes(imported, admin_user):
    out = io.StringIO()
    call_command("pghistory_undo", str(imported["context"]), "--dry-run", stdout=out)
    printed = out.getvalue().splitlines()
    assert printed == [
        f"shop.Customer {imported['ann']}: put back city as before",
        f"shop.Customer {imported['bob']}: delete it (the context created it)",
        f"shop.Product {imported['beans']}: put back stock as before; changed again at"
        f" {printed[2].split('changed again at ')[1].split(' (')[0]} (update): left alone",
        f"shop.Product {imported['grinder']}: restore it as it was before (the context"
        " deleted it)",
        "Dry run: nothing changed.",
    ]
    assert Customer.objects.get(pk=imported["ann"]).city == "Oslo"

    out = io.StringIO()
    call_command(
        "pghistory_undo", str(imported["context"]), "--user", admin_user.username, stdout=out
    )
    (recorded,) = Context.objects.filter(metadata__undo_of=str(imported["context"]))
    assert out.getvalue().splitlines()[-1] == f"Undone: 3 object(s), in context {recorded.id}."
    assert Customer.objects.get(pk=imported["ann"]).city == "Ghent"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], '"nope" is not a context id.'),
        (["00000000-0000-0000-0000-000000000000"], "No events of context"),
        (["{context}", "--force", "shop.order:1"], "Not an object of this context: shop.order:1."),
        (["{context}", "--user", "nobody"], 'There is no user "nobody".'),
    ],
)
def test_the_command_refuses_bad_arguments(imported, args, message):
    args = [arg.format(context=imported["context"]) for arg in args]
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("pghistory_undo", *args, stdout=io.StringIO())


# -- the page -------------------------------------------------------------------------------


def test_the_context_page_links_to_the_undo_page(client, admin_user, imported):
    client.force_login(admin_user)
    page = client.get(f"/history/context/{imported['context']}/").content.decode()
    assert f'href="/history/context/{imported["context"]}/undo/" class="pgh-undo-link"' in page


def test_the_preview_lists_each_object_and_the_conflict(client, admin_user, imported):
    client.force_login(admin_user)
    response = client.get(f"/history/context/{imported['context']}/undo/")
    html = response.content.decode()
    assert response.status_code == 200
    steps = re.findall(r'data-object="([^"]+)"', html)
    assert steps == [
        f"shop.customer:{imported['ann']}",
        f"shop.customer:{imported['bob']}",
        f"shop.product:{imported['beans']}",
        f"shop.product:{imported['grinder']}",
    ]
    assert html.count("pgh-undo-conflict") == 1
    assert "Changed again since this request:" in html
    assert f'name="force" value="shop.product:{imported["beans"]}"' in html


def test_the_page_undoes_and_shows_the_new_context(client, admin_user, imported):
    client.force_login(admin_user)
    url = f"/history/context/{imported['context']}/undo/"
    form = preview_form(client.get(url).content.decode())
    response = client.post(url, form)
    (recorded,) = Context.objects.filter(metadata__undo_of=str(imported["context"]))
    assert response.status_code == 303
    assert response["Location"] == f"/history/context/{recorded.id}/"
    assert Customer.objects.get(pk=imported["ann"]).city == "Ghent"
    assert Product.objects.get(pk=imported["beans"]).stock == 7


def test_a_refused_undo_is_a_409_and_changes_nothing(client, admin_user, imported):
    client.force_login(admin_user)
    url = f"/history/context/{imported['context']}/undo/"
    form = preview_form(client.get(url).content.decode())
    Order.objects.create(customer_id=imported["bob"], shipping_address="Lyon")
    response = client.post(url, form)
    assert response.status_code == 409
    assert "The database refused the undo, so nothing was undone:" in response.content.decode()
    assert Customer.objects.get(pk=imported["ann"]).city == "Oslo"


def test_a_preview_made_for_another_state_is_a_409(client, admin_user, imported):
    client.force_login(admin_user)
    url = f"/history/context/{imported['context']}/undo/"
    form = preview_form(client.get(url).content.decode())
    Customer.objects.filter(pk=imported["ann"]).update(city="Bergen")
    response = client.post(url, form)
    assert response.status_code == 409
    assert "has changed again since this page was opened" in response.content.decode()
    assert Customer.objects.filter(pk=imported["bob"]).exists()


def test_each_step_needs_its_permission(client, django_user_model, imported):
    staff = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    for codename in ("view_customer", "change_customer", "view_product", "change_product"):
        staff.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(staff)
    html = client.get(f"/history/context/{imported['context']}/undo/").content.decode()
    assert "You may not delete customers." in html
    assert "You may not restore products." in html
    client.post(f"/history/context/{imported['context']}/undo/", preview_form(html))
    assert Customer.objects.get(pk=imported["ann"]).city == "Ghent"
    assert Customer.objects.filter(pk=imported["bob"]).exists()
    assert not Product.objects.filter(pk=imported["grinder"]).exists()


def test_an_unknown_context_is_a_404(client, admin_user):
    client.force_login(admin_user)
    assert (
        client.get("/history/context/00000000-0000-0000-0000-000000000000/undo/").status_code
        == 404
    )


def preview_form(html: str) -> dict:
    """The preview form's hidden states (no conflict forced)."""
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html))


# -- in a browser ---------------------------------------------------------------------------


def open_undo(page, live_server, admin_user, imported):
    admin_user.set_password("secret-pw")
    admin_user.save()
    sign_in(page, live_server, admin_user.username)
    page.goto(f"{live_server.url}/history/context/{imported['context']}/")
    follow(page, page.get_by_role("link", name="Undo this request…"))


def test_the_undo_in_a_browser(page, live_server, admin_user, imported):
    open_undo(page, live_server, admin_user, imported)
    conflict = page.locator("li.pgh-undo-conflict")
    assert conflict.get_attribute("data-object") == f"shop.product:{imported['beans']}"
    assert "Changed again since this request:" in conflict.inner_text()
    assert page.locator("li.pgh-undo-step").count() == 4
    page.screenshot(path=ARTIFACTS / "undo-preview.png", full_page=True)
    conflict.get_by_label("Undo it anyway (else it is left as it is now)").check()
    follow(page, page.get_by_role("button", name="Undo these changes"))

    (recorded,) = Context.objects.filter(metadata__undo_of=str(imported["context"]))
    assert page.url == f"{live_server.url}/history/context/{recorded.id}/"
    assert page.locator("dd[data-key=undo_of]").inner_text() == str(imported["context"])
    assert Customer.objects.get(pk=imported["ann"]).city == "Ghent"
    assert Product.objects.get(pk=imported["beans"]).stock == 5
    assert Product.objects.filter(pk=imported["grinder"]).exists()


def test_a_refused_undo_in_a_browser(page, live_server, admin_user, imported):
    open_undo(page, live_server, admin_user, imported)
    Order.objects.create(customer_id=imported["bob"], shipping_address="Lyon")
    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        page.get_by_role("button", name="Undo these changes").click()
    assert posted.value.status == 409
    assert (
        page.locator(".pgh-undo-error")
        .inner_text()
        .startswith("The database refused the undo, so nothing was undone:")
    )
    assert Customer.objects.get(pk=imported["ann"]).city == "Oslo"


def test_the_undo_inside_the_admin(client, admin_user, imported):
    client.force_login(admin_user)
    base = "/admin/pghistory_ui/event/"
    context = client.get(f"{base}context/{imported['context']}/").content.decode()
    assert f'href="{base}context/{imported["context"]}/undo/" class="pgh-undo-link"' in context
    url = f"{base}context/{imported['context']}/undo/"
    preview = client.get(url)
    assert preview.status_code == 200
    response = client.post(url, preview_form(preview.content.decode()))
    (recorded,) = Context.objects.filter(metadata__undo_of=str(imported["context"]))
    assert (response.status_code, response["Location"]) == (303, f"{base}context/{recorded.id}/")
    assert Customer.objects.get(pk=imported["ann"]).city == "Ghent"
