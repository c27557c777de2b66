"""The context table, the base of every event model, and the SQL that attaches context."""

from __future__ import annotations

import dataclasses
import uuid

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.models import F
from django.db.models.fields.json import KeyTextTransform, KeyTransform

from pghistory import retired, utils
from pghistory.aggregation import EventQuery, EventsQuery, resolve_event_model
from pghistory.core import PghEventModel, ProxyField  # noqa: F401 (3.9 imports them from here)

# Stores (or reuses) the context row of the transaction's active context and returns its id.
# The context reaches Postgres as transaction-local settings. The last id and metadata
# written are remembered in a third transaction-local setting, so a statement that writes N
# rows touches the context table once, and no row pays for an exception block.
_ATTACH_CONTEXT_SQL = """
CREATE OR REPLACE FUNCTION _pgh_attach_context() RETURNS UUID AS $$
DECLARE
    context_id UUID := NULLIF(current_setting('pghistory.context_id', TRUE), '');
    metadata TEXT;
    attached TEXT;
BEGIN
    IF context_id IS NULL THEN
        RETURN NULL;
    END IF;
    metadata := COALESCE(NULLIF(current_setting('pghistory.context_metadata', TRUE), ''), '{}');
    attached := context_id::TEXT || metadata;
    IF current_setting('pghistory.context_attached', TRUE) IS DISTINCT FROM attached THEN
        INSERT INTO pghistory_context (id, metadata, created_at, updated_at)
            VALUES (context_id, metadata::JSONB, NOW(), NOW())
        ON CONFLICT (id) DO UPDATE
            SET metadata = EXCLUDED.metadata, updated_at = EXCLUDED.updated_at
            WHERE pghistory_context.metadata IS DISTINCT FROM EXCLUDED.metadata;
        PERFORM set_config('pghistory.context_attached', attached, TRUE);
    END IF;
    RETURN context_id;
END;
$$ LANGUAGE plpgsql;
"""


#: The JSON field of the context and of `Events` (3.9's name for `pghistory.utils.JSONField`).
PGHistoryJSONField = utils.JSONField


