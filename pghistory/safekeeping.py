"""What keeps an ordinary schema change from deleting recorded history.

An event model copies its tracked model's fields, so Django's autodetector changes it with
the tracked model: remove a tracked field and the new migration removes the event model's
column too, with every value the events recorded in it. Two guards stand between that and
the data:

- `keep_history()`, which pghistory's `makemigrations` runs on the migrations it is about to
  write: an event model's `RemoveField` becomes `pghistory.operations.RetireField`, its
  `AlterField` becomes `pghistory.operations.AlterEventField`, and a field removed and
  another added where the tracked model renamed that field becomes `RenameField`.
- `refuse_history_loss()`, connected to `pre_migrate`: before `migrate` applies anything, it
  looks for operations that would still delete recorded values (migrations written by hand,
  or by another `makemigrations`, or by django-pghistory 3.9) and stops with the migrations,
  the operations and what to write instead.
"""

from __future__ import annotations

import dataclasses

from django.core.exceptions import FieldDoesNotExist
from django.core.management.base import CommandError
from django.db import connections, migrations, models

from pghistory import operations, retired
from pghistory.sql import quote

#: The fields every event model has.
_EVENT_FIELDS = {"pgh_id", "pgh_created_at", "pgh_label"}


def is_event_model(model: type[models.Model] | None) -> bool:
    """Whether `model` (of the app registry or of a migration's state) is an event model."""
    if model is None:
        return False
    return {field.name for field in model._meta.concrete_fields} >= _EVENT_FIELDS


def _model(apps, app_label: str, model_name: str) -> type[models.Model] | None:
    try:
        return apps.get_model(app_label, model_name)
    except LookupError:
        return None


# -- makemigrations ---------------------------------------------------------------------------


def keep_history(changes: dict, from_state, current_apps) -> list[str]:
    """Rewrite, in place, the operations of `changes` (makemigrations' {app_label: [new
    migrations]}) that would delete what event models recorded; `from_state` is the
    project's state before them, `current_apps` the app registry (the models as they are
    now). Returns a line for each operation rewritten."""
    renames = _tracked_renames(changes)
    rewritten = []
    for app_label, app_migrations in changes.items():
        for migration in app_migrations:
            kept = _keep(app_label, migration.operations, from_state, current_apps, renames)
            migration.operations, lines = kept
            rewritten += [f"{app_label}.{migration.name}: {line}" for line in lines]
    return rewritten


def _tracked_renames(changes: dict) -> dict[tuple[str, str, str], str]:
    """{(app_label, model_name, old field name): new name} of the fields `changes` rename."""
    return {
        (app_label, operation.model_name_lower, operation.old_name): operation.new_name
        for app_label, app_migrations in changes.items()
        for migration in app_migrations
        for operation in migration.operations
        if isinstance(operation, migrations.RenameField)
    }


def _keep(app_label, operation_list, from_state, current_apps, renames):
    kept, lines = [], []
    # An event model deleted with its tracked model: Django first removes its foreign keys
    # (to the tracked model, to the context), then the model. It is retired as a whole, where
    # the first of those operations was.
    deleted = {
        operation.name_lower
        for operation in operation_list
        if type(operation) is migrations.DeleteModel
        and is_event_model(_model(from_state.apps, app_label, operation.name_lower))
    }
    retired_here = set()
    added = {
        (operation.model_name_lower, operation.name): operation
        for operation in operation_list
        if type(operation) is migrations.AddField
    }
    dropped_adds = set()
    for operation in operation_list:
        model_name = getattr(operation, "model_name_lower", None)
        if type(operation) is migrations.DeleteModel:
            model_name = operation.name_lower
        if model_name in deleted and type(operation) in (
            migrations.RemoveField,
            migrations.DeleteModel,
        ):
            if model_name not in retired_here:
                retired_here.add(model_name)
                name = from_state.apps.get_model(app_label, model_name).__name__
                kept.append(operations.RetireEventModel(name))
                lines.append(f"{name}: retired with its table and events (instead of deleted)")
            continue
        old_model = _model(from_state.apps, app_label, model_name) if model_name else None
        if not is_event_model(old_model):
            kept.append(operation)
            continue
        if type(operation) is migrations.RemoveField:
            new_name = _renamed_to(
                app_label, old_model, operation.name, current_apps, renames, added
            )
            if new_name is not None:
                dropped_adds.add((model_name, new_name))
                kept.append(migrations.RenameField(operation.model_name, operation.name, new_name))
                lines.append(
                    f"{operation.model_name}.{operation.name}: renamed to {new_name}, as the"
                    " tracked field was (instead of removed and added)"
                )
            else:
                kept.append(operations.RetireField(operation.model_name, operation.name))
                lines.append(
                    f"{operation.model_name}.{operation.name}: retired with its recorded values"
                    " (instead of removed)"
                )
        elif type(operation) is migrations.AlterField and not operation.name.startswith("pgh_"):
            # (pghistory's own fields, pgh_*, change as pghistory's releases change them.)
            kept.append(
                operations.AlterEventField(operation.model_name, operation.name, operation.field)
            )
        else:
            kept.append(operation)
    kept = [
        operation
        for operation in kept
        if not (
            type(operation) is migrations.AddField
            and (operation.model_name_lower, operation.name) in dropped_adds
        )
    ]
    return kept, lines


