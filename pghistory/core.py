"""Trackers, and the event models they write: `track`, `create_event_model`, `create_event`."""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterable
from typing import Any

import pgtrigger
from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, models
from django.db.models.expressions import RawSQL
from django.db.models.signals import class_prepared
from pgtrigger.core import _Change

from pghistory import config
from pghistory.config import RelatedField  # noqa: F401 (3.9 code imports it from here)
from pghistory.constants import DEFAULT, UNSET, New, Old
from pghistory.trigger import Event as EventTrigger
from pghistory.trigger import context_expressions

# (tracked model, label) -> the event model that stores that label's events.
_registered_trackers: dict[tuple[type[models.Model], str], type[models.Model]] = {}


class Tracker:
    """Tracks events of a model. Subclasses write them, usually by registering triggers in
    `setup`."""

    label: str | None = None

    def __init__(self, label: str | None = None):
        self.label = label or self.label
        if not self.label:
            raise ValueError(f"{type(self).__name__} needs a label.")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"

    def setup(self, event_model: type[models.Model]) -> None:
        """Set up tracking for `event_model` once it is created. Does nothing by default."""

    def pghistory_setup(self, event_model: type[models.Model]) -> None:
        """Register the label for the tracked model, then run `setup`."""
        tracked_model = event_model.pgh_tracked_model
        key = (tracked_model, self.label)
        if key in _registered_trackers:
            raise ValueError(
                f'Tracker with label "{self.label}" already exists for model'
                f' "{tracked_model._meta.label}". Supply a different label as the first'
                " argument to the tracker."
            )
        _registered_trackers[key] = event_model
        event_models = dict(vars(tracked_model).get("pgh_event_models", {}))
        event_models[self.label] = event_model
        tracked_model.pgh_event_models = event_models
        tracked_model.pgh_event_model = PghEventModel()
        self.setup(event_model)


class ManualEvent(Tracker):
    """A label whose events only `pghistory.create_event` writes."""


class RowEvent(Tracker):
    """Stores a row (`pghistory.New` or `pghistory.Old`) on an insert, update or delete."""

    condition: pgtrigger.Condition | None = None
    operation: pgtrigger.Operation | None = None
    row: str | None = None
    trigger_name: str | None = None
    level: pgtrigger.Level | None = None

    def __init__(
        self,
        label: str | None = None,
        *,
        condition: pgtrigger.Condition | None = UNSET,
        operation: pgtrigger.Operation | None = None,
        row: str | None = None,
        trigger_name: str | None = None,
        level: pgtrigger.Level | None = None,
    ):
        super().__init__(label)
        if condition is not UNSET:
            self.condition = condition
        self.operation = operation or self.operation
        self.row = row or self.row
        self.trigger_name = trigger_name or self.trigger_name
        self.level = level or self.level
        if not self.operation:
            raise ValueError(f"{type(self).__name__} needs an operation.")
        if self.row not in (New, Old):
            raise ValueError(f"{type(self).__name__} needs row=pghistory.New or pghistory.Old.")

    def setup(self, event_model: type[models.Model]) -> None:
        tracked_model = event_model.pgh_tracked_model
        trigger = EventTrigger(
            event_model=event_model,
            label=self.label,
            row=self.row,
            name=self.trigger_name,
            operation=self.operation,
            condition=_with_tracked_fields(self.condition, event_model),
            level=self.level,
        )
        pgtrigger.register(trigger)(tracked_model)


class InsertEvent(RowEvent):
    """Stores the new row after each insert (label `insert`)."""

    label = "insert"
    operation = pgtrigger.Insert
    row = New


class UpdateEvent(RowEvent):
    """Stores the row after each update that changes a tracked field (label `update`).

    `row=pghistory.Old` stores the row as it was before; `condition=None` stores every update.
    """

    label = "update"
    operation = pgtrigger.Update
    row = New
    condition = pgtrigger.AnyChange()


class DeleteEvent(RowEvent):
    """Stores the deleted row after each delete (label `delete`)."""

    label = "delete"
    operation = pgtrigger.Delete
    row = Old


def _with_tracked_fields(
    condition: pgtrigger.Condition | None, event_model: type[models.Model]
) -> pgtrigger.Condition | None:
    """A change condition without fields watches the tracked fields that live in the tracked
    table itself (under multi-table inheritance, a parent's columns are not in the row)."""
    if not isinstance(condition, _Change) or condition.fields:
        return condition
    tracked_model = event_model.pgh_tracked_model
    local = {
        field.name for field in tracked_model._meta.concrete_model._meta.local_concrete_fields
    }
    condition = copy.copy(condition)
    condition.fields = [
        field.name for field in event_model.pgh_tracked_fields() if field.name in local
    ]
    return condition


