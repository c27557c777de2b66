"""The history UI inside the Django admin: "History › Events" on the admin index, and the
"History" button of tracked models' change pages opening the object's timeline."""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse

from pghistory.admin import BaseEventAdmin
from pghistory_admin.models import Event
from pghistory_admin.rules import tracked_models
from pghistory_admin.sites import HistoryUI


class EventBrowserAdmin(HistoryUI, BaseEventAdmin):
    """Serves the history UI's pages at the admin URLs of the `Event` proxy, with the rules
    and classes of `HistoryUI` (override them on a subclass).

    Register it (or a subclass) on another admin site with
    `site.register(Event, EventBrowserAdmin)`. Like every event admin it adds, changes and
    deletes nothing.
    """

    layout_template = "pghistory_admin/layouts/admin.html"

    def wrap_view(self, view):
        return self.admin_site.admin_view(view)

    @property
    def namespace(self) -> str:
        return self.admin_site.name

    def url_name(self, page: str) -> str:
        opts = self.opts
        # The browser is the mounting model's change list, so the admin index links to it.
        return f"{opts.app_label}_{opts.model_name}_{'changelist' if page == 'browser' else page}"

    def each_context(self, request) -> dict:
        return {
            **self.admin_site.each_context(request),
            **super().each_context(request),
            "opts": self.opts,
            "admin_index_url": reverse(f"{self.admin_site.name}:index"),
        }

    def has_module_permission(self, request):
        return bool(self.visible_models(request))

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)


admin.site.register(Event, EventBrowserAdmin)


def browser_admin(site: admin.AdminSite) -> EventBrowserAdmin | None:
    """The event browser registered on `site`, if any."""
    if not site.is_registered(Event):
        return None
    model_admin = site.get_model_admin(Event)
    return model_admin if isinstance(model_admin, EventBrowserAdmin) else None


def timeline_url(site: admin.AdminSite, model, pk) -> str | None:
    """The admin URL of the timeline of `model`'s object `pk` on `site`, or None for a model
    that is not tracked or a site without the event browser."""
    browser = browser_admin(site)
    if browser is None or model not in tracked_models():
        return None
    try:
        return reverse(
            f"{site.name}:{browser.url_name('object')}",
            args=[model._meta.label_lower, str(pk)],
        )
    except NoReverseMatch:
        return None


class HistoryTabMixin:
    """For a `ModelAdmin`: its history URL (the change page's "History" button) opens the
    object's timeline (deleted objects included); Django's own change log stays one click
    away, at `?log=1`, and is what a user who may not see the model's history gets."""

    def history_view(self, request, object_id, extra_context=None):
        browser = browser_admin(self.admin_site)
        if (
            browser is not None
            and not request.GET.get("log")
            and browser.can_view_history(request, self.model)
        ):
            url = timeline_url(self.admin_site, self.model, unquote(object_id))
            if url is not None:
                return redirect(url)
        return super().history_view(request, object_id, extra_context)
