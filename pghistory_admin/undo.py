"""Undoing everything one context (a request, a job, a `pghistory.context` block) changed.

`plan(context_id)` looks at each object the context's events touched and works out what
undoing means for it:

- an object the context created is deleted (nothing, if it is gone already);
- an object the context deleted is restored as it was before the context;
- an object the context updated is put back as it was before the context;
- an object the context created and deleted needs nothing.

An object changed again after the context is a *conflict*: the plan names who changed it,
when and which fields, and `apply()` leaves it alone unless the caller forces it. An object
whose state before the context is unknown (no earlier event, or an event model that does not
store every field) cannot be undone and is listed as such; so is a step the caller's
`allowed(action, model)` refuses.

`apply(plan, ...)` writes every chosen step in one transaction, in a `pghistory.context`
naming the undone context (`undo_of`) and the user (`undone_by`), so the undo is itself
recorded: restores first, parents before the rows that point to them, then reverts, then
deletes, rows that point before their parents. Before writing, each object's current state
is compared with the plan's: a plan made for one state is not applied to another (`Stale`).
A refusal from the database rolls everything back and is raised as `DatabaseError`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction

import pghistory
from pghistory.aggregation import resolve_event_model
from pghistory.config import redacted_columns
from pghistory.models import Events
from pghistory_admin import diffs as diff_module
from pghistory_admin import revert
from pghistory_admin.rows import parse_pk, tracked_model

DELETE = "delete"
RESTORE = revert.RESTORE
REVERT = revert.REVERT
NOTHING = "nothing"

#: `allowed(action, model)`: whether a step may be taken (the default: every step).
Allowed = Callable[[str, type[models.Model]], bool]


class Stale(Exception):
    """An object changed after the plan was made: the plan is not applied."""


@dataclasses.dataclass
class Step:
    """What undoing the context means for one object."""

    model: type[models.Model]
    pk: Any
    #: The context's events of the object, oldest first.
    events: list
    #: DELETE, RESTORE, REVERT or NOTHING.
    action: str
    #: The event that stored the object as it was before the context (None: it did not
    #: exist, or its state then is not known).
    before: Any = None
    #: Events of the object after the context's: changed again since.
    later: list = dataclasses.field(default_factory=list)
    #: The object's row now, as JSON keyed by column (None: it does not exist).
    current: dict | None = None
    #: What the step would change: the fields from now to the state it puts back.
    diffs: list = dataclasses.field(default_factory=list)
    #: Why the step cannot be taken ("" when it can).
    blocked: str = ""
    problems: list = dataclasses.field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.model._meta.label_lower}:{self.pk}"

    @property
    def conflict(self) -> bool:
        return bool(self.later)

    @property
    def state(self) -> str:
        """A fingerprint of the object now (see `revert.state_of`)."""
        return revert.state_of(self.current)


@dataclasses.dataclass
class Plan:
    context_id: Any
    steps: list[Step]

    @property
    def actionable(self) -> list[Step]:
        return [step for step in self.steps if step.action != NOTHING and not step.blocked]


@dataclasses.dataclass
class Undone:
    """What `apply()` did: the steps it took, and the context that recorded them."""

    steps: list[Step]
    context_id: Any


def plan(
    context_id,
    *,
    events: models.QuerySet | None = None,
    allowed: Allowed | None = None,
    redacted=redacted_columns,
    using: str = DEFAULT_DB_ALIAS,
) -> Plan:
    """What undoing the context `context_id` would do, object by object. `events` is the
    `Events` queryset to read (by default all of them: a view passes those its user may see);
    `allowed(action, model)` says which steps the caller may take."""
    queryset = events if events is not None else Events.objects.using(using)
    rows = list(queryset.filter(pgh_context_id=context_id).order_by("pgh_model", "pgh_id"))
    by_object: dict[tuple, list] = {}
    for row in rows:
        if row.pgh_obj_id is not None:
            by_object.setdefault((row.pgh_model, row.pgh_obj_model, row.pgh_obj_id), []).append(
                row
            )
    steps = []
    for (event_label, model_label, raw_pk), object_rows in by_object.items():
        model = tracked_model(model_label)
        if model is None:
            continue
        step = _step(resolve_event_model(event_label), model, raw_pk, object_rows, queryset)
        if (
            step.action != NOTHING
            and not step.blocked
            and allowed
            and not allowed(step.action, model)
        ):
            step.blocked = f"You may not {step.action} {model._meta.verbose_name_plural}."
        _describe(step, redacted, using)
        steps.append(step)
    steps.sort(key=lambda step: (step.model._meta.label, str(step.pk)))
    return Plan(context_id, steps)


def _step(event_model, model, raw_pk, rows, queryset) -> Step:
    from pghistory_admin.views.objects import can_revert, operation

    pk = parse_pk(model, raw_pk)
    kinds = [operation(event_model, row.pgh_label) for row in rows]
    created, deleted = kinds[0] == "insert", kinds[-1] == "delete"
    object_events = queryset.across(event_model).filter(pgh_obj_id=raw_pk)
    later = list(object_events.filter(pgh_id__gt=rows[-1].pgh_id).order_by("pgh_id"))
    later = [row for row in later if row.pgh_context_id != rows[0].pgh_context_id]
    step = Step(model=model, pk=pk, events=rows, action=REVERT, later=later)
    if created and deleted:
        step.action = NOTHING
        return step
    if created:
        step.action = DELETE
        return step
    if not can_revert(event_model):
        step.blocked = (
            f"{event_model._meta.label} does not store every field of"
            f" {model._meta.verbose_name_plural}: the state before is not known."
        )
        return step
    previous = object_events.filter(pgh_id__lt=rows[0].pgh_id).order_by("-pgh_id").first()
    if previous is None:
        step.blocked = "No earlier version of it is recorded: the state before is not known."
        return step
    step.before = previous
    step.action = RESTORE if deleted else REVERT
    return step


def _describe(step: Step, redacted, using: str) -> None:
    """The step's current state, what it would change, and what stands in the way."""
    model = step.model
    exists = step.pk is not None and model._base_manager.using(using).filter(pk=step.pk).exists()
    columns = {field.column for field in model._meta.concrete_fields}
    step.current = revert.current_data(model, step.pk, columns, using) if exists else None
    if step.action == DELETE:
        if not exists:
            step.action = NOTHING
        step.diffs = diff_module.compare(model, step.current, None, redacted=redacted)
    elif step.action in (REVERT, RESTORE) and not step.blocked:
        if step.action == RESTORE and exists:
            step.action = REVERT  # (created again since: it is put back as it was)
        if step.action == REVERT and not exists:
            step.action = RESTORE
        step.diffs = diff_module.compare(
            model, step.current, step.before.pgh_data, redacted=redacted, only_changed=True
        )
        target = revert.Target(
            row=step.before,
            event=_event(step.before, using),
            model=model,
            pk=step.pk,
            exists=exists,
        )
        step.problems = revert.problems(target, using)
    diff_module.load_related(step.diffs)


