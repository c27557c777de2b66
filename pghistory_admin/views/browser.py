"""The event browser and its exports."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.utils.html import escape

from pghistory_admin import export, pagination
from pghistory_admin.filters import PERIODS
from pghistory_admin.views.base import (
    PAGE_PARAMS,
    EventFilterMixin,
    EventListView,
    HistoryView,
    query_string,
)


class BrowserView(EventListView):
    """Every event the user may see, newest first, filtered by the query string."""

    page_name = "browser"

    def get_template_model(self):
        """With one model chosen, the browser is that model's page."""
        chosen = self.request.GET.getlist("model")
        if len(chosen) != 1:
            return None
        try:
            return self.visible_model(chosen[0])
        except Http404:
            return None

    def fixed_filters(self) -> dict:
        """Filter values the page sets itself, in place of the query string's: they filter
        the events, go into the export links, and are neither in the form nor chips."""
        return {}

    def get_filter_data(self):
        data = super().get_filter_data().copy()
        for name, value in self.fixed_filters().items():
            data.setlist(name, [value])
        return data

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        request, fixed = self.request, self.fixed_filters()
        context.update(
            {
                "chips": self.chips(),
                "presets": [
                    (label, query_string(request, period=key), request.GET.get("period") == key)
                    for key, (label, _) in PERIODS.items()
                ],
                "export_csv_url": self.link("export_csv") + query_string(request, **fixed),
                "export_jsonl_url": self.link("export_jsonl") + query_string(request, **fixed),
                "table_as_of_url": self.table_as_of_url(),
                "api_url": self.api_url(),
            }
        )
        context.setdefault("title", "Events")
        context.setdefault("clear_url", self.ui.page_url("browser"))
        context.setdefault("form_action", context["clear_url"])
        context.setdefault("hidden_filters", list(fixed))
        if context["page"] is not None:
            context.setdefault("estimate", self.estimate())
        return context

    def api_url(self) -> str | None:
        """The same events from the JSON API (None when it is not installed)."""
        if not self.ui.api_urls():
            return None
        fixed = self.fixed_filters()
        return f"{self.ui.page_url('browser')}api/events/{query_string(self.request, **fixed)}"

    def table_as_of_url(self) -> str | None:
        """The link to the chosen model's table as of a moment, when one model is chosen."""
        chosen = (
            self.filterset.form.cleaned_data.get("model") if self.filterset.is_valid() else None
        )
        if not chosen or len(chosen) != 1:
            return None
        return self.link("table_as_of", chosen[0])

    def estimate(self) -> int | None:
        """The planner's estimate of the events shown, for an unfiltered browser (a filtered
        one shows how many rows the page has instead: nothing is ever counted)."""
        if self.fixed_filters() or set(self.request.GET) - {"sort", *PAGE_PARAMS}:
            return None
        return pagination.estimated_total(self.ui.visible_event_models(self.request))

    def chips(self) -> list[tuple[str, str, str]]:
        """The filters in force as (name, value as people read it, URL without it)."""
        request, filters, fixed = self.request, self.filterset, self.fixed_filters()
        chips = []
        for name, values in request.GET.lists():
            if name not in filters.filters or name in fixed:
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


class ExportView(EventFilterMixin, HistoryView):
    """The events a browser view shows, as a streamed CSV or JSON Lines download, named,
    ordered and redacted by the same code as the pages."""

    format = "csv"

    def get(self, request, *args, **kwargs):
        filters = self.get_filterset(self.get_filterset_class())
        if not filters.is_valid():
            problems = "; ".join(
                f"{name}: {' '.join(messages)}" for name, messages in filters.errors.items()
            )
            # The messages quote the values sent in: escaped, they show as text, never markup.
            response = HttpResponse(escape(f"Cannot export: {problems}"), status=400)
            response["X-Content-Type-Options"] = "nosniff"
            return response
        return export.response(filters.qs, self.sort(), self.format, self.redacted_columns)
