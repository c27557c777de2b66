"""The standalone history UI: `path("history/", include("pghistory_admin.urls"))`.

Every page requires a signed-in staff user: anyone not signed in is sent to
`settings.LOGIN_URL`, and a signed-in user who is not staff is refused (403).
"""

from django.urls import path

from pghistory_admin.views import actions, activity, base, browser, objects, stats

app_name = "pghistory_admin"


def page_urls(surface: base.Surface, wrap=lambda view: view) -> list:
    """The URL patterns of every page, served on `surface` (each view wrapped by `wrap`)."""

    def page(route, name, view_class, **initkwargs):
        view = view_class.as_view(surface=surface, **initkwargs)
        return path(route, wrap(view), name=surface.url_name(name))

    return [
        page("", "browser", browser.BrowserView),
        page("export.csv", "export_csv", browser.ExportView, format="csv"),
        page("export.jsonl", "export_jsonl", browser.ExportView, format="jsonl"),
        page("object/<str:model>/<str:pk>/", "object", objects.TimelineView),
        page("object/<str:model>/<str:pk>/as-of/", "as_of", objects.AsOfView),
        page("object/<str:model>/<str:pk>/compare/", "compare", objects.CompareView),
        page("event/<str:slug>/", "event", objects.EventView),
        page("event/<str:slug>/revert/", "revert", actions.RevertView),
        page("context/<uuid:context_id>/", "context", activity.ContextView),
        page("user/<str:key>/", "user", activity.UserView),
        page("stats/", "stats", stats.StatsView),
    ]


urlpatterns = page_urls(base.StandaloneSurface())
