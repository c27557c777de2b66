"""Template filters of the history UI: the same label badges and times as the events table."""

from django import template

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
