"""The event browser and its exports."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.html import escape

from pghistory_admin import access, export, pagination
from pghistory_admin.filters import PERIODS, EventFilter
from pghistory_admin.rows import event_rows
from pghistory_admin.tables import EventTable
from pghistory_admin.views.base import (
    PAGE_PARAMS,
    HistoryView,
    event_page,
    pager_links,
    query_string,
)


class BrowserView(HistoryView):
    """Every event the user may see, newest first, filtered by the query string."""

    def get(self, request):
        context = self.browse(request, self.filters(request))
        context.update({"title": "Events", "clear_url": self.surface.url("browser")})
        if context["page"] is not None and not (set(request.GET) - {"sort", *PAGE_PARAMS}):
            visible = access.visible_event_models(request.user)
            context["estimate"] = pagination.estimated_total(visible)
        return self.render(
            request,
            "pghistory_admin/pages/browser.html",
            context,
            status=200 if context["page"] is not None else 400,
        )

    def browse(self, request, filters: EventFilter, *, fixed=None, exclude=()) -> dict:
        """What a page of filtered events shows: the table of the requested page, the filters
        with their chips and presets, page links and export links. `fixed` holds parameters
        the page sets itself (they go into the export links); `exclude` names table columns
        to leave out."""
        fixed = fixed or {}
        sort = self.sort(request)
        page, errors = event_page(request, filters.qs, sort) if filters.is_valid() else (None, [])
        rows = event_rows(page.rows) if page is not None else []
        context = {
            "filters": filters,
            "table": EventTable(rows, link=self.link, order_by=sort, exclude=exclude),
            "page": page,
            "errors": errors,
            "chips": self._chips(request, filters),
            "presets": [
                (label, query_string(request, period=key), request.GET.get("period") == key)
                for key, (label, _) in PERIODS.items()
            ],
            "export_csv_url": self.link("export_csv") + query_string(request, **fixed),
            "export_jsonl_url": self.link("export_jsonl") + query_string(request, **fixed),
        }
        if page is not None:
            context.update(pager_links(request, page))
        return context

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
            # The messages quote the values sent in: escaped, they show as text, never markup.
            response = HttpResponse(escape(f"Cannot export: {problems}"), status=400)
            response["X-Content-Type-Options"] = "nosniff"
            return response
        return export.response(filters.qs, self.sort(request), self.format)