class Context(models.Model):
    """Metadata shared by the events written under one `pghistory.context`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    metadata = PGHistoryJSONField(default=dict)

    class Meta:
        indexes = [
            # One user's contexts in time order (the user page's activity chart), and the
            # statistics that tell the planner how common one user's contexts are (a filter
            # by user then reads a page of events through the time index, not in parallel).
            models.Index(
                KeyTransform("user", "metadata"), F("created_at"), name="pgh_context_user_time"
            ),
            # The jobs a context started, newest first (its page), and each generation of
            # everything it caused: contexts by their `parent` key, as text.
            models.Index(
                KeyTextTransform("parent", "metadata"),
                F("created_at"),
                F("id"),
                name="pgh_context_parent_time",
            ),
        ]

    def __str__(self) -> str:
        return str(self.id)

    @classmethod
    def install_pgh_attach_context_func(cls, using: str = DEFAULT_DB_ALIAS) -> None:
        """Create or replace the `_pgh_attach_context()` SQL function in a database."""
        with connections[using].cursor() as cursor:
            cursor.execute(_ATTACH_CONTEXT_SQL)


class EventQuerySet(models.QuerySet):
    """The queryset of event models: a proxy of one may read `ProxyField`s, such as
    `ProxyField("pgh_context__metadata__url", models.TextField())`, like stored fields."""

    def __init__(self, model=None, query=None, using=None, hints=None):
        super().__init__(model, query or EventQuery(model), using, hints)


class Event(models.Model):
    """The abstract base of every event model.

    Generated event models copy the tracked fields and add `pgh_obj` and `pgh_context`.
    """

    pgh_id = models.AutoField(primary_key=True)
    pgh_created_at = models.DateTimeField(auto_now_add=True)
    pgh_label = models.TextField(help_text="The event label.")

    #: The trackers that write this model's events, and the model they track.
    pgh_trackers = None
    pgh_tracked_model = None

    objects = EventQuerySet.as_manager()

    class Meta:
        abstract = True

    @classmethod
    def pgh_tracked_fields(cls) -> list[models.Field]:
        """The tracked model's concrete fields that this event model stores."""
        own = {field.name for field in cls._meta.concrete_fields}
        return [
            field
            for field in cls.pgh_tracked_model._meta.concrete_fields
            if field.name in own and not field.name.startswith("pgh_")
        ]

    @property
    def pgh_retired(self) -> dict:
        """What this event recorded for fields its model no longer has, or no longer has in
        that type: `{column the field had: value as stored}`, such as `{"owner_id": 7}` after
        `owner` was removed from the tracked model. Empty for an event of a table that had no
        field retired, or written after the retirement (see `pghistory.retired`)."""
        if "_pgh_retired" not in self.__dict__:
            self.__dict__["_pgh_retired"] = retired.recorded_values(self)
        return self.__dict__["_pgh_retired"]

    @property
    def can_revert(self) -> bool:
        """True when this event stores every field of the tracked model."""
        tracked = self.pgh_tracked_model._meta.concrete_fields
        return len(self.pgh_tracked_fields()) == len(tracked)

    def revert(self, using: str = DEFAULT_DB_ALIAS) -> models.Model:
        """Put the tracked row back as this event stored it, recreating it if it is gone.

        Values are written as stored: `auto_now` fields and field defaults do not rewrite them.
        """
        tracked_model = self.pgh_tracked_model
        if not self.can_revert:
            raise RuntimeError(
                f'Event model "{type(self).__name__}" cannot revert "{tracked_model.__name__}"'
                " because it doesn't track every field."
            )
        unrecorded = retired.unrecorded_columns(self)
        if unrecorded:
            raise RuntimeError(
                f"This event was written before {', '.join(unrecorded)} changed type: it holds"
                " no value of the new type to put back (its old value is in pgh_retired)."
            )
        values = {
            field.attname: getattr(self, field.attname)
            for field in self.pgh_tracked_fields()
            if not getattr(field, "generated", False)  # the database computes those
        }
        pk = values[tracked_model._meta.pk.attname]
        queryset = models.QuerySet(model=tracked_model, using=using)
        with transaction.atomic(using=using):
            existing = queryset.filter(pk=pk)
            if existing.exists():
                existing.update(**values)
            else:
                _insert_as_stored(tracked_model(**values), using)
        return queryset.get(pk=pk)


def _insert_as_stored(obj: models.Model, using: str) -> None:
    """Insert a row, and its parents' rows under multi-table inheritance, with the values it
    holds: no `pre_save` (such as `auto_now`) runs."""
    concrete_model = obj._meta.concrete_model
    for model in [*reversed(concrete_model._meta.get_parent_list()), concrete_model]:
        models.QuerySet(model=model, using=using)._insert(
            [obj], fields=model._meta.local_concrete_fields, using=using, raw=True
        )


