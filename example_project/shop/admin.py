"""The shop in the Django admin."""

from django.contrib import admin
from django.db.models import Count, DecimalField, ExpressionWrapper, F, OuterRef, Subquery, Sum

from example_project.shop.models import (
    Customer,
    Order,
    OrderLine,
    Product,
    ProductTag,
    StaffMember,
    Tag,
)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "city", "is_vip", "created_at"]
    list_filter = ["is_vip", "city"]
    search_fields = ["name", "email", "city"]
    readonly_fields = ["created_at"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "product_count"]
    search_fields = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(product_count=Count("product_tags"))

    @admin.display(description="products", ordering="product_count")
    def product_count(self, tag):
        return tag.product_count


class ProductTagInline(admin.TabularInline):
    model = ProductTag
    extra = 0
    autocomplete_fields = ["tag"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "sku", "category", "price", "stock", "is_active"]
    list_filter = ["category", "is_active", "tags"]
    search_fields = ["name", "sku", "description"]
    inlines = [ProductTagInline]


@admin.register(ProductTag)
class ProductTagAdmin(admin.ModelAdmin):
    list_display = ["product", "tag"]
    list_filter = ["tag"]
    list_select_related = ["product", "tag"]
    search_fields = ["product__name", "product__sku", "tag__name"]
    autocomplete_fields = ["product", "tag"]


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    autocomplete_fields = ["product"]


# A subquery rather than a join and GROUP BY: it runs for the rows of the page only.
_ORDER_TOTAL = Subquery(
    OrderLine.objects.filter(order=OuterRef("pk"))
    .values("order")
    .annotate(
        total=Sum(
            ExpressionWrapper(
                F("quantity") * F("unit_price"),
                output_field=DecimalField(max_digits=12, decimal_places=2),
            )
        )
    )
    .values("total")
)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["__str__", "customer", "status", "placed_at", "total"]
    list_filter = ["status", "placed_at"]
    list_select_related = ["customer"]
    search_fields = ["customer__name", "customer__email", "shipping_address", "note"]
    date_hierarchy = "placed_at"
    autocomplete_fields = ["customer"]
    inlines = [OrderLineInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(total=_ORDER_TOTAL)

    @admin.display(description="total (EUR)", ordering="total")
    def total(self, order):
        return order.total


@admin.register(OrderLine)
class OrderLineAdmin(admin.ModelAdmin):
    list_display = ["order", "product", "quantity", "unit_price"]
    list_select_related = ["order", "product"]
    search_fields = ["product__name", "product__sku"]
    autocomplete_fields = ["order", "product"]


@admin.register(StaffMember)
class StaffMemberAdmin(admin.ModelAdmin):
    """The staff accounts, with the fields whose history is kept (passwords are managed
    under Authentication › Users)."""

    list_display = ["username", "first_name", "last_name", "email", "is_active", "is_superuser"]
    list_filter = ["is_active", "is_superuser"]
    search_fields = ["username", "first_name", "last_name", "email"]
    fields = ["username", "first_name", "last_name", "email", "is_staff", "is_active"]
    readonly_fields = ["username"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(is_staff=True)

    def has_add_permission(self, request):
        return False