def _event(row, using: str):
    event_model = resolve_event_model(row.pgh_model)
    return event_model.objects.using(using).get(pgh_id=row.pgh_id)


def apply(
    plan: Plan,
    *,
    user=None,
    states: dict[str, str] | None = None,
    force: Iterable[str] = (),
    using: str = DEFAULT_DB_ALIAS,
) -> Undone:
    """Take the plan's steps in one transaction (see the module's docstring); what it did.

    A conflicting step (changed since the context) is taken only if its key is in `force`.
    `states` ({key: `Step.state`} of every step, as a preview showed them; by default the
    plan's own, of the steps taken) are what the objects must still be: one that changed
    raises `Stale`, and nothing is written."""
    forced = set(force)
    chosen = [step for step in plan.actionable if not step.conflict or step.key in forced]
    expected = states if states is not None else {step.key: step.state for step in chosen}
    metadata: dict = {"undo_of": str(plan.context_id)}
    if user is not None:
        metadata["undone_by"] = user.get_username()
        active = pghistory.capture_context()
        if active is None or active["metadata"].get("user") is None:
            metadata["user"] = user.pk
    order = _dependency_order({step.model for step in chosen})
    with transaction.atomic(using=using), pghistory.context(**metadata) as recorded:
        # Every object the caller saw (the whole plan, when it passes the states it saw):
        # one that changed since makes the preview it confirmed a preview of another state.
        for step in plan.steps if states is not None else chosen:
            columns = {field.column for field in step.model._meta.concrete_fields}
            exists = step.model._base_manager.using(using).filter(pk=step.pk).exists()
            now = revert.current_data(step.model, step.pk, columns, using) if exists else None
            if revert.state_of(now) != expected.get(step.key):
                raise Stale(f"{step.model._meta.verbose_name} {step.pk} changed since the plan.")
        for step in sorted(chosen, key=lambda step: _rank(step, order)):
            if step.action == DELETE:
                _delete_row(step.model, step.pk, using)
            else:
                _event(step.before, using).revert(using=using)
        connections[using].check_constraints()
    return Undone(chosen, recorded.id)


def _delete_row(model: type[models.Model], pk, using: str) -> None:
    """Delete the object's rows (its parents' too, under multi-table inheritance) in SQL, as
    its table's trigger sees any delete: rows that still point to it make the database refuse
    (Django's on_delete rules, which would delete or change those rows too, do not run)."""
    connection = connections[using]
    with connection.cursor() as cursor:
        for owner in [model._meta.concrete_model, *model._meta.get_parent_list()]:
            table = connection.ops.quote_name(owner._meta.db_table)
            column = connection.ops.quote_name(owner._meta.pk.column)
            cursor.execute(f"DELETE FROM {table} WHERE {column} = %s", [pk])


def _rank(step: Step, order: list) -> tuple:
    position = order.index(step.model)
    if step.action == RESTORE:
        return (0, position)
    if step.action == REVERT:
        return (1, position)
    return (2, -position)


def _dependency_order(chosen: set) -> list:
    """The models in an order where each comes after the models its foreign keys point to."""
    ordered: list = []

    def visit(model, seen):
        if model in ordered or model in seen:
            return
        seen.add(model)
        for field in model._meta.concrete_fields:
            related = field.related_model if field.is_relation else None
            if related is not None and related._meta.concrete_model in chosen:
                visit(related._meta.concrete_model, seen)
        ordered.append(model)

    for model in sorted(chosen, key=lambda model: model._meta.label):
        visit(model, set())
    return ordered