def _renamed_to(app_label, old_event_model, name, current_apps, renames, added) -> str | None:
    """The new name of the event model's field `name` if its tracked field was renamed (in
    these migrations, or in an earlier one written by hand) and the new migrations add the
    event model a field of that name and definition; else None."""
    event_model = _model(current_apps, app_label, old_event_model._meta.model_name)
    tracked = getattr(event_model, "pgh_tracked_model", None)
    if tracked is None:
        return None
    tracked_key = (tracked._meta.app_label, tracked._meta.model_name, name)
    new_name = renames.get(tracked_key)
    if new_name is None:
        candidates = [
            added_name
            for (model_name, added_name) in added
            if model_name == old_event_model._meta.model_name
            and _same_definition(
                old_event_model._meta.get_field(name), added, model_name, added_name
            )
            and _has_field(tracked, added_name)
            and not _has_field(tracked, name)
        ]
        new_name = candidates[0] if len(candidates) == 1 else None
    if new_name is None or (old_event_model._meta.model_name, new_name) not in added:
        return None
    return new_name


def _has_field(model, name: str) -> bool:
    return _field(model, name) is not None


def _same_definition(old_field, added, model_name, new_name) -> bool:
    """Whether the field that `added` adds as `new_name` is `old_field` (the default a user
    gave makemigrations for the rows already there, kept in the migration only, aside)."""
    operation = added[(model_name, new_name)]
    path, args, kwargs = operation.field.deconstruct()[1:]
    if not operation.preserve_default:
        kwargs.pop("default", None)
    return old_field.deconstruct()[1:] == (path, args, kwargs)


# -- migrate ----------------------------------------------------------------------------------


@dataclasses.dataclass
class _Loss:
    migration: str
    operation: str
    what: str
    instead: str


def refuse_history_loss(sender, plan=None, apps=None, using=None, **kwargs) -> None:
    """`pre_migrate` receiver: stop `migrate` before it applies a plan with an operation
    that would delete recorded events or values, saying what to do instead."""
    if not plan or apps is None:
        return
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    losses = []
    for migration, backwards in plan:
        label = f"{migration.app_label}.{migration.name}"
        for operation in _database_operations(migration.operations):
            loss = _loss(migration.app_label, operation, backwards, apps, connection)
            if loss is not None:
                losses.append(_Loss(label, *loss))
    if losses:
        raise CommandError(_message(losses))


def _database_operations(operation_list):
    for operation in operation_list:
        if isinstance(operation, migrations.SeparateDatabaseAndState):
            yield from _database_operations(operation.database_operations)
        else:
            yield operation