class PghEventModel:
    """`Model.pgh_event_model`: the one event model of a tracked model."""

    def __get__(self, instance: models.Model | None, owner: type[models.Model]):
        event_models = set(owner.pgh_event_models.values())
        if len(event_models) > 1:
            raise ValueError(
                f'"{owner._meta.label}" has more than one event model. Use the'
                ' "pgh_event_models" attribute to get an event model by label.'
            )
        return event_models.pop()


def ProxyField(proxy: str, field: models.Field) -> models.Field:  # noqa: N802 (public API name)
    """A field read through a relation or JSON path, such as
    `ProxyField("pgh_context__user", models.ForeignKey(...))` on an `Events` proxy."""
    if not isinstance(field, models.Field):
        raise TypeError(f"ProxyField needs a Django field, not {field!r}.")
    field.pgh_proxy = proxy
    contribute_to_class = field.contribute_to_class

    def contribute_as_private(cls, name, private_only=False):
        # Private fields may live on proxy models and stay out of migrations; the aggregate
        # query computes their column.
        contribute_to_class(cls, name, private_only=True)

    field.contribute_to_class = contribute_as_private
    return field


def _default_model_name(tracked_model: type[models.Model], fields: list[str] | None) -> str:
    camel_fields = "".join(
        part.title() for field in fields or [] for part in field.split("_") if part
    )
    return f"{tracked_model.__name__}{camel_fields}Event"


def _given_kwargs(field_config: config.Field) -> dict[str, Any]:
    return {
        key: value for key, value in field_config.resolved_kwargs().items() if value is not DEFAULT
    }


def _field_config(field: models.Field) -> config.Field:
    if isinstance(field, models.ForeignKey):
        return config.foreign_key_field()
    if field.is_relation:
        return config.related_field()
    return config.field()


_AUTO_FIELD_COPIES = {
    models.BigAutoField: models.BigIntegerField,
    models.SmallAutoField: models.SmallIntegerField,
    models.AutoField: models.IntegerField,
}


def _copy_field(field: models.Field) -> models.Field:
    """A copy of a tracked field for an event model: no primary key, uniqueness or cascade."""
    if getattr(field, "generated", False):
        # The event stores the computed value in a plain column of the output type.
        _, _, args, kwargs = field.output_field.deconstruct()
        field_class = type(field.output_field)
        kwargs.update(null=True, verbose_name=field.verbose_name)
    else:
        # Deconstructing a relation asks the app registry about swappable models, which is
        # not ready while models are being imported; the copy resolves that itself later.
        unswapped = copy.copy(field)
        unswapped.swappable = False
        _, _, args, kwargs = unswapped.deconstruct()
        field_class = type(field)
    for auto_class, copy_class in _AUTO_FIELD_COPIES.items():
        if isinstance(field, auto_class):
            field_class = copy_class
            kwargs.pop("serialize", None)
            if field.auto_created:
                kwargs.pop("verbose_name", None)
            break
    if isinstance(field, models.OneToOneField):
        field_class = models.ForeignKey
        kwargs.pop("parent_link", None)
        kwargs.pop("serialize", None)
    kwargs.pop("auto_created", None)

    for key, value in _field_config(field).resolved_kwargs().items():
        if value is not DEFAULT:
            kwargs[key] = value
    for excluded_class, names in config.exclude_field_kwargs().items():
        if issubclass(field_class, excluded_class):
            for name in names:
                kwargs.pop(name, None)
    return field_class(*args, **kwargs)


def _tracked_fields(
    tracked_model: type[models.Model], fields: Iterable[str] | None, exclude: Iterable[str] | None
) -> list[models.Field]:
    if fields is not None and exclude is not None:
        raise ValueError("Cannot provide both fields and exclude.")
    concrete = tracked_model._meta.concrete_fields
    if fields is not None:
        names = {tracked_model._meta.get_field(name).name for name in fields}
        return [field for field in concrete if field.name in names]
    excluded = {tracked_model._meta.get_field(name).name for name in exclude or []}
    return [field for field in concrete if field.name not in excluded]


