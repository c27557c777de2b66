"""Settings of the tracking core and the field configurations that shape event models.

Every setting is read when it is needed, so tests and projects may override it at any time.
"""

from __future__ import annotations

import functools
from typing import Any

import pgtrigger
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.core.serializers.json import DjangoJSONEncoder
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver
from django.utils.module_loading import import_string

from pghistory.constants import DEFAULT


def _import(value: Any) -> Any:
    return import_string(value) if isinstance(value, str) else value


class Field:
    """Overrides applied to every field copied into an event model (`PGHISTORY_FIELD`).

    Attributes set to `pghistory.DEFAULT` keep the tracked field's value. Configurations form a
    hierarchy: `RelatedField` inherits what `Field` and its setting override, `ForeignKey`
    inherits `RelatedField`, and so on; arguments given to an instance override them all.
    """

    setting_name = "PGHISTORY_FIELD"
    defaults: dict[str, Any] = {
        "primary_key": False,
        "unique": False,
        "blank": DEFAULT,
        "null": DEFAULT,
        "db_index": False,
        "editable": DEFAULT,
        "unique_for_date": None,
        "unique_for_month": None,
        "unique_for_year": None,
    }

    def __init__(self, **kwargs: Any):
        self.kwargs = kwargs

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.kwargs.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.kwargs == other.kwargs

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self.kwargs))))

    def resolved_kwargs(self) -> dict[str, Any]:
        """The overrides in force: each level's defaults, then its setting, then this instance."""
        resolved: dict[str, Any] = {}
        for klass in reversed(type(self).__mro__):
            if "defaults" in vars(klass):
                resolved.update(klass.defaults)
            if "setting_name" in vars(klass):
                configured = getattr(settings, klass.setting_name, None)
                if configured is not None:
                    resolved.update(configured.kwargs)
        resolved.update(self.kwargs)
        return resolved


class RelatedField(Field):
    """Overrides for related fields copied into event models (`PGHISTORY_RELATED_FIELD`)."""

    setting_name = "PGHISTORY_RELATED_FIELD"
    defaults = {"related_name": "+", "related_query_name": "+"}


class ForeignKey(RelatedField):
    """Overrides for foreign keys and one-to-ones copied into event models.

    By default they are unconstrained, indexed and never cascade
    (`PGHISTORY_FOREIGN_KEY_FIELD`).
    """

    setting_name = "PGHISTORY_FOREIGN_KEY_FIELD"
    defaults = {"on_delete": models.DO_NOTHING, "db_constraint": False, "db_index": True}


class ObjForeignKey(ForeignKey):
    """The `pgh_obj` field that points from an event to the tracked row (`PGHISTORY_OBJ_FIELD`).

    `related_name` defaults to `"events"`. It has no index of its own: the event table's
    `(pgh_obj_id, pgh_id)` index serves every lookup by object, so one index less is kept up
    on each write.
    """

    setting_name = "PGHISTORY_OBJ_FIELD"
    defaults = {"related_name": DEFAULT, "related_query_name": DEFAULT, "db_index": False}


class ContextForeignKey(ForeignKey):
    """The `pgh_context` field as a foreign key to `pghistory.Context`
    (`PGHISTORY_CONTEXT_FIELD`)."""

    setting_name = "PGHISTORY_CONTEXT_FIELD"
    defaults = {"null": True, "related_query_name": DEFAULT}


class ContextJSONField(Field):
    """The `pgh_context` field as the context's metadata copied into each event (denormalized)."""

    setting_name = "PGHISTORY_CONTEXT_FIELD"
    defaults = {"null": True}


class ContextUUIDField(Field):
    """The `pgh_context_id` field kept beside a denormalized `pgh_context`
    (`PGHISTORY_CONTEXT_ID_FIELD`)."""

    setting_name = "PGHISTORY_CONTEXT_ID_FIELD"
    defaults = {"null": True}


def base_model() -> type[models.Model]:
    from pghistory.models import Event

    return _import(getattr(settings, "PGHISTORY_BASE_MODEL", Event))


def field() -> Field:
    return getattr(settings, "PGHISTORY_FIELD", None) or Field()


def related_field() -> RelatedField:
    return getattr(settings, "PGHISTORY_RELATED_FIELD", None) or RelatedField()


def foreign_key_field() -> ForeignKey:
    return getattr(settings, "PGHISTORY_FOREIGN_KEY_FIELD", None) or ForeignKey()


def obj_field() -> ObjForeignKey | None:
    return getattr(settings, "PGHISTORY_OBJ_FIELD", ObjForeignKey())


def context_field() -> ContextForeignKey | ContextJSONField | None:
    return getattr(settings, "PGHISTORY_CONTEXT_FIELD", ContextForeignKey())


def context_id_field() -> ContextUUIDField | None:
    return getattr(settings, "PGHISTORY_CONTEXT_ID_FIELD", ContextUUIDField())


def exclude_field_kwargs() -> dict[type[models.Field], list[str]]:
    """Keyword arguments never passed to copies of some field classes."""
    configured = getattr(settings, "PGHISTORY_EXCLUDE_FIELD_KWARGS", {})
    # File fields reject an explicit `primary_key`, even a false one (fields.E201).
    excluded: dict[type[models.Field], list[str]] = {models.FileField: ["primary_key"]}
    for field_class, kwargs in configured.items():
        excluded.setdefault(_import(field_class), []).extend(kwargs)
    return excluded


