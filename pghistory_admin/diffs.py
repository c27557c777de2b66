"""What changed between two stored states of an object, field by field, as people read it.

`compare()` is the one diff of the UI: the browser's summary, the timeline, the event page,
the comparison of two versions, the revert confirmation and the export all use it. Stored
values are JSON (`pgh_data`, `pgh_diff`) keyed by column; a `FieldDiff` maps them back to the
tracked model's field (verbose name, choice labels, money with its decimals, related objects'
string forms), marks changed words inside long text and changed keys inside JSON.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import difflib
import functools
import json
import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.db import models
from django.utils import timezone
from django.utils.text import capfirst

from pghistory import removed, retired
from pghistory.config import redact, redacted_columns
from pghistory_admin import loading
from pghistory_admin.conf import history_database

#: A value longer than this is named in a diff summary but not shown.
SHORT_VALUE = 40
#: Text at least this long is compared word by word.
LONG_TEXT = 40

_MISSING = object()

#: `redacted(model)`: the columns of a tracked model whose values a page must not show.
Redaction = Callable[[type[models.Model] | None], frozenset[str]]
_WORDS = re.compile(r"\s+|[^\s]+")


@dataclasses.dataclass
class FieldDiff:
    """One field in two states: its name, verbose name, and stored old and new values.

    `old`/`new` are the stored JSON values; `missing` marks a side that has no state at all
    (before the first event, after a deletion).
    """

    name: str
    label: str
    old: Any
    new: Any
    field: models.Field | None = None
    #: Display strings set by `load_related()` for foreign keys (old, new).
    related: dict[str, str] = dataclasses.field(default_factory=dict)
    #: For a redacted field (`old`/`new` then hold `REDACTED`): whether its value changed.
    redacted_change: bool | None = None

    @property
    def changed(self) -> bool:
        if self.redacted_change is not None:
            return self.redacted_change
        return self.old != self.new

    @property
    def redacted(self) -> bool:
        return self.redacted_change is not None

    @property
    def old_display(self) -> str:
        if self.redacted:
            return display_value(None, self.old)
        return self.related.get("old") or display_value(self.field, self.old)

    @property
    def new_display(self) -> str:
        if self.redacted:
            return display_value(None, self.new)
        return self.related.get("new") or display_value(self.field, self.new)

    @property
    def is_short(self) -> bool:
        return max(len(self.old_display), len(self.new_display)) <= SHORT_VALUE

    @property
    def is_json(self) -> bool:
        return not self.redacted and (
            isinstance(self.field, models.JSONField)
            or isinstance(self.old, dict | list)
            or (isinstance(self.new, dict | list))
        )

    @property
    def word_marks(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]] | None:
        """For long text: the old and new text as (kind, words) runs, kind being "same",
        "del" (only in the old text) or "ins" (only in the new one)."""
        if self.redacted or not (isinstance(self.old, str) and isinstance(self.new, str)):
            return None
        if (
            max(len(self.old), len(self.new)) < LONG_TEXT
            or self.field is not None
            and (self.field.choices)
        ):
            return None
        return word_diff(self.old, self.new)

    @property
    def json_changes(self) -> list[tuple[str, str, str]]:
        """For JSON values: (path, old, new) of every leaf that differs, "—" where absent."""
        if not self.is_json:
            return []
        return [
            (path, _json_text(old), _json_text(new))
            for path, old, new in json_diff(self.old, self.new)
        ]


@functools.cache
def fields_by_column(model: type[models.Model] | None) -> dict[str, models.Field]:
    """The concrete fields of a tracked model, by column name (the keys of stored data), in
    the model's order. Worked out once per model: callers only read it."""
    if model is None:
        return {}
    return {field.column: field for field in model._meta.concrete_fields}


@functools.cache
def _positions(model: type[models.Model] | None) -> dict[str, int]:
    return {column: position for position, column in enumerate(fields_by_column(model))}


def in_field_order(model: type[models.Model] | None, columns) -> list[str]:
    """`columns` (keys of stored data) in `model`'s field order, then the columns it no
    longer has, by name."""
    positions = _positions(model)
    return sorted(columns, key=lambda column: (positions.get(column, len(positions)), column))


