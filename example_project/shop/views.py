"""The shop's back-office actions: small POST endpoints for staff.

Each one answers in plain text: 200 (or 201 for a new order) when it did its work, 400 with
the reason when the input is wrong, 404 for an unknown object, 405 for anything but POST.
Anonymous and non-staff users are sent to the admin login. `HistoryMiddleware` records the
staff user and the URL of every change these views make.
"""

from __future__ import annotations

import functools
from decimal import Decimal

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_POST

from example_project.shop import clock
from example_project.shop.models import Customer, Order, OrderLine, Product, ProductTag, Tag

MAX_LINES = 20
MAX_QUANTITY = 100
MAX_RESTOCK = 10_000
MAX_REASON = 200


class BadInput(Exception):
    """The request's input is wrong; the message says why and goes back as a 400."""


def _text(message: str, status: int = 200) -> HttpResponse:
    return HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")


def staff_action(view):
    """Staff only, POST only, and `BadInput` answered as 400 Bad Request."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except BadInput as error:
            return _text(str(error), status=400)

    return staff_member_required(require_POST(wrapper))


def _int(value: str | None, name: str, low: int, high: int) -> int:
    if value is None or not value.strip():
        raise BadInput(f"{name} is required")
    try:
        if not value.isascii():  # int() would take other scripts' digits too
            raise ValueError
        number = int(value.strip())
    except ValueError:
        raise BadInput(f"{name} must be a whole number, not {value!r}") from None
    if not low <= number <= high:
        raise BadInput(f"{name} must be between {low} and {high}")
    return number


def _text_field(value: str | None, name: str, max_length: int, required: bool = False) -> str:
    value = (value or "").strip()
    if "\x00" in value:
        raise BadInput(f"{name} contains a NUL character")
    if required and not value:
        raise BadInput(f"{name} is required")
    if len(value) > max_length:
        raise BadInput(f"{name} is longer than {max_length} characters")
    return value


def _bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise BadInput(f"{name} must be true or false, not {value!r}")


@staff_action
def create_order(request):
    """Place an order: `customer`, `shipping_address`, optional `note`, and one `product` and
    `quantity` pair per line (repeat both). Takes the units out of stock."""
    customer_id = _int(request.POST.get("customer"), "customer", 1, 2**63 - 1)
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise BadInput(f"there is no customer {customer_id}")
    address = _text_field(
        request.POST.get("shipping_address"), "shipping_address", 500, required=True
    )
    note = _text_field(request.POST.get("note"), "note", 1000)

    product_ids = request.POST.getlist("product")
    quantities = request.POST.getlist("quantity")
    if not product_ids:
        raise BadInput("an order needs at least one product")
    if len(product_ids) != len(quantities):
        raise BadInput("give one quantity for each product")
    if len(product_ids) > MAX_LINES:
        raise BadInput(f"an order has at most {MAX_LINES} lines")
    wanted: dict[int, int] = {}
    for raw_id, raw_quantity in zip(product_ids, quantities):
        product_id = _int(raw_id, "product", 1, 2**63 - 1)
        if product_id in wanted:
            raise BadInput(f"product {product_id} is listed twice")
        wanted[product_id] = _int(raw_quantity, "quantity", 1, MAX_QUANTITY)

    with transaction.atomic():
        products = Product.objects.select_for_update().in_bulk(list(wanted))
        for product_id, quantity in wanted.items():
            product = products.get(product_id)
            if product is None or not product.is_active:
                raise BadInput(f"product {product_id} is not for sale")
            if product.stock < quantity:
                raise BadInput(f"only {product.stock} left of {product.name}")
        order = Order.objects.create(
            customer=customer, shipping_address=address, note=note, placed_at=clock.now()
        )
        OrderLine.objects.bulk_create(
            OrderLine(
                order=order,
                product=products[product_id],
                quantity=quantity,
                unit_price=products[product_id].price,
            )
            for product_id, quantity in wanted.items()
        )
        for product_id, quantity in wanted.items():
            Product.objects.filter(pk=product_id).update(stock=F("stock") - quantity)

    total = sum(
        (products[product_id].price * quantity for product_id, quantity in wanted.items()),
        Decimal("0.00"),
    )
    response = _text(
        f"Order #{order.pk} placed for {customer.name}: {len(wanted)} line(s), EUR {total}",
        status=201,
    )
    response["Location"] = reverse("admin:shop_order_change", args=[order.pk])
    return response


@staff_action
def set_order_status(request, pk):
    """Move an order on to its next status (`status`): new → paid → shipped → delivered."""
    status = request.POST.get("status", "").strip()
    if status not in Order.Status.values:
        raise BadInput(f"unknown status {status!r}; use one of {', '.join(Order.Status.values)}")
    with transaction.atomic():
        order = get_object_or_404(Order.objects.select_for_update(), pk=pk)
        if Order.NEXT_STATUS.get(order.status) != status:
            raise BadInput(f"order #{order.pk} cannot go from {order.status} to {status}")
        order.status = status
        order.save(update_fields=["status"])
    return _text(f"Order #{order.pk} is now {order.get_status_display().lower()}")


@staff_action
def cancel_order(request, pk):
    """Cancel a new or paid order (optional `reason`) and put its units back in stock."""
    reason = _text_field(request.POST.get("reason"), "reason", MAX_REASON)
    with transaction.atomic():
        order = get_object_or_404(Order.objects.select_for_update(), pk=pk)
        if order.status not in Order.CANCELLABLE:
            raise BadInput(f"order #{order.pk} is {order.status} and can no longer be cancelled")
        order.status = Order.Status.CANCELLED
        if reason:
            order.note = f"{order.note}\nCancelled: {reason}".strip()
        order.save(update_fields=["status", "note"])
        for line in order.lines.all():
            Product.objects.filter(pk=line.product_id).update(stock=F("stock") + line.quantity)
    return _text(f"Order #{order.pk} is cancelled")


@staff_action
def delete_order(request, pk):
    """Delete a cancelled order and its lines."""
    with transaction.atomic():
        order = get_object_or_404(Order.objects.select_for_update(), pk=pk)
        if order.status != Order.Status.CANCELLED:
            raise BadInput(f"order #{order.pk} is {order.status}; only cancelled orders go")
        order.delete()
    return _text(f"Order #{pk} is deleted")


@staff_action
def restock_product(request, pk):
    """Add `quantity` units of a product to the stock."""
    quantity = _int(request.POST.get("quantity"), "quantity", 1, MAX_RESTOCK)
    with transaction.atomic():
        product = get_object_or_404(Product.objects.select_for_update(), pk=pk)
        product.stock += quantity
        product.save(update_fields=["stock"])
    return _text(f"{product.name}: {product.stock} in stock")


@staff_action
def tag_product(request, pk):
    """Put the tag named `add` on a product and/or take the tag named `remove` off it."""
    add = _text_field(request.POST.get("add"), "add", 40)
    remove = _text_field(request.POST.get("remove"), "remove", 40)
    if not add and not remove:
        raise BadInput("give a tag name to add or to remove")
    product = get_object_or_404(Product, pk=pk)
    tags = {tag.name: tag for tag in Tag.objects.filter(name__in=[add, remove])}
    for name in (add, remove):
        if name and name not in tags:
            raise BadInput(f"there is no tag {name!r}")
    with transaction.atomic():
        if add:
            ProductTag.objects.get_or_create(product=product, tag=tags[add])
        if remove:
            ProductTag.objects.filter(product=product, tag=tags[remove]).delete()
    names = ", ".join(product.tags.order_by("name").values_list("name", flat=True))
    return _text(f"{product.name}: {names or 'no tags'}")


#: The customer fields `edit_customer` accepts, each with its parser.
CUSTOMER_FIELDS = {
    "name": lambda value: _text_field(value, "name", 120, required=True),
    "email": lambda value: _text_field(value, "email", 254, required=True),
    "city": lambda value: _text_field(value, "city", 80),
    "is_vip": lambda value: _bool(value, "is_vip"),
    "notes": lambda value: _text_field(value, "notes", 2000),
}


@staff_action
def edit_customer(request, pk):
    """Change any of a customer's `name`, `email`, `city`, `is_vip` and `notes`; fields not
    given keep their value."""
    changes = {
        name: parse(request.POST[name])
        for name, parse in CUSTOMER_FIELDS.items()
        if name in request.POST
    }
    if not changes:
        raise BadInput(f"nothing to change; give any of {', '.join(CUSTOMER_FIELDS)}")
    with transaction.atomic():
        customer = get_object_or_404(Customer.objects.select_for_update(), pk=pk)
        for name, value in changes.items():
            setattr(customer, name, value)
        try:
            customer.full_clean()
        except ValidationError as error:
            messages = "; ".join(
                f"{field}: {' '.join(errors)}" for field, errors in error.message_dict.items()
            )
            raise BadInput(messages) from None
        try:
            with transaction.atomic():
                customer.save(update_fields=list(changes))
        except IntegrityError:  # another request took the email in the meantime
            raise BadInput("email: a customer with this email address already exists") from None
    return _text(f"Customer {customer} updated: {', '.join(changes)}")
