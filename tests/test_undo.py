"""Undoing everything one context changed (`pghistory_admin.undo`), from Python and with
`manage.py pghistory_undo`, on the example shop's models."""

import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError

import pghistory
from example_project.shop.models import Customer, Order, Product
from pghistory.models import Context
from pghistory_admin import undo

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

    assert len(taken) == 3
    assert Customer.objects.get(pk=imported["ann"]).city == "Ghent"
    assert not Customer.objects.filter(pk=imported["bob"]).exists()
    grinder = Product.objects.get(pk=imported["grinder"])
    assert (grinder.name, grinder.sku, grinder.stock) == ("Grinder", "G-1", 1)
    assert Product.objects.get(pk=imported["beans"]).stock == 7  # (changed since: left alone)
    # The undo is itself recorded, in a context that names the undone one and the user.
    (recorded,) = Context.objects.filter(metadata__undo_of=str(imported["context"]))
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
    assert out.getvalue().splitlines()[-1] == "Undone: 3 object(s)."
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
