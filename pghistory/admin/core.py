"""The admin classes for events: `EventsAdmin` for the `Events` aggregate, `EventModelAdmin`
for one event model, both view-only, and the list filters they share.

The lists answer django-pghistory 3.9's query parameters, so that links written for it keep
working: `obj=<app_label.Model>:<pk>` with `method=tracks` or `method=references`,
`model=<app_label.Model>`, `event_model=<app_label.eventmodel>`, `label=<label>` and
`back=<url>` (a "Back" link to a page of this site). A value that names nothing (an unknown
model, a malformed object, a primary key of the wrong type) gives an empty list, never an
error.

No page counts the whole history: the result line counts exactly up to
`BaseEventAdmin.result_count_limit` events with one LIMITed query, and says "more than ..."
past it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.apps import apps as registry  # (this package has an apps module)
from django.contrib import admin
from django.contrib.admin.utils import display_for_field
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.paginator import Paginator
from django.db import models
from django.utils.functional import cached_property
from django.utils.http import url_has_allowed_host_and_scheme

from pghistory import config, core
from pghistory.aggregation import event_models

#: The query parameters of the aggregate list that name what it shows (`back` is not one).
FILTER_PARAMETERS = ("obj", "method", "model", "event_model", "label")


def get_model(label: str | None) -> type[models.Model] | None:
    """The model named `label` ("app_label.Model", any case), or None."""
    if not label:
        return None
    try:
        return registry.get_model(label)
    except (LookupError, ValueError):
        return None


@dataclass(frozen=True)
class RequestedObject:
    """The object an `obj=<app_label.Model>:<pk>` parameter names (it may since be deleted)."""

    model: type[models.Model]
    pk: object

    @classmethod
    def parse(cls, value: str | None) -> RequestedObject | None:
        """The object `value` names, or None when it is malformed, names no model, or holds
        a primary key that the model's key field cannot hold."""
        label, sep, raw_pk = (value or "").partition(":")
        model = get_model(label)
        if not sep or model is None:
            return None
        field = model._meta.pk
        while field.is_relation:  # (a multi-table child's key is its parent's)
            field = field.target_field
        try:
            return cls(model._meta.concrete_model, field.clean(raw_pk, None))
        except (ValidationError, TypeError, ValueError):
            return None

    @property
    def label(self) -> str:
        return f"{self.model._meta.label}:{self.pk}"

    def instance(self) -> models.Model | None:
        return self.model._base_manager.filter(pk=self.pk).first()


def requested_object(request) -> RequestedObject | None:
    return RequestedObject.parse(request.GET.get("obj"))


def requested_method(request) -> str:
    """How `obj` narrows the events: "tracks" (the default) or "references"."""
    return request.GET.get("method") or "tracks"


def tracking_event_models(model: type[models.Model]) -> list[type[models.Model]]:
    """The event models that track `model` (or the model it is a proxy of)."""
    return core.event_models(tracks_model=model, include_missing_pgh_obj=True)


def referencing_event_models(model: type[models.Model]) -> list[type[models.Model]]:
    """The event models with a foreign key (`pgh_obj` included) to `model`."""
    return core.event_models(references_model=model)


def requested_event_models(request) -> list[type[models.Model]]:
    """The event models whose events the request's `obj` (with its `method`) or `model`
    parameter can show: what the label and event model filters offer."""
    if "obj" in request.GET:
        obj = requested_object(request)
        if obj is None:
            return []
        if requested_method(request) == "references":
            return referencing_event_models(obj.model)
        return tracking_event_models(obj.model)
    if "model" in request.GET:
        model = get_model(request.GET["model"])
        return tracking_event_models(model) if model is not None else []
    return event_models()


def _narrowable(queryset) -> bool:
    """Whether `queryset` is one of the `Events` aggregate (which `across()`, `tracks()` and
    `references()` narrow), rather than of one event model."""
    return hasattr(queryset, "across") and hasattr(queryset, "tracks")


def _redacted_names(tracked) -> set[str]:
    hidden = config.redacted_columns(tracked)
    return {field.name for field in tracked._meta.concrete_fields if field.column in hidden}


def _tracked_model(event):
    """The tracked model of an event, or of an `Events` row (None if it is gone)."""
    tracked = getattr(event, "pgh_tracked_model", None)
    if tracked is not None:
        return tracked
    return get_model(event.pgh_obj_model)


class LabelFilter(admin.SimpleListFilter):
    """Filter events by label (`label=<label>`); it offers the labels of the event models the
    list can show."""

    title = "label"
    parameter_name = "label"

    def lookups(self, request, model_admin):
        from pghistory.models import Event

        if issubclass(model_admin.model, Event):
            shown = [model_admin.model]
        else:
            shown = requested_event_models(request)
        labels = {tracker.label for model in shown for tracker in model.pgh_trackers or ()}
        return [(label, label) for label in sorted(labels)]

    def queryset(self, request, queryset):
        return queryset.filter(pgh_label=self.value()) if self.value() else queryset


