"""Stand-ins for tracked models a project deleted, so that their kept history reads like any
other.

When a tracked model is deleted, `pghistory.operations.RetireEventModel` keeps its event table
(`pghistory.retired.retire_table`). The project no longer has a class for either model; this
module builds two from what the table's comment says, in an app registry of their own that
migrations never see: the tracked model, with no rows (its table is gone, so each of its
objects reads as deleted) and the verbose name "<its verbose name> (removed)", and its event
model over the kept table. `Events` reads them beside the project's event models, and the
history UI lists them, with their timelines, as it lists the others.
"""

from __future__ import annotations

from django.apps.registry import Apps
from django.db import DEFAULT_DB_ALIAS, models

from pghistory import retired

#: Field types rebuilt as they were (other types read as text).
_PLAIN_TYPES = {
    "AutoField": models.IntegerField,
    "BigAutoField": models.BigIntegerField,
    "SmallAutoField": models.SmallIntegerField,
    "BigIntegerField": models.BigIntegerField,
    "BooleanField": models.BooleanField,
    "CharField": models.TextField,
    "DateField": models.DateField,
    "DateTimeField": models.DateTimeField,
    "DecimalField": models.DecimalField,
    "DurationField": models.DurationField,
    "EmailField": models.TextField,
    "FloatField": models.FloatField,
    "IntegerField": models.IntegerField,
    "JSONField": models.JSONField,
    "PositiveBigIntegerField": models.BigIntegerField,
    "PositiveIntegerField": models.IntegerField,
    "PositiveSmallIntegerField": models.SmallIntegerField,
    "SlugField": models.TextField,
    "SmallIntegerField": models.SmallIntegerField,
    "TextField": models.TextField,
    "TimeField": models.TimeField,
    "URLField": models.TextField,
    "UUIDField": models.UUIDField,
}

#: {(database alias, catalog reading): stand-in event models}
_built: dict[tuple[str, int], list] = {}


class _NoRows(models.Manager):
    """The manager of a removed model: its table is gone, so no query finds a row."""

    def get_queryset(self):
        return super().get_queryset().none()


def event_models(using: str = DEFAULT_DB_ALIAS) -> list[type[models.Model]]:
    """Stand-in event models of the retired event tables of the database `using`, in the
    order of their labels (built once per migration)."""
    key = (using, retired.reading())
    if key not in _built:
        _built.clear()
        registry = Apps([])
        _built[key] = [_event_model(table, registry) for table in retired.retired_models(using)]
    return _built[key]


def all_event_models(using: str = DEFAULT_DB_ALIAS) -> list[type[models.Model]]:
    """Every event model with history in the database `using`: the project's, then the
    stand-ins of deleted ones."""
    from pghistory.aggregation import event_models as project_event_models

    return project_event_models() + event_models(using)


def tracked_model(label: str, using: str = DEFAULT_DB_ALIAS) -> type[models.Model] | None:
    """The stand-in of the removed tracked model `label` ("app_label.Model"), if any."""
    for event_model in event_models(using):
        if event_model.pgh_tracked_model._meta.label_lower == label.lower():
            return event_model.pgh_tracked_model
    return None


def is_removed(model: type[models.Model] | None) -> bool:
    """Whether `model` is a stand-in of a deleted model."""
    return bool(getattr(model, "pgh_removed", False))


def _event_model(table: retired.RetiredModel, registry: Apps) -> type[models.Model]:
    from pghistory.models import Context, Event

    app_label, tracked_name = table.tracked.split(".", 1)
    tracked_attrs = {
        "__module__": __name__,
        "Meta": _meta(
            registry,
            app_label,
            db_table=f"{table.table}__gone",
            verbose_name=f"{table.verbose_name} (removed)",
            verbose_name_plural=f"{table.verbose_name_plural} (removed)",
            base_manager_name="objects",
        ),
        "objects": _NoRows(),
        "pgh_removed": True,
    }
    event_attrs = {
        "__module__": __name__,
        "Meta": _meta(registry, app_label, db_table=table.table),
        "pgh_removed": True,
        "pgh_trackers": (),
        "_pgh_append_only": False,
    }
    for described in table.fields:
        is_pk = described["name"] == table.pk_name
        tracked_attrs[described["name"]] = _field(described, primary_key=is_pk)
        event_attrs[described["name"]] = _field(described)
    if not any(described["name"] == table.pk_name for described in table.fields):
        tracked_attrs[table.pk_name] = models.BigIntegerField(primary_key=True)
    tracked = type(tracked_name, (models.Model,), tracked_attrs)
    event_attrs["pgh_tracked_model"] = tracked
    if table.has_obj:
        event_attrs["pgh_obj"] = models.ForeignKey(
            tracked, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
        )
    if table.context == "fk":
        event_attrs["pgh_context"] = models.ForeignKey(
            Context, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
        )
    elif table.context == "json":
        event_attrs["pgh_context"] = models.JSONField(null=True)
    if table.has_context_id:
        event_attrs["pgh_context_id"] = models.UUIDField(null=True)
    _, event_name = table.label.split(".", 1)
    return type(event_name, (Event,), event_attrs)


def _meta(registry: Apps, app_label: str, **options) -> type:
    return type(
        "Meta", (), {"apps": registry, "app_label": app_label, "managed": False, **options}
    )


def _field(described: dict, primary_key: bool = False) -> models.Field:
    """A field that reads a stored column as its field did (a foreign key reads its value)."""
    kwargs = {
        "verbose_name": described.get("verbose_name") or described["name"],
        "db_column": described["column"],
    }
    if primary_key:
        kwargs["primary_key"] = True
    else:
        kwargs["null"] = True
    if described.get("choices"):
        kwargs["choices"] = [tuple(choice) for choice in described["choices"]]
    field_class = _PLAIN_TYPES.get(described.get("type"), models.TextField)
    if field_class is models.DecimalField:
        kwargs["max_digits"] = described.get("max_digits") or 65
        kwargs["decimal_places"] = described.get("decimal_places") or 0
    if described.get("related_model"):
        field_class = models.TextField  # (the value it pointed to, as text)
    return field_class(**kwargs)