def _pgh_fields(
    tracked_model: type[models.Model], obj_field: Any, context_field: Any, context_id_field: Any
) -> dict[str, models.Field]:
    from pghistory.models import PGHistoryJSONField

    obj_field = config.obj_field() if obj_field is UNSET else obj_field
    context_field = config.context_field() if context_field is UNSET else context_field
    context_id_field = config.context_id_field() if context_id_field is UNSET else context_id_field

    pgh_fields: dict[str, models.Field] = {}
    if obj_field is not None:
        pgh_fields["pgh_obj"] = models.ForeignKey(
            tracked_model, **{"related_name": "events", **_given_kwargs(obj_field)}
        )
    if isinstance(context_field, config.ContextForeignKey):
        pgh_fields["pgh_context"] = models.ForeignKey(
            "pghistory.Context", **_given_kwargs(context_field)
        )
    elif isinstance(context_field, config.ContextJSONField):
        pgh_fields["pgh_context"] = PGHistoryJSONField(**_given_kwargs(context_field))
        if context_id_field is not None:
            pgh_fields["pgh_context_id"] = models.UUIDField(**_given_kwargs(context_id_field))
    elif context_field is not None:
        raise TypeError(
            "context_field must be a pghistory.ContextForeignKey, a pghistory.ContextJSONField"
            f" or None, not {context_field!r}."
        )
    return pgh_fields


class _CoveringIndex(models.Index):
    """An index with INCLUDE columns that Django names as it names any unnamed index, once
    the model (and so its table) exists. (Django asks for a covering index's name up front;
    an abstract event model's subclasses each need their own.) Once named, its copies are
    plain `Index`es, so migrations and their comparisons do not depend on this class."""

    def __init__(self, *, fields: list[str], include: list[str], name: str = "") -> None:
        super().__init__(fields=fields, name=name)
        self.include = tuple(include)

    def clone(self) -> models.Index:
        _, args, kwargs = self.deconstruct()
        return (models.Index if self.name else _CoveringIndex)(*args, **kwargs)


def _history_indexes(pgh_fields: dict[str, models.Field]) -> list[models.Index]:
    """The indexes history is read by: newest first, and one object's events in order (also
    how each event finds the one before it for its diff). The object index carries each
    event's time, so choosing a busy object's newest events by time reads the index alone."""
    indexes = [models.Index(fields=["pgh_created_at", "pgh_id"])]
    if "pgh_obj" in pgh_fields:
        indexes.append(_CoveringIndex(fields=["pgh_obj", "pgh_id"], include=["pgh_created_at"]))
    return indexes


def create_event_model(
    tracked_model: type[models.Model],
    *trackers: Tracker,
    fields: list[str] | None = None,
    exclude: list[str] | None = None,
    obj_field: config.ObjForeignKey | None = UNSET,
    context_field: config.ContextForeignKey | config.ContextJSONField | None = UNSET,
    context_id_field: config.ContextUUIDField | None = UNSET,
    append_only: bool = UNSET,
    model_name: str | None = None,
    app_label: str | None = None,
    base_model: type[models.Model] | None = None,
    attrs: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    level: pgtrigger.Level | None = None,
    abstract: bool = True,
) -> type[models.Model]:
    """Build the event model class that stores `tracked_model`'s events.

    The model is abstract unless `abstract=False`; trackers are set up on the first concrete
    model, so a subclass of an abstract event model may override fields and `Meta`.
    """
    if not trackers:
        trackers = tuple(config.default_trackers() or (InsertEvent(), UpdateEvent()))
    # Each event model owns copies of its trackers, so shared default instances stay intact.
    trackers = tuple(copy.copy(tracker) for tracker in trackers)
    if level is not None:
        for tracker in trackers:
            if isinstance(tracker, RowEvent) and tracker.level is None:
                tracker.level = level

    app_label = app_label or tracked_model._meta.app_label
    model_name = model_name or _default_model_name(tracked_model, fields)
    if app_label == tracked_model._meta.app_label:
        module = tracked_model.__module__
    else:
        module = f"{apps.get_app_config(app_label).name}.models"

    class_attrs: dict[str, Any] = {
        "__module__": module,
        "__qualname__": model_name,
        "pgh_trackers": trackers,
        "pgh_tracked_model": tracked_model,
        "_pgh_append_only": config.append_only() if append_only is UNSET else append_only,
    }
    for field in _tracked_fields(tracked_model, fields, exclude):
        class_attrs[field.name] = _copy_field(field)
    pgh_fields = _pgh_fields(tracked_model, obj_field, context_field, context_id_field)
    class_attrs.update(pgh_fields)
    meta = {"indexes": _history_indexes(pgh_fields), **(meta or {})}
    class_attrs["Meta"] = type("Meta", (), {"app_label": app_label, "abstract": abstract, **meta})
    class_attrs.update(attrs or {})

    event_model = type(model_name, (base_model or config.base_model(),), class_attrs)
    if not abstract and module in sys.modules:
        setattr(sys.modules[module], model_name, event_model)
    return event_model