class EventsQuerySet(models.QuerySet):
    """Narrow `Events` to event models, tracked objects or referenced objects."""

    def __init__(self, model=None, query=None, using=None, hints=None):
        super().__init__(model, query or EventsQuery(model), using, hints)

    def _with_scope(self, **changes) -> EventsQuerySet:
        clone = self._chain()
        clone.query.pgh_scope = dataclasses.replace(clone.query.pgh_scope, **changes)
        return clone

    def across(self, *models_or_labels) -> EventsQuerySet:
        """Only the events of these event models (classes or "app_label.Model" labels)."""
        chosen = tuple(dict.fromkeys(resolve_event_model(m) for m in models_or_labels))
        current = self.query.pgh_scope.event_models
        if current is not None:
            chosen = tuple(model for model in chosen if model in current)
        return self._with_scope(event_models=chosen)

    def _objects(self, kind: str, objs) -> EventsQuerySet:
        if len(objs) == 1 and isinstance(objs[0], (list, tuple, models.QuerySet)):
            objs = objs[0]  # (one list or queryset of objects, as 3.9 accepts)
        if isinstance(objs, models.QuerySet):
            concrete = {objs.model._meta.concrete_model}
            pks = tuple(objs.values_list("pk", flat=True))
        elif not objs:
            raise ValueError(f"{kind}() needs at least one object.")
        else:
            concrete = {obj._meta.concrete_model for obj in objs}
            pks = tuple(dict.fromkeys(obj.pk for obj in objs))
        if len(concrete) > 1:
            raise ValueError(f"The objects passed to {kind}() are not of the same type.")
        current = self.query.pgh_scope.objects
        if current is not None and current[0] != kind:
            raise ValueError("Cannot use both tracks() and references().")
        if current is not None and current[1] not in concrete:
            raise ValueError(f"The objects passed to {kind}() are not of the same type.")
        if current is not None:
            pks = tuple(pk for pk in pks if pk in current[2])
        return self._with_scope(objects=(kind, concrete.pop(), pks))

    def tracks(self, *objs) -> EventsQuerySet:
        """Only the events whose `pgh_obj` is one of these objects (instances of one model,
        or one list or queryset of them)."""
        return self._objects("tracks", objs)

    def references(self, *objs) -> EventsQuerySet:
        """Only the events with a foreign key (`pgh_obj` included) to one of these objects
        (instances of one model, or one list or queryset of them)."""
        return self._objects("references", objs)


class NoObjectsManager(models.Manager):
    """A manager whose queryset is always empty: `Events`' default."""

    def get_queryset(self):
        return EventsQuerySet(self.model, using=self._db).none()


class Events(models.Model):
    """Every event of every event model, as one queryable model.

    Use `Events.objects`; the default manager, `no_objects`, is always empty so that tools that
    walk every model (such as `dumpdata`) do not read the whole history.
    """

    pgh_slug = models.TextField(
        primary_key=True, help_text="The unique identifier across all event tables."
    )
    pgh_model = models.CharField(max_length=64, help_text="The event model.")
    pgh_id = models.BigIntegerField(help_text="The primary key of the event.")
    pgh_created_at = models.DateTimeField(
        auto_now_add=True, help_text="When the event was created."
    )
    pgh_label = models.TextField(help_text="The event label.")
    pgh_data = PGHistoryJSONField(help_text="The raw data of the event.")
    pgh_diff = PGHistoryJSONField(
        help_text="The diff against the previous event of the same object."
    )
    pgh_context_id = models.UUIDField(null=True, help_text="The context UUID.")
    pgh_context = PGHistoryJSONField(null=True, help_text="The context associated with the event.")
    pgh_obj_model = models.CharField(max_length=64, help_text="The object model.")
    pgh_obj_id = models.TextField(null=True, help_text="The primary key of the object.")

    no_objects = NoObjectsManager()
    objects = models.Manager.from_queryset(EventsQuerySet)()

    class Meta:
        managed = False
        default_manager_name = "no_objects"
        verbose_name_plural = "events"

    def __str__(self) -> str:
        return self.pgh_slug

    @classmethod
    def check(cls, **kwargs):
        # A proxy may declare plain fields, which are read from the context (django-pghistory
        # 3.9's deprecated form of ProxyField), so "proxy model contains model fields" is not
        # an error here.
        return [error for error in super().check(**kwargs) if error.id != "models.E017"]


class MiddlewareEvents(Events):
    """`Events` with the `user` and `url` that `HistoryMiddleware` records."""

    user = ProxyField(
        "pgh_context__user",
        models.ForeignKey(
            settings.AUTH_USER_MODEL,
            on_delete=models.DO_NOTHING,
            null=True,
            blank=True,
            db_constraint=False,
            related_name="+",
            help_text="The user associated with the event.",
        ),
    )
    url = ProxyField(
        "pgh_context__url",
        models.TextField(null=True, blank=True, help_text="The url associated with the event."),
    )

    class Meta:
        proxy = True
        verbose_name_plural = "middleware events"
