"""The history UI inside the Django admin: "History › Events" on the admin index, and the
"History" button of tracked models' change pages opening the object's timeline."""

import functools

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse

from pghistory.admin import BaseEventAdmin
from pghistory_admin import access
from pghistory_admin.models import Event
from pghistory_admin.urls import page_urls
from pghistory_admin.views.base import AdminSurface


class EventBrowserAdmin(BaseEventAdmin):
    """Serves the history UI's pages at the admin URLs of the `Event` proxy.

    Register it on another admin site with `site.register(Event, EventBrowserAdmin)`. Like
    every event admin it adds, changes and deletes nothing.
    """

    def get_urls(self):
        return page_urls(AdminSurface(self), wrap=self.admin_site.admin_view)

    def has_module_permission(self, request):
        return bool(access.visible_models(request.user))

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)


admin.site.register(Event, EventBrowserAdmin)


def timeline_url(model_admin: admin.ModelAdmin, object_id: str) -> str | None:
    """The admin URL of an object's timeline, or None for a model that is not tracked or a
    site without the event browser."""
    model, site = model_admin.model, model_admin.admin_site
    if model not in access.tracked_models() or not site.is_registered(Event):
        return None
    try:
        return reverse(
            f"{site.name}:pghistory_ui_event_object",
            args=[model._meta.label_lower, unquote(object_id)],
        )
    except NoReverseMatch:
        return None


def _timeline_or(fallback, model_admin, request, object_id, extra_context=None):
    """Redirect to the object's timeline, or answer with `fallback` (Django's change log) when
    asked for it (`?log=1`), when the model has no timeline, or when the user may not see the
    model's history (the change log then refuses them as Django does)."""
    url = None
    if not request.GET.get("log") and access.can_view_model(request.user, model_admin.model):
        url = timeline_url(model_admin, object_id)
    return redirect(url) if url else fallback(request, object_id, extra_context)


class HistoryTabMixin:
    """For a `ModelAdmin`: its "History" button opens the object's timeline (deleted objects
    included); Django's own change log stays one click away, at `?log=1`."""

    def history_view(self, request, object_id, extra_context=None):
        return _timeline_or(super().history_view, self, request, object_id, extra_context)


_django_history_view = admin.ModelAdmin.history_view


def _history_view(self, request, object_id, extra_context=None):
    if not getattr(settings, "PGHISTORY_ADMIN_HISTORY_TAB", False):
        return _django_history_view(self, request, object_id, extra_context)
    django_log = functools.partial(_django_history_view, self)
    return _timeline_or(django_log, self, request, object_id, extra_context)


# The site-wide switch: with PGHISTORY_ADMIN_HISTORY_TAB = True every tracked model's admin
# behaves as if it had HistoryTabMixin (read on each request, so tests may override it).
admin.ModelAdmin.history_view = _history_view
