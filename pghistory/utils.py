"""Names that migrations and code written for django-pghistory 3.9 import from here."""

from __future__ import annotations

from django.db import models
from django.utils.version import get_version_tuple

from pghistory import config


class JSONField(models.JSONField):
    """A JSON field that encodes with `PGHISTORY_JSON_ENCODER`.

    Migrations name it by this path (`pghistory.utils.JSONField`); the encoder is a setting,
    so it stays out of them.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("encoder", config.json_encoder())
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("encoder", None)
        return name, path, args, kwargs


def related_model(field: models.Field) -> type[models.Model] | None:
    """The concrete model a relation field points to, or None for other fields."""
    target = getattr(field, "related_model", None)
    return target._meta.concrete_model if target else None


def _psycopg_version() -> tuple:
    try:
        import psycopg as driver
    except ImportError:
        import psycopg2 as driver
    return get_version_tuple(driver.__version__.split(" ", 1)[0])


#: The installed Postgres driver's version, and its major version (2 or 3).
psycopg_version = _psycopg_version()
psycopg_maj_version = psycopg_version[0]