def append_only() -> bool:
    return getattr(settings, "PGHISTORY_APPEND_ONLY", False)


def level() -> pgtrigger.Level:
    return getattr(settings, "PGHISTORY_LEVEL", pgtrigger.Row)


def created_at_function() -> str:
    return getattr(settings, "PGHISTORY_CREATED_AT_FUNCTION", "NOW()")


def default_trackers() -> list | None:
    return getattr(settings, "PGHISTORY_DEFAULT_TRACKERS", None)


def json_encoder() -> type:
    return _import(getattr(settings, "PGHISTORY_JSON_ENCODER", DjangoJSONEncoder))


def middleware_methods() -> tuple[str, ...]:
    return tuple(
        getattr(
            settings, "PGHISTORY_MIDDLEWARE_METHODS", ("GET", "POST", "PUT", "PATCH", "DELETE")
        )
    )


def install_context_func_on_migrate() -> bool:
    return getattr(settings, "PGHISTORY_INSTALL_CONTEXT_FUNC_ON_MIGRATE", False)


#: Management commands that serve requests or run jobs for as long as they live: one context
#: around all they do would be wrong, so `PGHISTORY_COMMAND_CONTEXT` leaves them out.
DEFAULT_COMMAND_CONTEXT_EXCLUDE = (
    "runserver",
    "runserver_plus",
    "testserver",
    "test",
    "runworker",
    "celery",
    "db_worker",
    "rqworker",
    "rqworker-pool",
    "qcluster",
    "rundramatiq",
    "process_tasks",
)


def command_context() -> bool:
    return getattr(settings, "PGHISTORY_COMMAND_CONTEXT", False)


def command_context_exclude() -> tuple[str, ...]:
    return tuple(
        getattr(settings, "PGHISTORY_COMMAND_CONTEXT_EXCLUDE", DEFAULT_COMMAND_CONTEXT_EXCLUDE)
    )


def admin_model() -> type[models.Model]:
    from django.apps import apps

    model = getattr(settings, "PGHISTORY_ADMIN_MODEL", "pghistory.Events")
    return apps.get_model(model) if isinstance(model, str) else model


def admin_queryset() -> models.QuerySet:
    configured = getattr(settings, "PGHISTORY_ADMIN_QUERYSET", None)
    if configured is not None:
        return configured
    return admin_model().objects.order_by(admin_ordering())


def admin_ordering() -> str:
    return getattr(settings, "PGHISTORY_ADMIN_ORDERING", "-pgh_created_at")


def admin_class() -> type:
    return _import(getattr(settings, "PGHISTORY_ADMIN_CLASS", "pghistory.admin.EventsAdmin"))


def admin_all_events() -> bool:
    return getattr(settings, "PGHISTORY_ADMIN_ALL_EVENTS", True)


def admin_list_display() -> list[str]:
    configured = getattr(settings, "PGHISTORY_ADMIN_LIST_DISPLAY", None)
    if configured is not None:
        return list(configured)
    from pghistory.models import MiddlewareEvents

    display = ["pgh_created_at", "pgh_obj_model", "pgh_obj_id", "pgh_diff"]
    if issubclass(admin_model(), MiddlewareEvents):
        display += ["user", "url"]
    return display


#: Fields whose values no page, admin or export shows, by tracked model:
#: `PGHISTORY_ADMIN_REDACT` adds to these.
DEFAULT_REDACT = {"auth.User": ["password"]}
#: What pages and exports show in place of a redacted value.
REDACTED = "[redacted]"


def redact(value: Any) -> Any:
    """A redacted field's value as shown: `REDACTED`, or None for no value."""
    return None if value is None else REDACTED


@functools.cache
def redacted_columns(model: type[models.Model] | None) -> frozenset[str]:
    """The columns of `model` whose values are redacted: the fields named for it, or for a
    model it inherits from or proxies (`auth.User`'s password stays hidden in a proxy or a
    child of `auth.User`), in `DEFAULT_REDACT` and `PGHISTORY_ADMIN_REDACT`
    (`{"app_label.Model": ["field", ...]}`). Worked out once per model (every diff of every
    row asks), and again when the setting changes."""
    if model is None:
        return frozenset()
    named: dict[str, set[str]] = {}
    for label, fields in [
        *DEFAULT_REDACT.items(),
        *getattr(settings, "PGHISTORY_ADMIN_REDACT", {}).items(),
    ]:
        named.setdefault(label.lower(), set()).update(fields)
    columns = set()
    for candidate in {model, model._meta.concrete_model, *model._meta.get_parent_list()}:
        for name in named.get(candidate._meta.label_lower, ()):
            try:
                columns.add(model._meta.get_field(name).column)
            except FieldDoesNotExist:
                continue
    return frozenset(columns)


@receiver(setting_changed)
def _forget_redacted_columns(setting, **kwargs) -> None:
    if setting == "PGHISTORY_ADMIN_REDACT":
        redacted_columns.cache_clear()
