"""The README's "Customising" examples, as written there (tests/test_ui_customising.py checks
that the README shows this code, and runs it)."""

# -- Add a column, add a filter ---------------------------------------------------------------
import django_filters
import django_tables2 as tables
from django.contrib import admin

from pghistory_admin.admin import EventBrowserAdmin
from pghistory_admin.filters import EventFilter
from pghistory_admin.models import Event
from pghistory_admin.sites import HistorySite
from pghistory_admin.tables import EventTable, cell_attrs


class ShopEventTable(EventTable):
    # A plain column: the `source` that `pghistory.context(source=...)` recorded.
    source = tables.Column(
        "Source",
        accessor="metadata__source",
        default="—",
        orderable=False,
        attrs=cell_attrs("source", "Source"),
    )
    # A template column: a product's SKU as the event stored it.
    sku = tables.TemplateColumn(
        "<code>{{ record.data.sku }}</code>", verbose_name="SKU then", orderable=False
    )
    # A link column: the event's own page.
    details = tables.LinkColumn(
        "shop_admin:pghistory_ui_event_event",
        args=[tables.A("slug")],
        text="Open",
        verbose_name="Details",
        orderable=False,
    )
    # A column rendered by a method.
    size = tables.Column("Fields changed", empty_values=(), orderable=False)

    class Meta(EventTable.Meta):
        row_attrs = {
            "data-event": lambda record: record.slug,
            "data-model": lambda record: record.model_label,
        }

    def render_size(self, record):
        return len(record.changes)


class ShopEventFilter(EventFilter):
    source = django_filters.CharFilter(label="Source", method="filter_source")

    def filter_source(self, queryset, name, value):
        return queryset.filter(pgh_context__source=value) if value else queryset


# -- Mount the UI on a custom admin site, with its own rules ---------------------------------
class ShopHistoryAdmin(EventBrowserAdmin):
    table_class = ShopEventTable
    filterset_class = ShopEventFilter

    def can_revert(self, request, model):
        # Only the shop's managers put things back.
        return (
            super().can_revert(request, model)
            and request.user.groups.filter(name="Managers").exists()
        )

    def redacted_fields(self, request, model):
        # The notes kept on customers are for superusers' eyes only.
        fields = super().redacted_fields(request, model)
        if model._meta.label == "shop.Customer" and not request.user.is_superuser:
            fields = fields | {"notes"}
        return fields


shop_admin = admin.AdminSite(name="shop_admin")
shop_admin.register(Event, ShopHistoryAdmin)


# -- The standalone pages take the same methods ---------------------------------------------
class ShopHistorySite(HistorySite):
    table_class = ShopEventTable

    def can_browse(self, request):
        # Support staff browse history too, without being staff of the admin.
        return super().can_browse(request) or request.user.groups.filter(name="Support").exists()
