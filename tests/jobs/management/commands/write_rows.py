"""`manage.py write_rows N [--api-key K] [--password P] [--database-url U] [NAME=VALUE ...]`:
writes N `RowModel` rows (int_field 1..N) and adds `rows: N` to the context."""

from django.core.management.base import BaseCommand

import pghistory
from tests.testapp.models import RowModel


class Command(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument("count", type=int)
        parser.add_argument("pairs", nargs="*")
        parser.add_argument("--api-key")
        parser.add_argument("--password")
        parser.add_argument("--database-url")
        parser.add_argument("--label")

    def handle(self, *args, count, **options):
        pghistory.context(rows=count)
        for value in range(1, count + 1):
            RowModel.objects.create(int_field=value)
