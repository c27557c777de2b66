"""Putting an object back as one of its events stored it: what would change, what stands in
the way, and the write itself.

A revert updates an object that still exists; a restore recreates one that was deleted. Both
go through `Event.revert()`, in one transaction, in a `pghistory.context` that names the event
and the user, so the write is itself tracked. Before anything is written, `plan()` compares
the object now with the event's stored values (both as the JSON Postgres stores, so unchanged
decimals and times compare equal) and lists the fields that could not be written back: a
foreign key to a row that is gone, a unique value now held by another row, a violated
constraint, or (for a restore under multi-table inheritance) a parent row that still exists.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.utils.text import capfirst, get_text_list

import pghistory
from pghistory.config import redacted_columns
from pghistory.models import Events
from pghistory_admin import diffs as diff_module
from pghistory_admin.rows import parse_pk

REVERT = "revert"
RESTORE = "restore"


@dataclasses.dataclass
class Problem:
    """A field (`field` is its name; None for the object as a whole) that cannot be written
    back, and why."""

    field: str | None
    label: str
    message: str


@dataclasses.dataclass
class Target:
    """The object an event belongs to, and what putting it back would be."""

    row: Events
    event: models.Model
    model: type[models.Model]
    pk: Any
    exists: bool

    @property
    def action(self) -> str:
        """ "revert" (the object exists) or "restore" (it was deleted)."""
        return REVERT if self.exists else RESTORE


@dataclasses.dataclass
class Plan:
    """What a revert or restore would write: the field diffs (now → the event's values) and
    the problems that block it."""

    target: Target
    current: dict | None
    stored: dict
    diffs: list[diff_module.FieldDiff]
    problems: list[Problem]

    @property
    def changes(self) -> list[diff_module.FieldDiff]:
        return [diff for diff in self.diffs if diff.changed]

    @property
    def state(self) -> str:
        """A fingerprint of the object as it is now, so that a confirmation given for one state
        is not applied to another."""
        return state_of(self.current)


def state_of(current: dict | None) -> str:
    encoded = "absent" if current is None else json.dumps(current, sort_keys=True, default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()[:32]


def object_pk(row: Events, event: models.Model) -> Any:
    """The primary key of the event's object: its `pgh_obj` or, without one, its stored pk."""
    model = event.pgh_tracked_model
    if row.pgh_obj_id is not None:
        return parse_pk(model, row.pgh_obj_id)
    stored = {field.attname for field in event.pgh_tracked_fields()}
    if model._meta.pk.attname in stored:
        return getattr(event, model._meta.pk.attname)
    return None


def target(row: Events, event: models.Model, using: str = DEFAULT_DB_ALIAS) -> Target:
    model = event.pgh_tracked_model
    pk = object_pk(row, event)
    exists = pk is not None and model._base_manager.using(using).filter(pk=pk).exists()
    return Target(row=row, event=event, model=model, pk=pk, exists=exists)


def current_data(
    model: type[models.Model], pk: Any, columns, using: str = DEFAULT_DB_ALIAS
) -> dict | None:
    """The object's row now, as Postgres renders it to JSON, keyed by column and limited to
    `columns`; parents' columns are included under multi-table inheritance. None if it is
    gone."""
    fields = [field for field in model._meta.concrete_fields if field.column in columns]
    queryset = (
        model._base_manager.using(using)
        .filter(pk=pk)
        .order_by()
        .values_list(*[field.attname for field in fields])
    )
    sql, params = queryset.query.get_compiler(using).as_sql()
    # Each selected column keeps its own name, so to_jsonb() keys the row by column, exactly
    # as the event tables' data is keyed.
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT to_jsonb(r)::text FROM ({sql}) r", params)
        found = cursor.fetchone()
    if found is None:
        return None
    decoder = Events._meta.get_field("pgh_data").decoder
    return json.loads(found[0], cls=decoder)


def stored_instance(target: Target, using: str = DEFAULT_DB_ALIAS) -> models.Model:
    """An unsaved instance of the tracked model with the event's values, standing for the
    object as the write would leave it."""
    values = {
        field.attname: getattr(target.event, field.attname)
        for field in target.event.pgh_tracked_fields()
        if not getattr(field, "generated", False)
    }
    instance = target.model(**values)
    # The object being written is not "another row": unique checks exclude its own pk.
    instance._state.adding = False
    instance._state.db = using
    return instance


def plan(
    target: Target,
    using: str = DEFAULT_DB_ALIAS,
    redacted: diff_module.Redaction = redacted_columns,
) -> Plan:
    """Compare the object now with the event's values and find what stands in the way.
    Needs an event that can revert (`event.can_revert`). `redacted(model)` names the
    columns whose values the plan's diffs hide."""
    stored = target.row.pgh_data or {}
    current = current_data(target.model, target.pk, set(stored), using) if target.exists else None
    diffs = diff_module.compare(target.model, current, stored, redacted=redacted)
    diff_module.load_related(diffs)
    # Changed fields first, each group in the model's field order.
    diffs.sort(key=lambda diff: not diff.changed)
    return Plan(
        target=target,
        current=current,
        stored=stored,
        diffs=diffs,
        problems=problems(target, using),
    )


def problems(target: Target, using: str = DEFAULT_DB_ALIAS) -> list[Problem]:
    """Everything that would make the write fail or leave the object pointing at nothing."""
    instance = stored_instance(target, using)
    found = _missing_parents(target, instance, using) + _missing_targets(target, instance, using)
    return found + _conflicts(target, instance)


def _label(model: type[models.Model], name: str) -> str:
    try:
        return capfirst(model._meta.get_field(name).verbose_name)
    except Exception:  # noqa: BLE001 (a name from a constraint may not be a field)
        return name


def _missing_parents(target: Target, instance: models.Model, using: str) -> list[Problem]:
    """A restore recreates the parents' rows too (multi-table inheritance): any that still
    exist would be duplicated."""
    if target.exists:
        return []
    found = []
    for parent in target.model._meta.get_parent_list():
        pk = instance._get_pk_val(parent._meta)
        if pk is not None and parent._base_manager.using(using).filter(pk=pk).exists():
            found.append(
                Problem(
                    None,
                    capfirst(parent._meta.verbose_name),
                    f"The {parent._meta.verbose_name} part of this"
                    f" {target.model._meta.verbose_name} (#{pk}) still exists, so it cannot"
                    " be created again.",
                )
            )
    return found


def _points_to_itself(target: Target, field: models.Field, value: Any) -> bool:
    own_models = {target.model._meta.concrete_model, *target.model._meta.get_parent_list()}
    return field.related_model._meta.concrete_model in own_models and value == target.pk


def _missing_targets(target: Target, instance: models.Model, using: str) -> list[Problem]:
    """Foreign keys (with a database constraint) to rows that are gone."""
    found = []
    for field in target.model._meta.concrete_fields:
        if not (field.many_to_one or field.one_to_one) or not field.db_constraint:
            continue
        if field.remote_field.parent_link:  # parents are written along with the object
            continue
        value = getattr(instance, field.attname)
        if value is None or _points_to_itself(target, field, value):
            continue
        related = field.related_model
        lookup = {field.target_field.attname: value}
        if not related._base_manager.using(using).filter(**lookup).exists():
            found.append(
                Problem(
                    field.name,
                    capfirst(field.verbose_name),
                    f"{capfirst(related._meta.verbose_name)} #{value} no longer exists.",
                )
            )
    return found


def _conflicts(target: Target, instance: models.Model) -> list[Problem]:
    """Unique values now held by other rows, and other constraints the values break."""
    exclude = {
        field.name
        for field in target.model._meta.concrete_fields
        if getattr(field, "generated", False)
    }
    found = []
    for check in (instance.validate_unique, instance.validate_constraints):
        try:
            check(exclude=exclude)
        except ValidationError as error:
            for name, field_errors in error.error_dict.items():
                found += [_conflict(target, instance, name, each) for each in field_errors]
    return found


def _conflict(target: Target, instance: models.Model, name: str, error: ValidationError):
    params = error.params or {}
    unique_check = params.get("unique_check")
    text = " ".join(error.messages)
    if not unique_check:
        if name == NON_FIELD_ERRORS:
            return Problem(None, capfirst(target.model._meta.verbose_name), text)
        return Problem(name, _label(target.model, name), text)
    owner = params.get("model_class") or target.model
    holder = _holder(owner, instance, unique_check)
    labels = [_label(target.model, field) for field in unique_check]
    held_by = f" ({holder})" if holder else ""
    if len(unique_check) == 1:
        field = target.model._meta.get_field(unique_check[0])
        value = diff_module.display_value(field, (target.row.pgh_data or {}).get(field.column))
        message = (
            f"“{value}” is now used by another {owner._meta.verbose_name}{held_by}, so this"
            " value cannot be restored."
        )
    else:
        message = (
            f"This combination of {get_text_list(labels, 'and')} is now used by another"
            f" {owner._meta.verbose_name}{held_by}, so it cannot be restored."
        )
    return Problem(unique_check[0], " and ".join(labels), message)


def _holder(owner: type[models.Model], instance: models.Model, unique_check) -> str:
    """The string form of the other row that holds a unique value, or ""."""
    lookup = {
        owner._meta.get_field(name).attname: getattr(instance, owner._meta.get_field(name).attname)
        for name in unique_check
    }
    others = owner._base_manager.filter(**lookup)
    pk = instance._get_pk_val(owner._meta)
    if pk is not None:
        others = others.exclude(pk=pk)
    other = others.first()
    return diff_module.safe_str(other) if other is not None else ""


def apply(plan: Plan, user, using: str = DEFAULT_DB_ALIAS) -> models.Model:
    """Write the event's values back, in one transaction, recorded with a context naming the
    event (`reverted_to`) and the user (`reverted_by`, and `user` when no active context,
    such as `HistoryMiddleware`'s, gives one). Raises `DatabaseError` (nothing written) when
    the database refuses the write."""
    metadata = {"reverted_to": plan.target.row.pgh_slug, "reverted_by": user.get_username()}
    active = pghistory.capture_context()
    if active is None or active["metadata"].get("user") is None:
        metadata["user"] = user.pk
    with transaction.atomic(using=using), pghistory.context(**metadata):
        obj = plan.target.event.revert(using=using)
        # Foreign keys are checked at commit by default; check them now, inside the block,
        # so that a violation rolls back here and is reported instead of failing later.
        connections[using].check_constraints()
    return obj
