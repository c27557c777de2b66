"""A small coffee shop: customers, a catalogue with tags, orders and the staff who run it.

Every model is tracked with insert, update and delete events. Orders also record a
`status_changed` event whenever their status moves, and staff accounts (Django's own
`auth.User`) are tracked through the `StaffMember` proxy.
"""

from decimal import Decimal

from django.contrib.auth.models import User
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

import pghistory
from example_project.shop import clock


def row_events():
    """The trackers every shop model uses: inserts, updates and deletes."""
    return (pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())


@pghistory.track(*row_events())
class Customer(models.Model):
    name = models.CharField("name", max_length=120)
    email = models.EmailField("email address", unique=True)
    city = models.CharField("city", max_length=80, blank=True)
    is_vip = models.BooleanField(
        "VIP", default=False, help_text="VIP customers get free shipping and early access."
    )
    notes = models.TextField("notes", blank=True)
    created_at = models.DateTimeField("customer since", default=clock.now, editable=False)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = "customer"
        verbose_name_plural = "customers"

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


@pghistory.track(*row_events())
class Tag(models.Model):
    name = models.CharField("name", max_length=40, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "tag"
        verbose_name_plural = "tags"

    def __str__(self) -> str:
        return self.name


@pghistory.track(*row_events())
class Product(models.Model):
    class Category(models.TextChoices):
        COFFEE = "coffee", "Coffee"
        TEA = "tea", "Tea"
        EQUIPMENT = "equipment", "Brewing equipment"
        ACCESSORIES = "accessories", "Accessories"
        BOOKS = "books", "Books"

    name = models.CharField("name", max_length=120)
    sku = models.CharField("SKU", max_length=32, unique=True)
    price = models.DecimalField(
        "price (EUR)",
        max_digits=10,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.00"))],
    )
    stock = models.PositiveIntegerField("units in stock", default=0)
    is_active = models.BooleanField(
        "on sale", default=True, help_text="Inactive products are hidden from the shop."
    )
    category = models.CharField("category", max_length=16, choices=Category.choices)
    description = models.TextField("description", blank=True)
    attributes = models.JSONField(
        "attributes", default=dict, blank=True, help_text="Origin, weight, brand and the like."
    )
    tags = models.ManyToManyField(
        Tag, through="ProductTag", related_name="products", blank=True, verbose_name="tags"
    )

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = "product"
        verbose_name_plural = "products"

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"


@pghistory.track(*row_events())
class ProductTag(models.Model):
    """A tag on a product: the many-to-many table, tracked so tagging shows in the history."""

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="product_tags", verbose_name="product"
    )
    tag = models.ForeignKey(
        Tag, on_delete=models.CASCADE, related_name="product_tags", verbose_name="tag"
    )

    class Meta:
        ordering = ["product", "tag"]
        verbose_name = "product tag"
        verbose_name_plural = "product tags"
        constraints = [
            models.UniqueConstraint(fields=["product", "tag"], name="shop_product_tag_unique")
        ]

    def __str__(self) -> str:
        return f"{self.product.name} #{self.tag.name}"


@pghistory.track(
    *row_events(),
    pghistory.UpdateEvent("status_changed", condition=pghistory.AnyChange("status")),
)
class Order(models.Model):
    class Status(models.TextChoices):
        NEW = "new", "New"
        PAID = "paid", "Paid"
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"
        CANCELLED = "cancelled", "Cancelled"

    #: The one status an order may move on to from each status (cancelling aside).
    NEXT_STATUS = {
        Status.NEW: Status.PAID,
        Status.PAID: Status.SHIPPED,
        Status.SHIPPED: Status.DELIVERED,
    }
    #: The statuses from which an order may still be cancelled.
    CANCELLABLE = (Status.NEW, Status.PAID)

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="orders", verbose_name="customer"
    )
    status = models.CharField(
        "status", max_length=16, choices=Status.choices, default=Status.NEW, db_index=True
    )
    placed_at = models.DateTimeField("placed at", default=clock.now, db_index=True)
    shipping_address = models.TextField("shipping address")
    note = models.TextField("note", blank=True)

    class Meta:
        ordering = ["-placed_at", "-pk"]
        verbose_name = "order"
        verbose_name_plural = "orders"

    def __str__(self) -> str:
        return f"Order #{self.pk} ({self.get_status_display()})"


@pghistory.track(*row_events())
class OrderLine(models.Model):
    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="lines", verbose_name="order"
    )
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="order_lines", verbose_name="product"
    )
    quantity = models.PositiveIntegerField(
        "quantity", validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    unit_price = models.DecimalField(
        "unit price (EUR)",
        max_digits=10,
        decimal_places=2,
        help_text="The product's price when the order was placed.",
    )

    class Meta:
        ordering = ["order", "pk"]
        verbose_name = "order line"
        verbose_name_plural = "order lines"

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product.name}"

    @property
    def total(self) -> Decimal:
        return self.quantity * self.unit_price


@pghistory.track(
    *row_events(),
    fields=[
        "username",
        "first_name",
        "last_name",
        "email",
        "is_staff",
        "is_active",
        "is_superuser",
    ],
    model_name="StaffMemberEvent",
    obj_field=pghistory.ObjForeignKey(related_name="staff_events"),
)
class StaffMember(User):
    """Django's user, tracked (without password and login times) as the shop's staff."""

    class Meta:
        proxy = True
        ordering = ["username"]
        verbose_name = "staff member"
        verbose_name_plural = "staff members"

    def __str__(self) -> str:
        return self.get_full_name() or self.username
