"""Template tags of the history UI: the same label badges and times as the events table, and
the admin History button's link to the timeline."""

from django import template
from django.conf import settings
from django.contrib.admin.sites import all_sites

from pghistory_admin import tables

register = template.Library()


@register.filter
def label_badge(label: str):
    """An event label as a coloured badge."""
    return tables.label_badge(label)


@register.filter
def local_time(moment):
    """A moment as its date and time of day in the current time zone."""
    return tables.local_time(moment)


@register.simple_tag(takes_context=True)
def history_tab_url(context) -> str | None:
    """On an admin change page, with `PGHISTORY_ADMIN_HISTORY_TAB = True`: the URL of the
    object's timeline on the same admin site, if the model is tracked, the site has the event
    browser and the user may see the model's history; else None (Django's change log)."""
    request, opts, original = context.get("request"), context.get("opts"), context.get("original")
    if not getattr(settings, "PGHISTORY_ADMIN_HISTORY_TAB", False) or None in (
        request,
        opts,
        original,
    ):
        return None
    from pghistory_admin.admin import browser_admin, timeline_url

    site = next((s for s in all_sites if s.name == request.current_app), None)
    browser = browser_admin(site) if site is not None else None
    if browser is None or not browser.can_view_history(request, opts.model):
        return None
    return timeline_url(site, opts.model, original.pk)


@register.simple_tag
def table_row(table, row):
    """One row of an events table, as `EventTable.row_html` renders it."""
    return table.row_html(row)