class EventModelFilter(admin.SimpleListFilter):
    """Filter the aggregate by event model (`event_model=<app_label.eventmodel>`)."""

    title = "event model"
    parameter_name = "event_model"

    def lookups(self, request, model_admin):
        return sorted(
            (model._meta.label_lower, model._meta.label)
            for model in requested_event_models(request)
        )

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            return queryset.across(self.value())
        except (LookupError, ValueError):  # not an event model
            return queryset.none()


class MethodFilter(admin.SimpleListFilter):
    """How `obj` narrows the aggregate (`method=tracks`, the default, or
    `method=references`). Shown only with an `obj`; the object filter applies it."""

    title = "method"
    parameter_name = "method"
    methods = ("tracks", "references")

    def lookups(self, request, model_admin):
        return [(method, method) for method in self.methods] if "obj" in request.GET else []

    def choices(self, changelist):
        # No "All": an object's events are always chosen one way or the other.
        current = self.value() or self.methods[0]
        for method, title in self.lookup_choices:
            yield {
                "selected": method == current,
                "query_string": changelist.get_query_string({self.parameter_name: method}),
                "display": title,
            }

    def queryset(self, request, queryset):
        return queryset


class DynamicFilter(admin.SimpleListFilter):
    """A filter whose one choice is the value in the request (so that the sidebar shows it
    and offers to clear it); it is not shown without one."""

    title = ""

    def lookups(self, request, model_admin):
        value = request.GET.get(self.parameter_name)
        return [(value, value)] if value is not None else []

    def queryset(self, request, queryset):
        return queryset


class ObjFilter(DynamicFilter):
    """One object's events (`obj=<app_label.Model>:<pk>`): on the aggregate those it tracks
    or references (`method`), on an event model those whose `pgh_obj` it is."""

    title = "object"
    parameter_name = "obj"

    def queryset(self, request, queryset):
        obj = RequestedObject.parse(self.value())
        if obj is None:
            return queryset.none()
        method = requested_method(request)
        if _narrowable(queryset):
            if method not in MethodFilter.methods:
                return queryset.none()
            return getattr(queryset, method)(obj.model(pk=obj.pk))
        return self.event_model_queryset(queryset, obj)

    def event_model_queryset(self, queryset, obj: RequestedObject):
        """The events of one event model that track `obj`."""
        try:
            field = queryset.model._meta.get_field("pgh_obj")
        except FieldDoesNotExist:
            return queryset.none()
        if field.related_model._meta.concrete_model is not obj.model:
            return queryset.none()
        return queryset.filter(pgh_obj=obj.pk)


class ModelFilter(DynamicFilter):
    """The events of one tracked model (`model=<app_label.Model>`)."""

    title = "model"
    parameter_name = "model"

    def queryset(self, request, queryset):
        model = get_model(self.value())
        chosen = tracking_event_models(model) if model is not None else []
        if not chosen:
            return queryset.none()
        if _narrowable(queryset):
            return queryset.across(*chosen)
        return queryset if queryset.model in chosen else queryset.none()


class BackFilter(DynamicFilter):
    """Takes the `back=<url>` parameter, which is no filter: the list shows it as a "Back"
    link (see `BaseEventAdmin.back_url`), and its links keep it."""

    parameter_name = "back"

    def has_output(self):
        return False


