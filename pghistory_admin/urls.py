"""The standalone history UI: `path("history/", include("pghistory_admin.urls"))`.

Every page requires a signed-in staff user; anyone else is sent to `settings.LOGIN_URL`.
"""

from django.urls import path

from pghistory_admin import views

app_name = "pghistory_admin"


def page_urls(surface: views.Surface, wrap=lambda view: view) -> list:
    """The URL patterns of every page, served on `surface` (each view wrapped by `wrap`)."""

    def page(route, name, view_class, **initkwargs):
        view = view_class.as_view(surface=surface, **initkwargs)
        return path(route, wrap(view), name=surface.url_name(name))

    return [
        page("", "browser", views.BrowserView),
        page("export.csv", "export_csv", views.ExportView, format="csv"),
        page("export.jsonl", "export_jsonl", views.ExportView, format="jsonl"),
    ]


urlpatterns = page_urls(views.StandaloneSurface())
