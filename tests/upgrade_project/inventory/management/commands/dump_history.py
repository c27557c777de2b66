"""`manage.py dump_history OUT.json`: everything the history holds, as JSON.

The event tables and `pghistory_context` are read with plain SQL, so that what is compared is
what the database stores, not what a model makes of it; `Events` and its proxies are read
through their querysets, as an application reads them. Rows are ordered by their keys.
"""

import datetime
import decimal
import json
import uuid
from pathlib import Path

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection

import pghistory
from inventory.models import InventoryEvents, LedgerEntry, Note, Product
from pghistory.models import Event, Events, MiddlewareEvents

EVENTS_FIELDS = [
    "pgh_slug",
    "pgh_model",
    "pgh_id",
    "pgh_created_at",
    "pgh_label",
    "pgh_data",
    "pgh_diff",
    "pgh_context_id",
    "pgh_context",
    "pgh_obj_model",
    "pgh_obj_id",
]


def plain(value):
    """A JSON value for what the driver or a queryset returns, with nothing rounded."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    raise TypeError(f"cannot dump {type(value).__name__}: {value!r}")


def table_rows(table, order_by):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)} ORDER BY {order_by}")
        columns = [column.name for column in cursor.description]
        rows = [dict(zip(columns, row)) for row in cursor.fetchall()]
    return {"columns": columns, "rows": rows}


class Command(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument("out")

    def handle(self, *args, out, **options):
        event_models = sorted(
            (
                model
                for model in apps.get_app_config("inventory").get_models()
                if issubclass(model, Event)
            ),
            key=lambda model: model._meta.label,
        )
        dump = {
            "package": {"file": pghistory.__file__, "version": pghistory.__version__},
            "event_models": {
                tracked._meta.label: {
                    label: model._meta.label for label, model in tracked.pgh_event_models.items()
                }
                for tracked in (Product, LedgerEntry, Note)
            },
            "tables": {
                model._meta.label: table_rows(model._meta.db_table, "pgh_id")
                for model in event_models
            },
            "contexts": table_rows("pghistory_context", "created_at, id")["rows"],
            "events": list(Events.objects.order_by("pgh_model", "pgh_id").values(*EVENTS_FIELDS)),
            "inventory_events": list(
                InventoryEvents.objects.order_by("pgh_model", "pgh_id").values(
                    "pgh_slug", "user", "context_user", "url"
                )
            ),
            "middleware_events": list(
                MiddlewareEvents.objects.order_by("pgh_model", "pgh_id").values(
                    "pgh_slug", "user", "url"
                )
            ),
            "kettle_tracks": list(
                Events.objects.tracks(Product.objects.filter(code__endswith="-kettle"))
                .order_by("pgh_model", "pgh_id")
                .values_list("pgh_slug", flat=True)
            ),
            "kettle_references": list(
                Events.objects.references(*Product.objects.filter(code__endswith="-kettle"))
                .order_by("pgh_model", "pgh_id")
                .values_list("pgh_slug", flat=True)
            ),
        }
        Path(out).write_text(json.dumps(dump, default=plain, indent=1, sort_keys=True))
        self.stdout.write(f"dumped to {out}")