class BoundedCountPaginator(Paginator):
    """Counts exactly up to `limit` rows, with one query that reads at most `limit + 1` of
    them; past it the count is a lower bound (`beyond_limit` is then True). A page past the
    limit is counted as its offset plus the rows at most one page further."""

    def __init__(self, object_list, per_page, page_number, limit, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.page_number = page_number
        self.limit = limit
        self.beyond_limit = False

    @cached_property
    def count(self) -> int:
        offset = (self.page_number - 1) * self.per_page
        if offset < self.limit:
            counted = self.object_list[: self.limit + 1].count()
            self.beyond_limit = counted > self.limit
            return counted
        counted = offset + self.object_list[offset : offset + self.per_page + 1].count()
        self.beyond_limit = counted > offset
        return counted


class BaseEventAdmin(admin.ModelAdmin):
    """A read-only admin that never counts the whole history. The values of redacted fields
    (`PGHISTORY_ADMIN_REDACT`, and `auth.User`'s password) show as "[redacted]", in lists,
    in stored data and diffs, and on an event's own page."""

    change_list_template = "pghistory_admin/events_change_list.html"
    list_filter = [LabelFilter]
    show_full_result_count = False
    if hasattr(admin, "ShowFacets"):  # Django 5.0+: facet counts would count the history
        show_facets = admin.ShowFacets.NEVER
    list_select_related = False
    #: The result line counts exactly up to this many events, and says "more than" past it.
    result_count_limit = 1000

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        try:
            page_number = max(int(request.GET.get("p", 1)), 1)
        except ValueError:
            page_number = 1
        return BoundedCountPaginator(
            queryset, per_page, page_number, self.result_count_limit, orphans=orphans
        )

    def result_count_text(self, changelist) -> str:
        """The result line: "12 events", "1 event", or "more than 1000 events"."""
        opts = changelist.opts
        if getattr(changelist.paginator, "beyond_limit", False):
            return f"more than {self.result_count_limit} {opts.verbose_name_plural}"
        count = changelist.result_count
        return f"{count} {self.result_name(opts) if count == 1 else opts.verbose_name_plural}"

    def result_name(self, opts) -> str:
        """What one result is called in the result line."""
        return opts.verbose_name

    def changelist_view(self, request, extra_context=None):
        context = {
            "title": self.model._meta.verbose_name_plural.capitalize(),
            "subtitle": self.get_subtitle(request),
            "pgh_back": self.back_url(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)

    def get_subtitle(self, request) -> str | None:
        """What the list is narrowed to: "Tracks <object>", "References <object>", an object
        (on an event model's list) or a model's label."""
        if "obj" in request.GET:
            obj = requested_object(request)
            if obj is None:
                return None
            instance = obj.instance()
            name = str(instance) if instance is not None else obj.label
            from pghistory.models import Event

            if "method" in request.GET or not issubclass(self.model, Event):
                return f"{requested_method(request).title()} {name}"
            return name
        model = get_model(request.GET.get("model"))
        return model._meta.label if model is not None else None

    def back_url(self, request) -> str | None:
        """The `back` parameter, if it is a URL of this site (never another host, never a
        `javascript:` or other scheme)."""
        url = request.GET.get("back")
        if url and url_has_allowed_host_and_scheme(
            url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return url
        return None

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
    """Admin for one event model; `obj=<app_label.Model>:<pk>` shows one object's events."""

    list_display = ["pgh_created_at", "pgh_label", "pgh_obj"]
    list_filter = [LabelFilter, ObjFilter, BackFilter]


class EventsChangeList(ChangeList):
    """The aggregate's change list. With `PGHISTORY_ADMIN_ALL_EVENTS = False` it shows no
    events until a filter is chosen (a sidebar filter, a 3.9 parameter, or a field lookup
    such as `pgh_obj_model`); `back` alone is none."""

    def get_filters(self, request):
        filters = super().get_filters(request)
        self.pgh_field_lookups = filters[2]  # what is left after the list filters
        return filters

    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        if not config.admin_all_events() and not self.has_event_filters():
            return queryset.none()
        return queryset

    def has_event_filters(self) -> bool:
        return self.has_active_filters or bool(getattr(self, "pgh_field_lookups", None))


class EventsAdmin(BaseEventAdmin):
    """Admin for the `Events` aggregate (`PGHISTORY_ADMIN_*` settings).

    Besides 3.9's parameters, the list takes exact lookups on the aggregate's fields, such
    as `pgh_obj_model`, `pgh_obj_id`, `pgh_model`, `pgh_label` and `pgh_context_id`.
    """

    list_filter = [LabelFilter, EventModelFilter, MethodFilter, ObjFilter, ModelFilter, BackFilter]

    def get_changelist(self, request, **kwargs):
        return EventsChangeList

    def result_name(self, opts) -> str:
        # `Events` (and its proxies) name only their plural, so Django's singular is the
        # plural too ("1 events"): one of them is an "event".
        name = opts.verbose_name
        if name == opts.verbose_name_plural and name.endswith("events"):
            return name[: -len("s")]
        return name

    def get_list_display(self, request):
        return self._redacting(config.admin_list_display())

    def get_queryset(self, request):
        return config.admin_queryset()

    def get_object(self, request, object_id, from_field=None):
        # An event's id is "<app_label.EventModel>:<pgh_id>": read that one table only.
        queryset = self.get_queryset(request)
        if from_field is not None or not _narrowable(queryset):
            return super().get_object(request, object_id, from_field)
        label, _, pgh_id = object_id.partition(":")
        try:
            queryset = queryset.across(label).filter(pgh_id=int(pgh_id))
        except (LookupError, ValueError):
            return None
        return queryset.filter(pgh_slug=object_id).first()


def events_url(query: dict | None = None) -> str | None:
    """The aggregate list's URL with `query`, or None when the site does not serve it."""
    from django.urls import NoReverseMatch, reverse

    events = config.admin_model()._meta
    try:
        url = reverse(f"admin:{events.app_label}_{events.model_name}_changelist")
    except NoReverseMatch:
        return None
    return f"{url}?{urlencode(query, safe=':/')}" if query else url