def compare(
    model: type[models.Model] | None,
    before: dict | None,
    after: dict | None,
    *,
    only_changed: bool = False,
    redacted: Redaction = redacted_columns,
) -> list[FieldDiff]:
    """Every stored field of `model` in two states (`pgh_data`-like dicts keyed by column),
    in the model's field order; with `only_changed`, just the fields that differ.
    `redacted(model)` names the columns whose values are hidden (a view passes the rules'
    for its request)."""
    before, after = before or {}, after or {}
    diffs = []
    for column, name, label, field, hidden in stored_fields(
        model, frozenset(before) | frozenset(after), redacted(model), retired.reading()
    ):
        old, new = before.get(column), after.get(column)
        if only_changed and old == new:
            continue
        diff = FieldDiff(name, label, old, new, field)
        if hidden:
            # That it changed shows; what it was and became does not.
            diff.redacted_change = old != new
            diff.old, diff.new = redact(old), redact(new)
        diffs.append(diff)
    return diffs


@functools.lru_cache(maxsize=4096)
def stored_fields(
    model: type[models.Model] | None,
    columns: frozenset[str],
    hidden: frozenset[str],
    reading: int = 0,
) -> tuple[tuple[str, str, str, models.Field | None, bool], ...]:
    """(column, name, label, field, redacted?) of stored `columns` of `model`: in the
    model's field order, then the columns it no longer has: a retired field under its
    verbose name, marked "(removed field)" (`pghistory.retired`; `reading` is the catalog's
    `retired.reading()`, which the answer depends on), anything else by its column. The one
    naming, order and redaction of stored values, for pages and exports alike."""
    by_column = fields_by_column(model)
    gone = retired.retired_fields(model, history_database()) if model is not None else {}
    shape = []
    for column in in_field_order(model, columns):
        field = by_column.get(column)
        if field is None and column in gone:
            stored = gone[column]
            label = f"{capfirst(stored.verbose_name or stored.name)} (removed field)"
            shape.append(
                (column, stored.name or column, label, _stand_in(stored), column in hidden)
            )
        elif field is None:  # a column the model no longer has
            shape.append((column, column, column, None, column in hidden))
        else:
            label = capfirst(field.verbose_name)
            shape.append((column, field.name, label, field, column in hidden))
    return tuple(shape)


def _stand_in(stored: retired.StoredColumn) -> models.Field | None:
    """A field (not on any model) that shows a retired column's values as its own field
    did: a foreign key names the objects it pointed to, choices show their labels."""
    if stored.related_model:
        try:
            related = apps.get_model(stored.related_model)
        except LookupError:
            related = None
        if related is not None:
            return models.ForeignKey(related, on_delete=models.DO_NOTHING)
    if stored.choices:
        return models.Field(choices=[list(choice) for choice in stored.choices])
    return None


def changes(
    model: type[models.Model] | None, diff: dict | None, redacted: Redaction = redacted_columns
) -> list[FieldDiff]:
    """The fields changed by one event, from its `pgh_diff` (`{column: [old, new]}`)."""
    if not diff:
        return []
    before = {column: pair[0] for column, pair in diff.items()}
    after = {column: pair[1] for column, pair in diff.items()}
    return compare(model, before, after, redacted=redacted)


def load_related(diffs: list[FieldDiff]) -> None:
    """Name the objects that foreign keys in `diffs` point to (one query for all of them); an
    object that is gone reads as its last known string form, or "#<pk> (deleted)"."""
    name_related(diffs, loading.fetch(related_wanted(diffs)))


def related_wanted(diffs: list[FieldDiff]) -> dict[loading.Key, set]:
    """The objects, by (model, lookup field), that foreign keys in `diffs` point to."""
    wanted: dict[loading.Key, set] = defaultdict(set)
    for diff in diffs:
        if diff.field is not None and diff.field.is_relation and not diff.redacted:
            for value in (diff.old, diff.new):
                if value is not None:
                    key = (diff.field.related_model, diff.field.target_field.attname)
                    wanted[key].add(str(value))
    return wanted


