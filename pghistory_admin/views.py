"""The pages of the history UI. Each is served twice: inside the Django admin, and standalone
at the URLs a project includes (`pghistory_admin.urls`); a `Surface` says which."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.views import View

from pghistory_admin import access, export, pagination
from pghistory_admin.filters import PERIODS, EventFilter
from pghistory_admin.rows import event_rows
from pghistory_admin.tables import EventTable

#: Query parameters that choose a page rather than filter events.
PAGE_PARAMS = ("after", "before", "last")


class Surface:
    """Where the pages are mounted, and how they link to each other there."""

    #: Names the folder of the surface's templates: pghistory_admin/<name>/<page>.html
    name = ""
    namespace = ""

    def url_name(self, page: str) -> str:
        return page

    def url(self, page: str) -> str:
        return reverse(f"{self.namespace}:{self.url_name(page)}")

    def context(self, request) -> dict:
        return {}


class StandaloneSurface(Surface):
    """The pages at the project's own URLs, in their own layout."""

    name = "standalone"
    namespace = "pghistory_admin"


class AdminSurface(Surface):
    """The pages inside an admin site, under the model admin that mounts them."""

    name = "admin"

    def __init__(self, model_admin):
        self.model_admin = model_admin
        self.namespace = model_admin.admin_site.name

    def url_name(self, page: str) -> str:
        opts = self.model_admin.opts
        # The browser is the mounting model's change list, so the admin index links to it.
        return f"{opts.app_label}_{opts.model_name}_{'changelist' if page == 'browser' else page}"

    def context(self, request) -> dict:
        site = self.model_admin.admin_site
        return {
            **site.each_context(request),
            "opts": self.model_admin.opts,
            "admin_index_url": reverse(f"{site.name}:index"),
        }


def query_string(request, **values) -> str:
    """The request's query string without page parameters, with `values` set (a list sets
    several values of one parameter; an empty list removes it)."""
    params = request.GET.copy()
    for name in PAGE_PARAMS:
        params.pop(name, None)
    for name, value in values.items():
        params.setlist(name, value if isinstance(value, list) else [value])
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


class HistoryView(View):
    """A page of the history UI: signed-in staff only."""

    surface: Surface = StandaloneSurface()

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not access.can_browse(request.user):
            raise PermissionDenied("Only staff members may see history.")
        return super().dispatch(request, *args, **kwargs)

    def link(self, page: str = "browser", **params) -> str:
        url = self.surface.url(page)
        return f"{url}?{urlencode(params)}" if params else url

    def filters(self, request) -> EventFilter:
        return EventFilter(
            request.GET, queryset=access.visible_events(request.user), request=request
        )

    @staticmethod
    def sort(request) -> str:
        sort = request.GET.get("sort", pagination.DEFAULT_SORT)
        return sort if sort in pagination.SORTS else pagination.DEFAULT_SORT


class BrowserView(HistoryView):
    """Every event the user may see, newest first, filtered by the query string."""

    def get(self, request):
        filters = self.filters(request)
        sort = self.sort(request)
        errors, page = [], None
        if filters.is_valid():
            try:
                page = pagination.page(filters.qs, sort, request.GET)
            except pagination.InvalidCursor as exc:
                errors.append(str(exc))
        rows = event_rows(page.rows) if page is not None else []
        table = EventTable(rows, link=self.link, order_by=sort)
        context = {
            **self.surface.context(request),
            "title": "Events",
            "filters": filters,
            "table": table,
            "page": page,
            "errors": errors,
            "chips": self._chips(request, filters),
            "presets": [
                (label, query_string(request, period=key), request.GET.get("period") == key)
                for key, (label, _) in PERIODS.items()
            ],
            "clear_url": self.surface.url("browser"),
            "export_csv_url": self.link("export_csv") + query_string(request),
            "export_jsonl_url": self.link("export_jsonl") + query_string(request),
        }
        if page is not None:
            context.update(self._pager(request, page))
        return TemplateResponse(
            request,
            f"pghistory_admin/{self.surface.name}/browser.html",
            context,
            status=200 if page is not None else 400,
        )

    def _pager(self, request, page: pagination.Page) -> dict:
        pager = {
            "first_url": None if page.is_first else query_string(request),
            "newer_url": None if page.is_first else query_string(request, before=page.newer),
            "older_url": None if page.is_last else query_string(request, after=page.older),
            "last_url": None if page.is_last else query_string(request, last="1"),
        }
        pager["estimate"] = (
            pagination.estimated_total(access.visible_event_models(request.user))
            if not (set(request.GET) - {"sort", *PAGE_PARAMS})
            else None
        )
        return pager

    def _chips(self, request, filters: EventFilter) -> list[tuple[str, str, str]]:
        """The filters in force as (name, value as people read it, URL without it)."""
        chips = []
        for name, values in request.GET.lists():
            if name not in filters.filters:
                continue
            field = filters.form.fields[name]
            labels = {str(key): str(label) for key, label in getattr(field, "choices", ())}
            for value in values:
                if not value:
                    continue
                remaining = [other for other in values if other != value]
                remove_url = query_string(request, **{name: remaining})
                label = labels.get(value, value)
                chips.append((str(filters.filters[name].label), label, remove_url))
        return chips


class ExportView(HistoryView):
    """The events a browser view shows, as a streamed CSV or JSON Lines download."""

    format = "csv"

    def get(self, request):
        filters = self.filters(request)
        if not filters.is_valid():
            problems = "; ".join(
                f"{name}: {' '.join(messages)}" for name, messages in filters.errors.items()
            )
            return HttpResponse(
                f"Cannot export: {problems}", status=400, content_type="text/plain"
            )
        return export.response(pagination.ordered(filters.qs, self.sort(request)), self.format)
