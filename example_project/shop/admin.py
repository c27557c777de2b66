"""The shop in the Django admin."""

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import BadRequest, FieldDoesNotExist, ValidationError
from django.db import models
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


def reject_nul(*values: str) -> None:
    """400 Bad Request for a NUL character: Postgres text cannot hold one, so psycopg refuses
    any query with it (in the middle of rendering the page, as a server error)."""
    if any("\x00" in value for value in values):
        raise BadRequest("The request contains a NUL character.")


class ShopChangeList(ChangeList):
    """Django's changelist, answering 400 Bad Request for the query strings it would fail on
    with a server error: a NUL character anywhere, and a `date_hierarchy` year so large that
    the end of its year (or month) is past 9999 or the number does not fit a C long. Bad
    dates that Django catches itself (`__month=13`) still redirect to `?e=1`, as always."""

    def get_filters(self, request):
        reject_nul(*(text for key, values in request.GET.lists() for text in (key, *values)))
        try:
            return super().get_filters(request)
        except (OverflowError, ValueError) as error:
            raise BadRequest("A date in the query string is out of range.") from error


class ShopModelAdmin(admin.ModelAdmin):
    """The base of the shop's admin classes: the changelist above, search terms (of the
    changelist and of the autocomplete widgets) checked the same way, and an add page's
    initial values from the query string made values of their fields."""

    def get_changelist(self, request, **kwargs):
        return ShopChangeList

    def get_search_results(self, request, queryset, search_term):
        reject_nul(search_term)
        return super().get_search_results(request, queryset, search_term)

    def get_changeform_initial_data(self, request):
        # Django hands the query string's text to the widgets as it is, and two kinds fail
        # on it with a server error: the date and time widgets on any text
        # (`?placed_at=2024-05-01`), and a related object's widget on a key that is not one
        # (`?customer=abc`). Their values are converted (or refused) first; other widgets
        # show text as text.
        initial = super().get_changeform_initial_data(request)
        for name, value in initial.items():
            values = value if isinstance(value, list) else [value]
            reject_nul(*values)
            try:
                field = self.opts.get_field(name)
            except FieldDoesNotExist:
                continue
            if field.is_relation and (field.many_to_one or field.many_to_many):
                to_python = field.target_field.to_python
            elif isinstance(field, (models.DateField, models.TimeField)):
                to_python = field.to_python  # DateTimeField is a DateField
            else:
                continue
            try:
                converted = [to_python(text) for text in values]
            except ValidationError as error:
                raise BadRequest(f"Not a valid initial {name}.") from error
            initial[name] = converted if isinstance(value, list) else converted[0]
        return initial


@admin.register(Customer)
class CustomerAdmin(ShopModelAdmin):
    list_display = ["name", "email", "city", "is_vip", "created_at"]
    list_filter = ["is_vip", "city"]
    search_fields = ["name", "email", "city"]
    readonly_fields = ["created_at"]


@admin.register(Tag)
class TagAdmin(ShopModelAdmin):
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
class ProductAdmin(ShopModelAdmin):
    list_display = ["name", "sku", "category", "price", "stock", "is_active"]
    list_filter = ["category", "is_active", "tags"]
    search_fields = ["name", "sku", "description"]
    inlines = [ProductTagInline]


@admin.register(ProductTag)
class ProductTagAdmin(ShopModelAdmin):
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
class OrderAdmin(ShopModelAdmin):
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
class OrderLineAdmin(ShopModelAdmin):
    list_display = ["order", "product", "quantity", "unit_price"]
    list_select_related = ["order", "product"]
    search_fields = ["product__name", "product__sku"]
    autocomplete_fields = ["order", "product"]


@admin.register(StaffMember)
class StaffMemberAdmin(ShopModelAdmin):
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
