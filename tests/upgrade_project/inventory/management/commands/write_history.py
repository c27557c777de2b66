"""Write a round of history the ways an application does: `manage.py write_history --round N`.

Every object of round N has a code starting with `rN-`, so two rounds (one under 3.9.2, one
under our package) write the same kinds of events and can be compared.
"""

import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import F
from django.test import Client

import pghistory
from inventory.models import LedgerEntry, Note, Product


class Command(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument("--round", type=int, required=True)

    def handle(self, *args, **options):
        number = options["round"]
        p = f"r{number}-"
        User = get_user_model()
        clerk, created = User.objects.get_or_create(username="clerk")
        if created:
            clerk.set_password("clerk-password")
            clerk.save()

        # create() and save(): an insert each, then updates; a save that changes nothing
        # tracked is no event, and only a change of qty is a qty_changed event.
        kettle = Product.objects.create(
            code=f"{p}kettle",
            name="Kettle",
            price=Decimal("10.00"),
            qty=3,
            owner=clerk,
            attrs={"color": "red", "sizes": [1, 2]},
            added=datetime.date(2024, 1, 2),
        )
        grinder = Product.objects.create(code=f"{p}grinder", name="Grinder", price="45.90")
        kettle.name = "Steel kettle"
        kettle.save()
        kettle.save()
        grinder.qty = 7
        grinder.attrs = {"burr": "conical"}
        grinder.save()

        # bulk_create, then QuerySet.update of qty (update + qty_changed) and of a name only.
        Product.objects.bulk_create(
            [
                Product(code=f"{p}mug-{i}", name=f"Mug {i}", price=Decimal("4.50"), qty=i)
                for i in (1, 2, 3)
            ]
        )
        mugs = Product.objects.filter(code__startswith=f"{p}mug-")
        mugs.update(qty=F("qty") + 10)
        mugs.filter(code=f"{p}mug-1").update(name="Big mug")
        mugs.update(price=F("price"))  # nothing changes: no event

        # Inside a context, nested: one context row, metadata merged.
        with pghistory.context(reason="restock", batch=7), transaction.atomic():
            grinder.qty = 12
            grinder.save()
            with pghistory.context(step="notes"):
                Note.objects.create(code=f"{p}note-a", product=grinder, body="Restocked")

        # The statement-level model: create, bulk_create, update, a no-op update, delete.
        LedgerEntry.objects.create(code=f"{p}entry-1", product=kettle, amount="10.00")
        LedgerEntry.objects.bulk_create(
            [
                LedgerEntry(code=f"{p}entry-2", product=grinder, amount="45.90", memo="x"),
                LedgerEntry(code=f"{p}entry-3", product=None, amount="-1.00"),
            ]
        )
        entries = LedgerEntry.objects.filter(code__startswith=p)
        entries.filter(amount__gt=0).update(memo="paid")
        entries.update(amount=F("amount"))  # nothing changes: no event
        with pghistory.context(reason="cleanup"):
            entries.filter(code=f"{p}entry-3").delete()

        # The denormalized-context model: a pinned-only change is no update event.
        note = Note.objects.create(code=f"{p}note-b", product=kettle, body="Fragile")
        note.pinned = True
        note.save()
        note.body = "Fragile, handle with care"
        note.save()
        with pghistory.context(reason="tidy"):
            Note.objects.filter(code=f"{p}note-a").delete()

        # Deletes: a model instance, and a queryset (the ledger entry pointing to mug-2 is
        # set to NULL by Django's collector first: a statement-level update).
        LedgerEntry.objects.create(
            code=f"{p}entry-4", product=mugs.get(code=f"{p}mug-2"), amount="4.50"
        )
        Product.objects.get(code=f"{p}mug-3").delete()
        Product.objects.filter(code=f"{p}mug-2").delete()

        # Requests through HistoryMiddleware, signed in as the clerk.
        client = Client()
        client.force_login(clerk)
        requests = [
            ("get", f"/products/{p}kettle/", {}, 200),
            ("post", f"/products/{p}kettle/edit/", {"price": "12.50", "qty": "5"}, 200),
            ("post", f"/products/{p}kettle/edit/", {"price": "12.50", "qty": "5"}, 200),
            ("post", f"/products/{p}kettle/notes/", {"code": f"{p}note-c", "body": "Dented"}, 201),
            (
                "post",
                f"/products/{p}kettle/ledger/",
                {"code": f"{p}entry-5", "amount": "12.50"},
                201,
            ),
        ]
        for method, url, data, status in requests:
            response = getattr(client, method)(url, data)
            if response.status_code != status:
                raise CommandError(f"{method.upper()} {url}: {response.status_code}, not {status}")
        self.stdout.write(f"round {number} written")