def track(
    *trackers: Tracker,
    fields: list[str] | None = None,
    exclude: list[str] | None = None,
    obj_field: config.ObjForeignKey | None = UNSET,
    context_field: config.ContextForeignKey | config.ContextJSONField | None = UNSET,
    context_id_field: config.ContextUUIDField | None = UNSET,
    append_only: bool = UNSET,
    model_name: str | None = None,
    app_label: str | None = None,
    base_model: type[models.Model] | None = None,
    attrs: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    level: pgtrigger.Level | None = None,
):
    """Class decorator that tracks a model's events in a generated event model.

    With no trackers, `PGHISTORY_DEFAULT_TRACKERS` applies, else inserts and updates are
    tracked. The event model is named `<Model>Event` (`<Model><Fields>Event` when `fields` is
    given) and lives in the tracked model's module.
    """

    def decorator(tracked_model: type[models.Model]) -> type[models.Model]:
        create_event_model(
            tracked_model,
            *trackers,
            fields=fields,
            exclude=exclude,
            obj_field=obj_field,
            context_field=context_field,
            context_id_field=context_id_field,
            append_only=append_only,
            model_name=model_name,
            app_label=app_label,
            base_model=base_model,
            attrs=attrs,
            meta=meta,
            level=level,
            abstract=False,
        )
        return tracked_model

    return decorator


def _setup_event_model(sender: type[models.Model], **kwargs: Any) -> None:
    """Set up the trackers of each concrete event model as soon as its class exists."""
    meta = sender._meta
    if (
        getattr(sender, "pgh_tracked_model", None) is None
        or meta.abstract
        or meta.proxy
        or meta.parents
    ):
        return
    for tracker in sender.pgh_trackers or ():
        tracker.pghistory_setup(sender)
    if sender._pgh_append_only:
        pgtrigger.register(
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete)
        )(sender)


class_prepared.connect(_setup_event_model)


def create_event(obj: models.Model, *, label: str, using: str = DEFAULT_DB_ALIAS):
    """Store an event of `obj` under a registered label, with the active context."""
    event_model = next(
        (
            _registered_trackers[(klass, label)]
            for klass in type(obj).__mro__
            if (klass, label) in _registered_trackers
        ),
        None,
    )
    if event_model is None:
        raise ValueError(
            f'"{label}" is not a registered tracker label for model "{obj._meta.object_name}".'
        )
    values = {
        field.attname: getattr(obj, field.attname) for field in event_model.pgh_tracked_fields()
    }
    if any(field.name == "pgh_obj" for field in event_model._meta.concrete_fields):
        target = event_model._meta.get_field("pgh_obj").target_field
        values["pgh_obj_id"] = getattr(obj, target.attname)
    # The context columns are filled by the same SQL the triggers use, so manual events
    # attach the active context exactly as triggered ones do.
    context_values = {
        event_model._meta.get_field(name).attname: RawSQL(sql, ())
        for name, sql in context_expressions(event_model).items()
    }
    event = event_model(pgh_label=label, **values, **context_values)
    event.save(using=using)
    if context_values:
        event.refresh_from_db(using=using, fields=[*context_values])
    return event


def event_models(
    models: list[type[models.Model]] | None = None,
    references_model: type[models.Model] | None = None,
    tracks_model: type[models.Model] | None = None,
    include_missing_pgh_obj: bool = False,
) -> list[type[models.Model]]:
    """The event models (all, or those of `models`) that have a foreign key to
    `references_model` and whose `pgh_obj` is `tracks_model` (or, with
    `include_missing_pgh_obj`, that track it, with or without `pgh_obj`)."""
    from pghistory.aggregation import event_models as all_event_models
    from pghistory.utils import related_model

    chosen = list(models or all_event_models())
    if references_model is not None:
        target = references_model._meta.concrete_model
        chosen = [
            m for m in chosen if any(related_model(f) is target for f in m._meta.concrete_fields)
        ]
    if tracks_model is not None:
        target = tracks_model._meta.concrete_model
        chosen = [
            m
            for m in chosen
            if (include_missing_pgh_obj and m.pgh_tracked_model._meta.concrete_model is target)
            or any(f.name == "pgh_obj" and related_model(f) is target for f in m._meta.fields)
        ]
    return chosen
