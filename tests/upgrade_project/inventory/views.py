"""Views that write through `HistoryMiddleware` as the signed-in user."""

from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404

from inventory.models import LedgerEntry, Note, Product


@login_required
def show_product(request, code):
    product = get_object_or_404(Product, code=code)
    return HttpResponse(f"{product.name}: {product.qty}")


@login_required
def edit_product(request, code):
    product = get_object_or_404(Product, code=code)
    if request.method == "POST":
        product.price = Decimal(request.POST["price"])
        product.qty = int(request.POST["qty"])
        product.save()
    return HttpResponse(f"{product.name}: {product.price} x {product.qty}")


@login_required
def add_note(request, code):
    product = get_object_or_404(Product, code=code)
    note = Note.objects.create(
        code=request.POST["code"], product=product, body=request.POST["body"]
    )
    return HttpResponse(note.code, status=201)


@login_required
def record_sale(request, code):
    product = get_object_or_404(Product, code=code)
    entry = LedgerEntry.objects.create(
        code=request.POST["code"],
        product=product,
        amount=Decimal(request.POST["amount"]),
        memo="sale",
    )
    product.qty -= 1
    product.save(update_fields=["qty"])
    return HttpResponse(entry.code, status=201)
