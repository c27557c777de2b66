"""Four tables of the same shape: six columns (int, text, decimal, bool, timestamptz and a
foreign key) plus the primary key.

`Untracked` is the baseline. `TrackedRow` and `TrackedStatement` record inserts, updates and
deletes with row-level and statement-level triggers. Only API that django-pghistory 3.9 has
too is used, so the same models are built by either library, each in its own virtualenv and
database. (The floors' copy table is made by the worker, as a copy of an event table.)
"""

from django.db import models

import pghistory


class Account(models.Model):
    """What the foreign key points to (untracked)."""

    name = models.TextField()


class Row(models.Model):
    number = models.IntegerField()
    text = models.TextField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    flag = models.BooleanField()
    moment = models.DateTimeField()
    account = models.ForeignKey(Account, on_delete=models.DO_NOTHING, related_name="+")

    class Meta:
        abstract = True


def trackers():
    return (pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())


class Untracked(Row):
    pass


@pghistory.track(*trackers())
class TrackedRow(Row):
    pass


@pghistory.track(*trackers(), level=pghistory.Statement)
class TrackedStatement(Row):
    pass
