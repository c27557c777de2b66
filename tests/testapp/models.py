"""Models that cover what users track: every common field type, custom keys and columns,
relations, multi-table inheritance, proxies, constraints, automatic and generated values."""

import uuid

from django.contrib.auth.models import User
from django.db import models
from django.db.models.functions import Lower

import pghistory

ALL_TRACKERS = (pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())


class FieldTypes(models.Model):
    """One field of each common type."""

    class Size(models.TextChoices):
        SMALL = "s", "Small"
        LARGE = "l", "Large"

    int_field = models.IntegerField(null=True)
    big_int_field = models.BigIntegerField(null=True)
    decimal_field = models.DecimalField(max_digits=12, decimal_places=2, null=True)
    float_field = models.FloatField(null=True)
    bool_field = models.BooleanField(default=False)
    char_field = models.CharField(max_length=64, blank=True, choices=Size.choices)
    text_field = models.TextField(blank=True)
    date_field = models.DateField(null=True)
    datetime_field = models.DateTimeField(null=True)
    time_field = models.TimeField(null=True)
    duration_field = models.DurationField(null=True)
    uuid_field = models.UUIDField(null=True)
    json_field = models.JSONField(null=True)
    binary_field = models.BinaryField(null=True)
    file_field = models.FileField(blank=True)

    class Meta:
        abstract = True


@pghistory.track(*ALL_TRACKERS)
class RowModel(FieldTypes):
    """Every field type, tracked by row-level triggers."""


@pghistory.track(*ALL_TRACKERS, level=pghistory.Statement)
class StatementModel(FieldTypes):
    """Every field type, tracked by statement-level triggers."""


@pghistory.track(*ALL_TRACKERS)
class CustomKey(models.Model):
    """A UUID primary key and a custom column name."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    int_field = models.IntegerField(db_column="integer_column")


class Author(models.Model):
    name = models.CharField(max_length=64)

    def __str__(self):
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=32)


@pghistory.track(*ALL_TRACKERS)
class Book(models.Model):
    """A foreign key, a one-to-one and a many-to-many."""

    title = models.CharField(max_length=128)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    cover = models.OneToOneField(
        "Cover", null=True, on_delete=models.SET_NULL, related_name="book"
    )
    tags = models.ManyToManyField(Tag, related_name="books")


class Cover(models.Model):
    color = models.CharField(max_length=16)


@pghistory.track(
    pghistory.InsertEvent("tag.add"), pghistory.DeleteEvent("tag.remove"), obj_field=None
)
class BookTag(Book.tags.through):
    """The many-to-many through table, tracked through a proxy."""

    class Meta:
        proxy = True


@pghistory.track(*ALL_TRACKERS)
class Place(models.Model):
    """A multi-table inheritance parent."""

    name = models.CharField(max_length=64)
    address = models.CharField(max_length=128, blank=True)


@pghistory.track(
    *ALL_TRACKERS, obj_field=pghistory.ObjForeignKey(related_name="restaurant_events")
)
class Restaurant(Place):
    """A multi-table inheritance child whose events hold its parent's fields too."""

    serves_pizza = models.BooleanField(default=False)


@pghistory.track(
    *ALL_TRACKERS,
    level=pghistory.Statement,
    obj_field=pghistory.ObjForeignKey(related_name="bar_events"),
)
class Bar(Place):
    """A multi-table inheritance child tracked at statement level."""

    serves_beer = models.BooleanField(default=True)


@pghistory.track(
    # Own trigger names: the example project's shop app tracks auth_user too.
    pghistory.InsertEvent(trigger_name="tracked_user_insert"),
    pghistory.UpdateEvent(trigger_name="tracked_user_update"),
    exclude=["password"],
)
class TrackedUser(User):
    """A third-party model tracked through a proxy."""

    class Meta:
        proxy = True


class LoudBook(Book):
    """A proxy of a tracked model: its writes are the tracked model's events."""

    class Meta:
        proxy = True


@pghistory.track(*ALL_TRACKERS)
class Unique(models.Model):
    """Unique columns, a unique constraint and an index: none of them reach the event table."""

    code = models.CharField(max_length=16, unique=True)
    group = models.IntegerField(db_index=True)
    rank = models.IntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "rank"], name="unique_group_rank"),
            models.UniqueConstraint(Lower("code"), name="unique_lower_code"),
        ]


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(condition=pghistory.AnyChange(exclude_auto=True)),
)
class Timestamped(models.Model):
    """`auto_now` fields, ignored by the update condition."""

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    body = models.TextField()


