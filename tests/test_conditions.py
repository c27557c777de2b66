"""Tracker conditions decide which writes store an event.

`Account` (row-level) and `StatementAccount` (statement-level) carry the same trackers, one
per kind of condition, all writing to the model's one event table under their own label.
"""

import pytest
from django.db.models import F

from tests.testapp.models import (
    Account,
    Note,
    NoteEvent,
    NoteTitleEvent,
    StatementAccount,
    Timestamped,
)

both_levels = pytest.mark.parametrize(
    "account_model", [Account, StatementAccount], ids=["row-level", "statement-level"]
)


def stored(account_model, label):
    """(owner, balance) of each event stored under `label`, oldest first."""
    events = account_model.pgh_event_model.objects.filter(pgh_label=label).order_by("pgh_id")
    return list(events.values_list("owner", "balance"))


def save(account, **changes):
    for name, value in changes.items():
        setattr(account, name, value)
    account.save()


@both_levels
@pytest.mark.django_db
def test_any_change_of_a_field_stores_the_old_row_only_when_that_field_changes(account_model):
    account = account_model.objects.create(owner="ann", balance=500)

    save(account, owner="anna")
    save(account, balance=50)
    save(account)
    save(account, owner="bob", balance=60)

    assert stored(account_model, "balance_changed") == [("anna", 500), ("anna", 50)]


@both_levels
@pytest.mark.django_db
def test_q_condition_on_old_and_new_rows_stores_only_matching_updates(account_model):
    account = account_model.objects.create(owner="ann", balance=150)

    save(account, balance=120)  # still at least 100
    save(account, balance=99)  # falls below 100
    save(account, balance=50)  # was already below
    save(account, balance=100)  # back to 100, not below
    save(account, balance=0)  # falls below 100 again

    assert stored(account_model, "fell_below_100") == [("ann", 99), ("ann", 0)]


@both_levels
@pytest.mark.django_db
def test_all_change_stores_only_updates_that_change_every_listed_field(account_model):
    account = account_model.objects.create(owner="ann", balance=10)

    save(account, balance=20)
    save(account, owner="bob")
    save(account, owner="cy", balance=30)

    assert stored(account_model, "both_changed") == [("cy", 30)]


@both_levels
@pytest.mark.django_db
def test_any_dont_change_stores_updates_that_keep_the_listed_field(account_model):
    account = account_model.objects.create(owner="ann", balance=10)

    save(account, balance=20)
    save(account, owner="bob")
    save(account, owner="cy", balance=30)
    save(account)

    assert stored(account_model, "owner_kept") == [("ann", 20), ("cy", 30)]


@both_levels
@pytest.mark.django_db
def test_all_dont_change_without_fields_stores_only_updates_that_change_nothing(account_model):
    account = account_model.objects.create(owner="ann", balance=10)

    save(account, balance=20)
    save(account, owner="bob")
    save(account)

    assert stored(account_model, "owner_and_balance_kept") == [("bob", 20)]


@both_levels
@pytest.mark.django_db
def test_no_condition_stores_every_update_even_one_that_changes_nothing(account_model):
    account = account_model.objects.create(owner="ann", balance=10)

    save(account, balance=20)
    save(account)
    account_model.objects.filter(pk=account.pk).update(owner="ann")

    assert stored(account_model, "every_update") == [("ann", 20), ("ann", 20), ("ann", 20)]


@both_levels
@pytest.mark.django_db
def test_insert_condition_stores_only_matching_inserts(account_model):
    account_model.objects.create(owner="small", balance=999)
    big = account_model.objects.create(owner="big", balance=1000)
    account_model.objects.bulk_create(
        [account_model(owner="huge", balance=5000), account_model(owner="tiny", balance=1)]
    )
    save(big, balance=2000)

    assert stored(account_model, "big_opening") == [("big", 1000), ("huge", 5000)]


@both_levels
@pytest.mark.django_db
def test_delete_condition_stores_only_matching_deletes_with_the_old_row(account_model):
    for owner, balance in [("credit", 1), ("zero", 0), ("debt", -5)]:
        account_model.objects.create(owner=owner, balance=balance)

    account_model.objects.all().delete()

    assert stored(account_model, "closed_in_credit") == [("credit", 1)]


@both_levels
@pytest.mark.django_db
def test_conditions_are_checked_row_by_row_in_a_multi_row_update(account_model):
    for owner, balance in [("a", 150), ("b", 120), ("c", 50), ("d", 100)]:
        account_model.objects.create(owner=owner, balance=balance)

    account_model.objects.exclude(owner="d").update(balance=F("balance") - 60)
    account_model.objects.filter(owner="d").update(balance=F("balance"))

    assert stored(account_model, "fell_below_100") == [("a", 90), ("b", 60)]
    assert stored(account_model, "balance_changed") == [("a", 150), ("b", 120), ("c", 50)]
    assert stored(account_model, "owner_and_balance_kept") == [("d", 100)]


@both_levels
@pytest.mark.django_db
def test_each_label_stores_its_own_event_for_one_update(account_model):
    account = account_model.objects.create(owner="ann", balance=150)

    save(account, balance=50)

    events = account_model.pgh_event_model.objects.order_by("pgh_label")
    assert list(events.values_list("pgh_label", "owner", "balance")) == [
        ("balance_changed", "ann", 150),
        ("every_update", "ann", 50),
        ("fell_below_100", "ann", 50),
        ("owner_kept", "ann", 50),
    ]


@pytest.mark.django_db
def test_auto_now_fields_excluded_from_the_condition_do_not_cause_update_events():
    obj = Timestamped.objects.create(body="first")
    created = Timestamped.objects.values_list("created_at", "updated_at").get()

    obj.save()
    saved = Timestamped.objects.values_list("created_at", "updated_at").get()
    obj.body = "second"
    obj.save()

    assert saved[0] == created[0]
    assert saved[1] > created[1]
    events = obj.events.order_by("pgh_id")
    assert list(events.values_list("pgh_label", "body")) == [
        ("insert", "first"),
        ("update", "second"),
    ]


@pytest.mark.django_db
def test_an_event_model_for_some_fields_stores_only_those_fields():
    stored_fields = [field.name for field in NoteTitleEvent._meta.concrete_fields]

    assert stored_fields == [
        "pgh_id",
        "pgh_created_at",
        "pgh_label",
        "title",
        "pgh_obj",
        "pgh_context",
    ]


@pytest.mark.django_db
def test_an_event_model_for_some_fields_stores_updates_of_those_fields_only():
    note = Note.objects.create(title="draft", body="text")

    note.body = "more text"
    note.save()
    note.pinned = True
    note.save()
    note.title = "final"
    note.save()

    events = NoteTitleEvent.objects.order_by("pgh_id")
    assert list(events.values_list("pgh_label", "pgh_obj_id", "title")) == [
        ("insert", note.pk, "draft"),
        ("update", note.pk, "final"),
    ]


@pytest.mark.django_db
def test_an_event_model_excluding_a_field_ignores_changes_to_it():
    note = Note.objects.create(title="draft", body="text")

    note.title = "final"
    note.save()
    note.body = "more text"
    note.save()
    note.pinned = True
    note.save()

    events = NoteEvent.objects.order_by("pgh_id")
    assert [field.name for field in NoteEvent._meta.concrete_fields if field.name == "title"] == []
    assert list(events.values_list("pgh_label", "pgh_obj_id", "id", "body", "pinned")) == [
        ("body_update", note.pk, note.pk, "more text", False),
        ("body_update", note.pk, note.pk, "more text", True),
    ]
