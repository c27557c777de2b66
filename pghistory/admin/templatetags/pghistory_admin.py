"""Links from tracked models' admin pages to their events."""

from urllib.parse import urlencode

from django import template
from django.urls import NoReverseMatch, reverse

from pghistory import config

register = template.Library()


@register.simple_tag
def pghistory_events_url(opts, obj=None) -> str:
    """The events admin filtered to a tracked model (or one object), or "" if untracked."""
    model = opts.model
    if not getattr(model, "pgh_event_models", None) or model._meta.app_label == "pghistory":
        return ""
    events = config.admin_model()._meta
    try:
        url = reverse(f"admin:{events.app_label}_{events.model_name}_changelist")
    except NoReverseMatch:
        return ""
    query = {"pgh_obj_model": model._meta.label}
    if obj is not None:
        query["pgh_obj_id"] = obj.pk
    return f"{url}?{urlencode(query)}"
