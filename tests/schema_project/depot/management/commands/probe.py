"""`manage.py probe OUT`: what the depot's history reads as now, as JSON in the file OUT.

For each event model of the app: its table's columns (with their comments) and each event
through the ORM (its fields and `pgh_retired`); `Events` of the app's models, deleted ones
included (`pgh_data`, `pgh_diff`); the columns each trigger writes; and, signed in as a superuser through Django's test client, the standalone
timeline of each item and the CSV export of the items' events.
"""

import json
import re
from pathlib import Path

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection
from django.test import Client

from pghistory.models import Event, Events


class Command(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument("out")
        parser.add_argument("--pages", nargs="*", default=[], help="URLs to fetch as HTML")

    def handle(self, out, pages, **options):
        event_models = [
            model
            for model in apps.get_app_config("depot").get_models()
            if issubclass(model, Event)
        ]
        tables = {}
        for model in event_models:
            table = model._meta.db_table
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,"
                    " col_description(a.attrelid, a.attnum) FROM pg_attribute a"
                    " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped"
                    " ORDER BY a.attnum",
                    [table],
                )
                columns = {
                    name: {"type": kind, "not_null": not_null, "comment": comment}
                    for name, kind, not_null, comment in cursor.fetchall()
                }
            events = [
                {
                    "pgh_id": event.pgh_id,
                    "label": event.pgh_label,
                    "fields": {
                        field.attname: getattr(event, field.attname)
                        for field in model._meta.concrete_fields
                        if not field.name.startswith("pgh_")
                    },
                    "retired": event.pgh_retired,
                }
                for event in model.objects.order_by("pgh_id")
            ]
            tables[model._meta.label] = {"table": table, "columns": columns, "events": events}

        # Every event of the app's models, those of deleted ones too.
        aggregated = list(
            Events.objects.filter(pgh_model__startswith="depot.")
            .order_by("pgh_model", "pgh_id")
            .values("pgh_model", "pgh_id", "pgh_label", "pgh_data", "pgh_diff")
        )
        client = Client()
        user_model = get_user_model()
        root = user_model.objects.filter(
            username="root"
        ).first() or user_model.objects.create_superuser("root", "root@example.com", "secret-pw")
        client.force_login(root)
        fetched = {}
        for url in pages:
            response = client.get(url)
            body = b"".join(response.streaming_content) if response.streaming else response.content
            fetched[url] = {"status": response.status_code, "body": body.decode()}
        result = {
            "tables": tables,
            "events": aggregated,
            "pages": fetched,
            "inserts": trigger_inserts(),
        }
        Path(out).write_text(json.dumps(result, indent=1, default=str))


def trigger_inserts() -> dict[str, list[list[str]]]:
    """{event table: [the columns each installed trigger's INSERT writes, ...]}."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.prosrc FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
            " WHERE NOT t.tgisinternal ORDER BY t.tgname"
        )
        found = {}
        for (source,) in cursor.fetchall():
            match = re.search(r'INSERT INTO "(depot_\w+)" \(([^)]*)\)', source)
            if match:
                found.setdefault(match[1], []).append(re.findall(r'"(\w+)"', match[2]))
    return found
