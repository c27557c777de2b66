"""A tracked model's table as it was at a moment (`pghistory.as_of`), a keyset page at a time.

`model/<app_label.model>/as-of/?at=<moment>` shows the rows that existed then, with the values
their latest event at or before then stored (as the timeline shows them: verbose names, choice
labels, related objects' names, redaction), in primary key order; each row links to that
object's timeline and to the object as of the same moment. A model whose history does not
record every change says why instead.
"""

from __future__ import annotations

import json

from django import forms
from django.utils.text import capfirst

from pghistory.snapshots import Incomplete, as_of
from pghistory_admin.conf import history_database
from pghistory_admin.diffs import compare, load_related
from pghistory_admin.filters import MomentField, UserField
from pghistory_admin.rows import parse_pk
from pghistory_admin.views.base import HistoryView, query_string

#: Rows a page shows.
PER_PAGE = 50


class TableAsOfForm(forms.Form):
    # A date alone means the start of that day.
    at = MomentField(label="As of")
    q = forms.CharField(label="Values contain", required=False, max_length=200, strip=True)
    user = UserField(label="Last changed by", required=False)


class TableAsOfView(HistoryView):
    page_name = "table_as_of"
    form_class = TableAsOfForm
    per_page = PER_PAGE

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.model = None

    def get_template_model(self):
        return self.get_model()

    def get_model(self):
        if self.model is None:
            self.model = self.visible_model(self.kwargs["model"])
        return self.model

    def get_context_data(self, **kwargs):
        model = self.get_model()
        opts = model._meta
        key = opts.label_lower
        form = self.form = self.form_class(self.request.GET if "at" in self.request.GET else None)
        context = {
            "title": f"{capfirst(opts.verbose_name_plural)} as of",
            "model": model,
            "model_name": capfirst(opts.verbose_name_plural),
            "form": form,
            "crumbs": [(capfirst(opts.verbose_name_plural), self.link("browser", model=key))],
        }
        if form.is_bound and not form.is_valid():
            self.status = 400
        elif form.is_bound:
            context.update(self.table(model, form.cleaned_data["at"]))
        return super().get_context_data(**{**context, **kwargs})

    def table(self, model, moment) -> dict:
        """What the page shows of `model`'s table at `moment`."""
        try:
            table = as_of(model, moment, using=history_database())
        except Incomplete as error:
            return {"moment": moment, "incomplete": str(error)}
        bounds = {name: self.request.GET.get(name) for name in ("after", "before")}
        parsed = {name: parse_pk(model, raw) for name, raw in bounds.items() if raw is not None}
        if None in parsed.values() or len(parsed) > 1:
            self.status = 400
            return {"moment": moment, "page_error": "That page does not exist: start again."}
        after, before = parsed.get("after"), parsed.get("before")
        events = table.events(
            after=after,
            before=before,
            size=self.per_page + 1,
            contains=self.form.cleaned_data["q"],
            hidden=self.redacted_columns(model),
            user=self.form.cleaned_data["user"],
        )
        more = len(events) > self.per_page
        if before is not None:
            events = events[-self.per_page :] if more else events
        else:
            events = events[: self.per_page]
        rows = [self.row(model, event, moment) for event in events]
        load_related([value for row in rows for value in row["values"]])
        first, last = (events[0].pgh_obj_id, events[-1].pgh_obj_id) if events else (None, None)
        return {
            "moment": moment,
            "rows": rows,
            "headers": [value.label for value in rows[0]["values"]] if rows else [],
            "previous_url": (
                self._page_url(before=first) if events and (after or (before and more)) else None
            ),
            "next_url": self._page_url(after=last) if events and (more or before) else None,
            "first_url": self._page_url() if after or before else None,
        }

    def row(self, model, event, moment) -> dict:
        stored = event.pgh_row if isinstance(event.pgh_row, dict) else json.loads(event.pgh_row)
        data = {column: value for column, value in stored.items() if not column.startswith("pgh_")}
        key, pk = model._meta.label_lower, event.pgh_obj_id
        return {
            "pk": pk,
            "values": compare(model, None, data, redacted=self.redacted_columns),
            "timeline_url": self.link("object", key, pk),
            "as_of_url": self.link("as_of", key, pk, at=moment.isoformat()),
        }

    def _page_url(self, **bound) -> str:
        values = {"after": [], "before": []}
        values.update({name: str(value) for name, value in bound.items()})
        return query_string(self.request, **values)