def _loss(app_label, operation, backwards, apps, connection) -> tuple[str, str, str] | None:
    """(the operation, what it would delete, what to write instead), or None if it keeps
    every recorded value."""
    kind = type(operation)
    if backwards:
        if kind is migrations.CreateModel:
            model = _model(apps, app_label, operation.name_lower)
            if is_event_model(model) and _exists(connection, model._meta.db_table):
                return (
                    f"CreateModel({operation.name}), unapplied",
                    f"drops the table of {model._meta.label} and every event in it",
                    "keep the migration applied",
                )
        if kind is migrations.AddField:
            model = _model(apps, app_label, operation.model_name_lower)
            if is_event_model(model):
                column = model._meta.get_field(operation.name).column
                if _holds_values(connection, model._meta.db_table, column):
                    return (
                        f"AddField({operation.model_name}.{operation.name}), unapplied",
                        f"drops the column {column} of {model._meta.label} and the values"
                        " events recorded in it",
                        "keep the migration applied",
                    )
        return None
    if kind is migrations.DeleteModel:
        model = _model(apps, app_label, operation.name_lower)
        if is_event_model(model) and _exists(connection, model._meta.db_table):
            return (
                f"DeleteModel({operation.name!r})",
                f"drops the table of {model._meta.label} and every event in it",
                f"pghistory.operations.RetireEventModel({operation.name!r}), in place of"
                " that DeleteModel and of the RemoveField operations of the same model before"
                " it",
            )
    if kind is migrations.RemoveField:
        model = _model(apps, app_label, operation.model_name_lower)
        if is_event_model(model):
            column = _column(model, operation.name)
            if column and _holds_values(connection, model._meta.db_table, column):
                return (
                    f"RemoveField(model_name={operation.model_name!r}, name={operation.name!r})",
                    f"drops the column {column} of {model._meta.label} and the values events"
                    " recorded in it",
                    f"pghistory.operations.RetireField(model_name={operation.model_name!r},"
                    f" name={operation.name!r})",
                )
    if kind is migrations.AlterField and not operation.name.startswith("pgh_"):
        model = _model(apps, app_label, operation.model_name_lower)
        if is_event_model(model):
            old = _field(model, operation.name)
            if old is not None and _alter_loses(old, operation.field, model, connection):
                return (
                    f"AlterField(model_name={operation.model_name!r}, name={operation.name!r})",
                    f"changes the column {old.column} of {model._meta.label} in a way that can"
                    " fail on, or change, the values events recorded in it",
                    f"pghistory.operations.AlterEventField(model_name={operation.model_name!r},"
                    f" name={operation.name!r}, field=...) with the same field",
                )
    return None


def _field(model, name: str):
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def _column(model, name: str) -> str | None:
    field = _field(model, name)
    return getattr(field, "column", None)


def _alter_loses(old, new, model, connection) -> bool:
    new = new.clone()
    new.set_attributes_from_name(old.name)
    if not retired.keeps_values(old, new, connection):
        return _holds_values(connection, model._meta.db_table, old.column)
    if old.null and not new.null:
        # NOT NULL fails on a NULL, or a default fills them in: either way, only if one exists.
        return _holds_nulls(connection, model._meta.db_table, old.column)
    return False


def _exists(connection, table: str, where: str = "") -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [quote(table)])
        if cursor.fetchone()[0] is None:
            return False
        cursor.execute(f"SELECT EXISTS (SELECT FROM {quote(table)}{where})")
        return cursor.fetchone()[0]


def _holds_values(connection, table: str, column: str) -> bool:
    return _exists(connection, table, f" WHERE {quote(column)} IS NOT NULL")


def _holds_nulls(connection, table: str, column: str) -> bool:
    return _exists(connection, table, f" WHERE {quote(column)} IS NULL")


def _message(losses: list[_Loss]) -> str:
    lines = [
        "migrate stopped before applying anything: these operations would delete recorded"
        " history (pghistory event models).",
    ]
    for loss in losses:
        lines += [
            f"  {loss.migration}: {loss.operation} {loss.what}.",
            f"    Instead: {loss.instead}.",
        ]
    lines += [
        'pghistory\'s makemigrations (the one `manage.py makemigrations` runs when "pghistory"'
        " is in INSTALLED_APPS) writes these operations itself. To delete such history on"
        " purpose, retire it first and then run `manage.py pghistory_retired --drop`.",
    ]
    return "\n".join(lines)