@pghistory.track(*ALL_TRACKERS)
class Computed(models.Model):
    """A generated column and a database default."""

    price = models.DecimalField(max_digits=10, decimal_places=2)
    quantity = models.IntegerField()
    total = models.GeneratedField(
        expression=models.F("price") * models.F("quantity"),
        output_field=models.DecimalField(max_digits=20, decimal_places=2),
        db_persist=True,
    )
    status = models.CharField(max_length=16, db_default="new")


def account_trackers():
    return (
        pghistory.UpdateEvent(
            "balance_changed", condition=pghistory.AnyChange("balance"), row=pghistory.Old
        ),
        pghistory.UpdateEvent(
            "fell_below_100", condition=pghistory.Q(old__balance__gte=100, new__balance__lt=100)
        ),
        pghistory.UpdateEvent("both_changed", condition=pghistory.AllChange("balance", "owner")),
        pghistory.UpdateEvent("owner_kept", condition=pghistory.AnyDontChange("owner")),
        pghistory.UpdateEvent("owner_and_balance_kept", condition=pghistory.AllDontChange()),
        pghistory.UpdateEvent("every_update", condition=None),
        pghistory.InsertEvent("big_opening", condition=pghistory.Q(new__balance__gte=1000)),
        pghistory.DeleteEvent("closed_in_credit", condition=pghistory.Q(old__balance__gt=0)),
        pghistory.ManualEvent("audit"),
    )


class AccountFields(models.Model):
    owner = models.CharField(max_length=64)
    balance = models.IntegerField()

    class Meta:
        abstract = True


@pghistory.track(*account_trackers())
class Account(AccountFields):
    """Conditions and a manual label, at row level."""


@pghistory.track(*account_trackers(), level=pghistory.Statement)
class StatementAccount(AccountFields):
    """The same conditions at statement level."""


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), fields=["title"])
@pghistory.track(
    pghistory.UpdateEvent("body_update"),
    exclude=["title"],
    obj_field=pghistory.ObjForeignKey(related_name="body_events"),
)
class Note(models.Model):
    """Tracking some fields only."""

    title = models.CharField(max_length=64)
    body = models.TextField()
    pinned = models.BooleanField(default=False)


@pghistory.track(append_only=True)
class Ledger(models.Model):
    """Append-only events."""

    amount = models.IntegerField()


class Item(models.Model):
    name = models.CharField(max_length=64)
    price = models.IntegerField()


class ItemEvent(
    pghistory.create_event_model(
        Item,
        pghistory.InsertEvent(),
        pghistory.UpdateEvent(),
        obj_field=pghistory.ObjForeignKey(related_name="custom_events"),
    )
):
    """A custom event model built from an abstract one, with its own index and extra field."""

    note = models.TextField(null=True)

    class Meta:
        indexes = [models.Index(fields=["price"], name="item_event_price")]


@pghistory.track(
    context_field=pghistory.ContextJSONField(),
    obj_field=pghistory.ObjForeignKey(related_name="denorm_events"),
)
class DenormContext(models.Model):
    """Events that copy the context's metadata instead of pointing to a context row."""

    int_field = models.IntegerField()


@pghistory.track(*ALL_TRACKERS)
class PartitionedThing(models.Model):
    """Events in a table partitioned by month (`PartitionEventTable` in its migration)."""

    name = models.CharField(max_length=64)
    count = models.IntegerField(default=0)


class BookInsertEvent(Book.pgh_event_models["insert"]):
    """A proxy of one event model that reads the middleware's context, as 3.9 allows."""

    url = pghistory.ProxyField("pgh_context__metadata__url", models.TextField(null=True))
    user = pghistory.ProxyField(
        "pgh_context__metadata__user",
        models.ForeignKey(User, on_delete=models.DO_NOTHING, null=True, db_constraint=False),
    )

    class Meta:
        proxy = True


class DenormInsertEvent(DenormContext.pgh_event_models["insert"]):
    """The same over an event model that copies the context into its rows."""

    reason = pghistory.ProxyField("pgh_context__reason", models.TextField(null=True))

    class Meta:
        proxy = True


class ReasonEvents(pghistory.models.Events):
    """An `Events` proxy in 3.9's deprecated form: plain fields, read from the context."""

    reason = models.TextField(null=True)
    user = models.ForeignKey(
        User, on_delete=models.DO_NOTHING, null=True, db_constraint=False, related_name="+"
    )

    class Meta:
        proxy = True
