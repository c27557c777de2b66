"""What mounts the history UI's pages: `HistorySite` for the standalone pages, and (in
`pghistory_admin.admin`) `EventBrowserAdmin` for the pages inside an admin site.

Both are a `HistoryUI`: the rules (`pghistory_admin.rules.HistoryRules`), the classes of the
pages (their views, the events table and the filter set), and the URL patterns. A subclass
changes any of them, as a `ModelAdmin` subclass changes an admin's::

    class ShopHistory(HistorySite):
        table_class = ShopEventTable

        def can_revert(self, request, model):
            return request.user.groups.filter(name="Support leads").exists()

    urlpatterns = [path("history/", ShopHistory().urls)]
"""

from __future__ import annotations

from django.urls import path, reverse

from pghistory_admin.filters import EventFilter
from pghistory_admin.rules import HistoryRules
from pghistory_admin.tables import EventTable
from pghistory_admin.views import activity, browser, objects, revert, stats, table_as_of, undo


class HistoryUI(HistoryRules):
    """The pages of the history UI, their classes and their rules."""

    #: The table of the pages that list events (the browser, a user's and a context's page).
    table_class = EventTable
    #: The filters of the browser and the user page.
    filterset_class = EventFilter

    #: The view of each page, by page name: the URL name, and the template's name.
    browser_view = browser.BrowserView
    export_csv_view = browser.ExportView
    export_jsonl_view = browser.ExportView
    timeline_view = objects.TimelineView
    as_of_view = objects.AsOfView
    compare_view = objects.CompareView
    event_view = objects.EventView
    revert_view = revert.RevertView
    context_view = activity.ContextView
    caused_view = activity.CausedView
    user_view = activity.UserView
    stats_view = stats.StatsView
    table_as_of_view = table_as_of.TableAsOfView
    undo_view = undo.UndoView

    #: The layout every page's `pghistory_admin/base.html` extends.
    layout_template = ""
    #: The namespace the URL names are in.
    namespace = ""

    def get_urls(self) -> list:
        """The URL patterns of every page."""

        def page(route, name, view_class, **initkwargs):
            view = self.wrap_view(view_class.as_view(ui=self, **initkwargs))
            return path(route, view, name=self.url_name(name))

        return [
            page("", "browser", self.browser_view),
            page("export.csv", "export_csv", self.export_csv_view, format="csv"),
            page("export.jsonl", "export_jsonl", self.export_jsonl_view, format="jsonl"),
            page("object/<str:model>/<str:pk>/", "object", self.timeline_view),
            page("object/<str:model>/<str:pk>/as-of/", "as_of", self.as_of_view),
            page("object/<str:model>/<str:pk>/compare/", "compare", self.compare_view),
            page("event/<str:slug>/", "event", self.event_view),
            page("event/<str:slug>/revert/", "revert", self.revert_view),
            page("context/<uuid:context_id>/", "context", self.context_view),
            page("context/<uuid:context_id>/undo/", "undo", self.undo_view),
            page("context/<uuid:context_id>/caused/", "caused", self.caused_view),
            page("user/<str:key>/", "user", self.user_view),
            page("stats/", "stats", self.stats_view),
            page("model/<str:model>/as-of/", "table_as_of", self.table_as_of_view),
            *self.api_urls(),
        ]

    def api_urls(self) -> list:
        """The URL patterns of the JSON API (`pghistory_admin.api`), under `api/`; none
        without django-ninja (the optional extra `django-pghistory[api]`)."""
        try:
            from pghistory_admin import api
        except ImportError:
            return []
        if "_api" not in self.__dict__:
            self.__dict__["_api"] = api.build(self)
        return [path("api/", self.__dict__["_api"].urls)]

    def api_auth(self) -> list:
        """The API's django-ninja auth classes: by default the session of a user `can_browse`
        lets in. Return more (an `HttpBearer` that maps a token to a staff user, say) to let
        other clients in."""
        from pghistory_admin.api import StaffSession

        return [StaffSession(self)]

    def wrap_view(self, view):
        """`view`, as the URL patterns serve it."""
        return view

    def url_name(self, page: str) -> str:
        """The URL name of a page ("browser", "object", "event", ...)."""
        return page

    def page_url(self, page: str, *args) -> str:
        """The URL of a page, with its URL arguments."""
        return reverse(f"{self.namespace}:{self.url_name(page)}", args=args)

    def each_context(self, request) -> dict:
        """What every page's template gets besides its own context."""
        return {"layout_template": self.layout_template}


class HistorySite(HistoryUI):
    """The standalone pages, in their own layout: `path("history/", HistorySite().urls)`, as
    an admin site's are mounted (`include("pghistory_admin.urls")` mounts the default one).
    Subclass it to change their rules or classes."""

    layout_template = "pghistory_admin/layouts/standalone.html"

    def __init__(self, name: str = "pghistory_admin"):
        #: The instance namespace: several sites may be included under different names.
        self.namespace = name

    @property
    def urls(self):
        """What `path()` takes, as from `AdminSite.urls`: the patterns, the app name and the
        instance namespace."""
        return self.get_urls(), "pghistory_admin", self.namespace