def merge(*wanted: dict[loading.Key, set]) -> dict[loading.Key, set]:
    merged: dict[loading.Key, set] = defaultdict(set)
    for one in wanted:
        for key, values in one.items():
            merged[key] |= values
    return merged


def name_related(diffs: list[FieldDiff], found: dict[loading.Key, dict]) -> None:
    """Set the display of changed foreign keys from the loaded objects `found`, rebuilding
    the ones that are gone from their last event."""
    for (model, target), values in related_wanted(diffs).items():
        objects = found.setdefault((model, target), {})
        missing = values - set(objects)
        if missing and target == model._meta.pk.attname:
            objects.update(last_known(model, missing))
    for diff in diffs:
        if diff.field is None or not diff.field.is_relation:
            continue
        objects = found.get((diff.field.related_model, diff.field.target_field.attname), {})
        for side, value in (("old", diff.old), ("new", diff.new)):
            if value is None:
                continue
            obj = objects.get(str(value))
            if obj is None:
                diff.related[side] = f"#{value} (deleted)"
            elif obj._state.adding:  # rebuilt from its last event: the object is gone
                diff.related[side] = f"{safe_str(obj)} (deleted)"
            else:
                diff.related[side] = safe_str(obj)


def last_known(model: type[models.Model], pks) -> dict[str, models.Model]:
    """Unsaved instances of deleted objects of `model`, rebuilt from the last event each one
    left (one query per event model of `model`), by primary key as text."""
    found: dict[str, models.Model] = {}
    by_column = fields_by_column(model)
    for event_model in removed.all_event_models(history_database()):
        if event_model.pgh_tracked_model._meta.concrete_model is not model._meta.concrete_model:
            continue
        latest = (
            event_model.objects.using(history_database())
            .filter(pgh_obj_id__in=list(pks))
            .order_by("pgh_obj_id", "-pgh_id")
            .distinct("pgh_obj_id")
        )
        stored = [f for f in event_model.pgh_tracked_fields() if f.column in by_column]
        for event in latest:
            key = str(event.pgh_obj_id)
            if key not in found:
                values = {f.attname: getattr(event, f.attname) for f in stored}
                found[key] = model(**values)
    return found


def safe_str(obj: models.Model) -> str:
    """`str(obj)`, or its model and pk when the project's `__str__` fails."""
    # A model's __str__ may follow a relation to a row that is gone; the page must still show.
    try:
        return str(obj)
    except Exception:  # noqa: BLE001 (any failure of project code falls back to the pk)
        return f"{obj._meta.verbose_name} #{obj.pk}"


def word_diff(old: str, new: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """`old` and `new` as runs of (kind, text): "same", "del" (old only), "ins" (new only)."""
    old_words, new_words = _WORDS.findall(old), _WORDS.findall(new)
    matcher = difflib.SequenceMatcher(a=old_words, b=new_words, autojunk=False)
    old_runs, new_runs = [], []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            old_runs.append(("same", "".join(old_words[i1:i2])))
            new_runs.append(("same", "".join(new_words[j1:j2])))
            continue
        if i2 > i1:
            old_runs.append(("del", "".join(old_words[i1:i2])))
        if j2 > j1:
            new_runs.append(("ins", "".join(new_words[j1:j2])))
    return old_runs, new_runs


def json_diff(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """The leaves that differ between two JSON values, as (path, old, new); a missing key's
    side is `_MISSING`."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new), key=str):
            found += json_diff(
                old.get(key, _MISSING), new.get(key, _MISSING), f"{path}.{key}" if path else key
            )
        return found
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        found = []
        for index, (old_item, new_item) in enumerate(zip(old, new)):
            found += json_diff(old_item, new_item, f"{path}[{index}]")
        return found
    return [] if old == new else [(path or "(value)", old, new)]


def _json_text(value: Any) -> str:
    if value is _MISSING:
        return "—"
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


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
    return f"{number:,}"


def _datetime(value: Any) -> str:
    try:
        moment = datetime.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return moment.strftime("%Y-%m-%d %H:%M:%S")
