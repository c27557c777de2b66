from django.contrib import admin

from inventory.models import LedgerEntry, Note, Product

admin.site.register(Product)
admin.site.register(LedgerEntry)
admin.site.register(Note)
