"""What changed in an event, field by field, and how a stored value reads to people.

`pgh_diff` maps a column to its `[old, new]` pair as JSON; `changes()` turns that into the
tracked model's fields (verbose names, choice labels, money with its decimals) for every page
and export that shows a diff.
"""

from __future__ import annotations

import datetime
import decimal
import json
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.text import capfirst

#: A value longer than this is named in a diff summary but not shown.
SHORT_VALUE = 40


@dataclass(frozen=True)
class Change:
    """One field's change: its name, verbose name and the stored old and new values."""

    name: str
    label: str
    old: Any
    new: Any
    field: models.Field | None = None

    @property
    def old_display(self) -> str:
        return display_value(self.field, self.old)

    @property
    def new_display(self) -> str:
        return display_value(self.field, self.new)

    @property
    def is_short(self) -> bool:
        return max(len(self.old_display), len(self.new_display)) <= SHORT_VALUE


def fields_by_column(model: type[models.Model] | None) -> dict[str, models.Field]:
    """The concrete fields of a tracked model, by column name (the keys of stored data)."""
    if model is None:
        return {}
    return {field.column: field for field in model._meta.concrete_fields}


def changes(model: type[models.Model] | None, diff: dict | None) -> list[Change]:
    """The changes in `diff` (`{column: [old, new]}`) as fields of `model`, in field order."""
    if not diff:
        return []
    by_column = fields_by_column(model)
    order = {column: position for position, column in enumerate(by_column)}
    found = []
    for column in sorted(diff, key=lambda column: (order.get(column, len(order)), column)):
        old, new = diff[column]
        field = by_column.get(column)
        if field is None:  # a column the model no longer has
            found.append(Change(column, column, old, new))
        else:
            found.append(Change(field.name, capfirst(field.verbose_name), old, new, field))
    return found


def display_value(field: models.Field | None, value: Any) -> str:
    """A stored JSON value of `field` as people read it."""
    if value is None:
        return "—"
    if field is None:
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if field.choices:
        choices = dict(field.flatchoices)
        if value in choices:
            return str(choices[value])
    if isinstance(field, models.BooleanField):
        return "Yes" if value else "No"
    if isinstance(field, models.DecimalField):
        return _decimal(value, field.decimal_places)
    if isinstance(field, models.DateTimeField):
        return _datetime(value)
    if isinstance(field, models.JSONField) or not isinstance(value, str):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return value


def _decimal(value: Any, places: int | None) -> str:
    try:
        number = decimal.Decimal(str(value))
        if places is not None:
            number = number.quantize(decimal.Decimal(1).scaleb(-places))
    except (decimal.InvalidOperation, ValueError):
        return str(value)
    return str(number)


def _datetime(value: Any) -> str:
    try:
        moment = datetime.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return moment.strftime("%Y-%m-%d %H:%M:%S")
