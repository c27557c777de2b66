"""Links from tracked models' admin pages to their events.

The tag and filter names of django-pghistory 3.9 (`events_are_tracked`, `events_admin_url`,
`event_admins`) are here too, so that project templates written for it keep rendering.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django import template
from django.contrib import admin
from django.contrib.admin.templatetags.admin_list import pagination
from django.db import models
from django.urls import NoReverseMatch, reverse

from pghistory import config
from pghistory.admin.core import EventModelAdmin, events_url, get_model, tracking_event_models

register = template.Library()


def _model(value) -> type[models.Model] | None:
    """A model from what templates hold: a label ("app_label.Model"), a model, an instance
    or a model's `_meta`."""
    if isinstance(value, str):
        return get_model(value)
    if isinstance(value, models.options.Options):
        return value.model
    if isinstance(value, models.Model):
        return type(value)
    if isinstance(value, type) and issubclass(value, models.Model):
        return value
    return None


@register.filter
def events_are_tracked(model) -> bool:
    """Whether an event model tracks `model` (a label, a model or its `_meta`)."""
    model = _model(model)
    return model is not None and bool(tracking_event_models(model))


@register.simple_tag
def events_admin_url() -> str:
    """The URL of the events admin (the `PGHISTORY_ADMIN_MODEL` list), or ""."""
    return events_url() or ""


def _event_model_admins(model, site=admin.site) -> list[admin.ModelAdmin]:
    """The `EventModelAdmin`s registered for event models (or proxies of them) that track
    `model` through `pgh_obj`, by event model label."""
    model = _model(model)
    tracking = set(tracking_event_models(model)) if model is not None else set()
    return sorted(
        (
            model_admin
            for event_model, model_admin in site._registry.items()
            if isinstance(model_admin, EventModelAdmin)
            and event_model._meta.concrete_model in tracking
            and hasattr(event_model, "pgh_obj")
        ),
        key=lambda model_admin: model_admin.model._meta.label,
    )


@register.filter
def event_admins(model) -> list:
    """The `_meta` of each event model that tracks `model` and has its own registered
    `EventModelAdmin`."""
    return [model_admin.model._meta for model_admin in _event_model_admins(model)]


@register.simple_tag
def pghistory_events_url(opts, obj=None, back=None) -> str:
    """The events admin narrowed to a tracked model (`model=`), or to one of its objects
    (`method=tracks&obj=`), with a `back` link; "" if the model is not tracked."""
    if not events_are_tracked(opts):
        return ""
    if obj is None:
        query = {"model": opts.label}
    else:
        query = {"method": "tracks", "obj": f"{opts.label}:{obj.pk}"}
    if back:
        query["back"] = back
    return events_url(query) or ""


@dataclass(frozen=True)
class Button:
    url: str
    css_class: str
    text: str


def _may_view(request, model) -> bool:
    model_admin = admin.site._registry.get(model)
    return request is None or (
        model_admin is not None and model_admin.has_view_permission(request)
    )


def object_tools_buttons(context) -> list[Button]:
    """The buttons of a tracked model's change list or change page: its event models' own
    lists (on a change page, those with an `EventModelAdmin`), then "Events"."""
    opts, request = context.get("opts"), context.get("request")
    if opts is None or not events_are_tracked(opts):
        return []
    obj = context.get("original")
    back = request.get_full_path() if request is not None else None
    buttons = []
    if obj is not None:
        for model_admin in _event_model_admins(opts):
            meta = model_admin.model._meta
            if not _may_view(request, model_admin.model):
                continue
            try:
                url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
            except NoReverseMatch:
                continue
            query = {"obj": f"{opts.label}:{obj.pk}", **({"back": back} if back else {})}
            buttons.append(
                Button(
                    f"{url}?{urlencode(query, safe=':/')}", "event-admin", meta.verbose_name_plural
                )
            )
    url = pghistory_events_url(opts, obj, back)
    if url and _may_view(request, config.admin_model()):
        buttons.append(Button(url, "events-admin", "Events"))
    return buttons


@register.inclusion_tag("pghistory_admin/object_tools.html", takes_context=True)
def pghistory_object_tools(context) -> dict:
    """The events buttons of a tracked model's admin page (see `object_tools_buttons`)."""
    return {"buttons": object_tools_buttons(context)}


@register.inclusion_tag("pghistory_admin/pagination.html")
def pghistory_pagination(cl) -> dict:
    """The admin's pagination, with the result line of the event admin (which counts up to a
    limit: "12 events", "more than 1000 events")."""
    return {**pagination(cl), "result_count_text": cl.model_admin.result_count_text(cl)}
