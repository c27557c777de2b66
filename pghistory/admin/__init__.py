"""Admin classes for events: the aggregate `Events` and each event model, view-only."""

from django.apps import apps as registry  # (this package has an apps module)
from django.contrib import admin
from django.contrib.admin.utils import display_for_field
from django.core.exceptions import FieldDoesNotExist
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


def _tracked_model(event):
    """The tracked model of an event, or of an `Events` row (None if it is gone)."""
    tracked = getattr(event, "pgh_tracked_model", None)
    if tracked is not None:
        return tracked
    try:
        return registry.get_model(event.pgh_obj_model)
    except (LookupError, ValueError):
        return None


def _redacted_names(tracked) -> set[str]:
    hidden = config.redacted_columns(tracked)
    return {field.name for field in tracked._meta.concrete_fields if field.column in hidden}


class BaseEventAdmin(admin.ModelAdmin):
    """A read-only admin that never counts the whole history. The values of redacted fields
    (`PGHISTORY_ADMIN_REDACT`, and `auth.User`'s password) show as "[redacted]", in lists,
    in stored data and diffs, and on an event's own page."""

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
        return self._redacting([field.name for field in self.model._meta.fields])

    def get_fields(self, request, obj=None):
        # Every field is read-only (and a redacted one is shown by its callable only).
        return self.get_readonly_fields(request, obj)

    def get_list_display(self, request):
        return self._redacting(super().get_list_display(request))

    def _redacting(self, names: list) -> list:
        """`names` (of fields to show), with a field that may hold redacted values replaced
        by a callable that shows it with them hidden."""
        return [self._redacted_display(name) or name for name in names]

    def _redacted_display(self, name):
        try:
            field = self.model._meta.get_field(name) if isinstance(name, str) else None
        except FieldDoesNotExist:
            return None
        if field is None:
            return None
        tracked = getattr(self.model, "pgh_tracked_model", None)
        if name in ("pgh_data", "pgh_diff"):  # {column: value} or {column: [old, new]}
            hide = (
                config.redact if name == "pgh_data" else (lambda p: [config.redact(v) for v in p])
            )

            def value(event):
                stored = getattr(event, name)
                hidden = config.redacted_columns(_tracked_model(event))
                if not stored or not hidden:
                    return stored
                return {c: hide(v) if c in hidden else v for c, v in stored.items()}

        elif tracked is not None and name in _redacted_names(tracked):

            def value(event):
                return config.redact(getattr(event, field.attname))

        else:
            return None

        def show(event):
            return display_for_field(value(event), field, self.get_empty_value_display())

        show.short_description = field.verbose_name
        show.__name__ = name  # (the cell's class stays field-<name>)
        return show

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
        return self._redacting(config.admin_list_display())

    def get_queryset(self, request):
        queryset = config.admin_queryset()
        if not config.admin_all_events() and not (
            {"pgh_obj_model", "pgh_obj_id", "pgh_model", "pgh_context_id"} & set(request.GET)
        ):
            queryset = queryset.none()
        return queryset


__all__ = ["BaseEventAdmin", "EventModelAdmin", "EventModelFilter", "EventsAdmin", "LabelFilter"]
