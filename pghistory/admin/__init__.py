"""Admin classes for events: the aggregate `Events` and each event model, view-only."""

from django.contrib import admin
from django.core.paginator import Paginator
from django.utils.functional import cached_property

from pghistory import config
from pghistory.aggregation import event_models


class _PeekPaginator(Paginator):
    """Pages without counting: it reads one row past the page to know whether another follows."""

    def __init__(self, object_list, per_page, page_number, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.page_number = page_number

    @cached_property
    def count(self) -> int:
        offset = (self.page_number - 1) * self.per_page
        peeked = len(self.object_list[offset : offset + self.per_page + 1])
        return offset + peeked


class LabelFilter(admin.SimpleListFilter):
    """Filter events by label."""

    title = "label"
    parameter_name = "pgh_label"

    def lookups(self, request, model_admin):
        labels = sorted(
            {
                tracker.label
                for event_model in event_models()
                for tracker in event_model.pgh_trackers or ()
            }
        )
        return [(label, label) for label in labels]

    def queryset(self, request, queryset):
        return queryset.filter(pgh_label=self.value()) if self.value() else queryset


class EventModelFilter(admin.SimpleListFilter):
    """Filter the aggregate by event model."""

    title = "event model"
    parameter_name = "pgh_model"

    def lookups(self, request, model_admin):
        return [(model._meta.label, model._meta.label) for model in event_models()]

    def queryset(self, request, queryset):
        return queryset.across(self.value()) if self.value() else queryset


class BaseEventAdmin(admin.ModelAdmin):
    """A read-only admin that never counts the whole history."""

    list_filter = [LabelFilter]
    show_full_result_count = False
    if hasattr(admin, "ShowFacets"):  # Django 5.0+: facet counts would count the history
        show_facets = admin.ShowFacets.NEVER
    list_select_related = False

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        try:
            page_number = max(int(request.GET.get("p", 1)), 1)
        except ValueError:
            page_number = 1
        return _PeekPaginator(queryset, per_page, page_number, orphans=orphans)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class EventModelAdmin(BaseEventAdmin):
    """Admin for one event model."""

    list_display = ["pgh_created_at", "pgh_label", "pgh_obj"]


class EventsAdmin(BaseEventAdmin):
    """Admin for the `Events` aggregate (`PGHISTORY_ADMIN_*` settings)."""

    list_filter = [LabelFilter, EventModelFilter]

    def get_list_display(self, request):
        return config.admin_list_display()

    def get_queryset(self, request):
        queryset = config.admin_queryset()
        if not config.admin_all_events() and not (
            {"pgh_obj_model", "pgh_obj_id", "pgh_model", "pgh_context_id"} & set(request.GET)
        ):
            queryset = queryset.none()
        return queryset


__all__ = ["BaseEventAdmin", "EventModelAdmin", "EventModelFilter", "EventsAdmin", "LabelFilter"]
