"""Loading the objects a page names (events' objects, users, what foreign keys point to) for
every model at once: one query, however many models a page shows."""

from __future__ import annotations

import decimal
import json
from collections import defaultdict
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connections, models

from pghistory import removed
from pghistory.trigger import quote
from pghistory_admin.conf import history_database

#: (model, attname of the field objects are looked up by)
Key = tuple[type[models.Model], str]


def fetch(wanted: dict[Key, set], using: str | None = None) -> dict[Key, dict[str, Any]]:
    """The rows of several models whose lookup field has one of the wanted values, as model
    instances by that value as text. Plain tables are read in one `UNION ALL` query of
    `to_jsonb(row)`; a model with multi-table parents goes through the ORM, so that its
    inherited fields are there too."""
    using = using or history_database()
    found: dict[Key, dict[str, Any]] = {key: {} for key, values in wanted.items() if values}
    branches, params, keys = [], [], []
    connection = connections[using]
    for (model, attname), values in wanted.items():
        if not values:
            continue
        if removed.is_removed(model):  # (its table is gone: none of its objects exists)
            found[model, attname] = {}
            continue
        field = _field(model, attname)
        if model._meta.concrete_model._meta.parents:  # (a proxy's parent is its own table)
            objects = (
                model._base_manager.using(using)
                .order_by()
                .in_bulk(list(values), field_name=field.name)
            )
            found[model, attname] = {str(key): obj for key, obj in objects.items()}
            continue
        column_type = field.cast_db_type(connection)
        branches.append(
            f"SELECT {len(keys)}, to_jsonb(t) FROM {quote(model._meta.db_table)} t"
            f" WHERE t.{quote(field.column)} = ANY(%s::text[]::{column_type}[])"
        )
        params.append(sorted(str(value) for value in values))
        keys.append((model, attname))
    if branches:
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(branches), params)
            for index, data in cursor.fetchall():
                model, attname = keys[index]
                obj = _instance(model, data, using)
                found[model, attname][str(getattr(obj, attname))] = obj
    return found


def _field(model: type[models.Model], attname: str) -> models.Field:
    return next(field for field in model._meta.concrete_fields if field.attname == attname)


def stored_values(model: type[models.Model], data: dict) -> dict[str, Any]:
    """A row's JSON (keyed by column, as `to_jsonb` and `pgh_data` hold it) as the model's
    attribute values; a value its field cannot read is left out."""
    values = {}
    for field in model._meta.concrete_fields:
        if field.column in data:
            try:
                values[field.attname] = field.to_python(data[field.column])
            except (ValidationError, TypeError, ValueError):
                continue
    return values


#: Reads a row's JSON with its numbers exact (one decoder, not one per row).
_ROW_JSON = json.JSONDecoder(parse_float=decimal.Decimal)


def _instance(model: type[models.Model], data: Any, using: str) -> models.Model:
    """A model instance from a row's JSON, as if the ORM had read it."""
    if isinstance(data, str):
        data = _ROW_JSON.decode(data)
    values = stored_values(model, data)
    return model.from_db(using, list(values), list(values.values()))


def pointers(instances: list[models.Model]) -> list[tuple[models.Model, models.Field, Any]]:
    """(instance, foreign key, value) for every set foreign key of the instances."""
    return [
        (obj, field, getattr(obj, field.attname))
        for obj in instances
        for field in obj._meta.concrete_fields
        if (field.many_to_one or field.one_to_one) and getattr(obj, field.attname) is not None
    ]


def wanted_by(found_pointers) -> dict[Key, set]:
    wanted: dict[Key, set] = defaultdict(set)
    for _, field, value in found_pointers:
        wanted[field.related_model, field.target_field.attname].add(str(value))
    return wanted


def attach(found_pointers, found: dict[Key, dict[str, Any]]) -> None:
    """Cache on each instance the object its foreign key points to; a pointer to a row that is
    gone reads as None instead of querying again."""
    for obj, field, value in found_pointers:
        objects = found.get((field.related_model, field.target_field.attname), {})
        field.set_cached_value(obj, objects.get(str(value)))
