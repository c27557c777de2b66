"""Tracked models as a django-pghistory 3.9.2 user writes them.

- `Product`: row level; insert, update, delete, and a second update tracker with a condition
  (`qty_changed`, only when `qty` changes).
- `LedgerEntry`: statement level (`level=pghistory.Statement`).
- `Note`: denormalized context (`ContextJSONField`), and an update condition written as a
  `pgtrigger.Q` (only a change of `body` is an update event).
- `InventoryEvents`: an `Events` proxy reading the request's user and URL from the context.
"""

import pgtrigger
from django.conf import settings
from django.db import models

import pghistory
from pghistory.models import Events


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    pghistory.UpdateEvent("qty_changed", condition=pghistory.AnyChange("qty")),
)
class Product(models.Model):
    code = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    price = models.DecimalField(max_digits=8, decimal_places=2)
    qty = models.IntegerField(default=0)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    attrs = models.JSONField(default=dict, blank=True)
    added = models.DateField(null=True, blank=True)

    def __str__(self):
        return self.name


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    level=pghistory.Statement,
)
class LedgerEntry(models.Model):
    code = models.CharField(max_length=40, unique=True)
    product = models.ForeignKey(Product, null=True, on_delete=models.SET_NULL)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    memo = models.CharField(max_length=100, blank=True)

    def __str__(self):
        return self.code


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(condition=pgtrigger.Q(old__body__df=pgtrigger.F("new__body"))),
    pghistory.DeleteEvent(),
    context_field=pghistory.ContextJSONField(),
)
class Note(models.Model):
    code = models.CharField(max_length=40, unique=True)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="notes")
    body = models.TextField()
    pinned = models.BooleanField(default=False)

    def __str__(self):
        return self.code


def user_field():
    """A user read from the context: no constraint, no reverse accessor."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
    )


class InventoryEvents(Events):
    """`user` is written with the path of an event model's context foreign key
    (`pgh_context__metadata__user`); `context_user` and `url` with the path that 3.9.2's own
    `MiddlewareEvents` uses on the aggregate, whose `pgh_context` is the metadata itself."""

    user = pghistory.ProxyField("pgh_context__metadata__user", user_field())
    context_user = pghistory.ProxyField("pgh_context__user", user_field())
    url = pghistory.ProxyField("pgh_context__url", models.TextField(null=True))

    class Meta:
        proxy = True
