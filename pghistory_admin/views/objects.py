"""One object's history: its timeline, one event's before and after, two versions compared,
and the object as it was at a moment."""

from __future__ import annotations

import pgtrigger
from django import forms
from django.http import Http404
from django.urls import NoReverseMatch, reverse
from django.utils.text import capfirst

from pghistory.aggregation import resolve_event_model
from pghistory.models import Events
from pghistory_admin import pagination
from pghistory_admin.conf import history_database
from pghistory_admin.diffs import compare, last_known, load_related, safe_str
from pghistory_admin.filters import MomentField
from pghistory_admin.rows import EventRow, group_by_context, one_per_change
from pghistory_admin.views.base import HistoryView, query_string


def object_events(events, model, pk, *, related: bool = False):
    """The `events` of one object; with `related`, also the events of the objects whose
    foreign keys point to it (an order's lines, say)."""
    if related:
        return events.references(model(pk=pk))
    return events.filter(pgh_obj_model=model._meta.label, pgh_obj_id=str(pk))


def operation(event_model, label: str) -> str:
    """ "insert", "update" or "delete" for the tracker that wrote `label`, else "snapshot"."""
    for tracker in event_model.pgh_trackers or ():
        if tracker.label == label and getattr(tracker, "operation", None) is not None:
            for name, kind in (("insert", pgtrigger.Insert), ("delete", pgtrigger.Delete)):
                if str(tracker.operation) == str(kind):
                    return name
            return "update"
    return "snapshot"


def can_revert(event_model) -> bool:
    """True when the event model stores every field of the model it tracks."""
    tracked = event_model.pgh_tracked_model._meta.concrete_fields
    return len(event_model.pgh_tracked_fields()) == len(tracked)


def describe(view: HistoryView, rows: list[EventRow]) -> list[EventRow]:
    """Give each row its kind, its links, and for an insert the values it was created with."""
    created = []
    for row in rows:
        event_model = resolve_event_model(row.slug.rpartition(":")[0])
        row.kind = operation(event_model, row.label)
        row.links = {"event": view.link("event", row.slug)}
        if row.context_id is not None:
            row.links["context"] = view.link("context", row.context_id)
        if row.user_key is not None:
            row.links["user"] = view.link("user", row.user_key)
        if row.object_key is not None:
            row.links["object"] = view.link("object", *row.object_key.split(":", 1))
        if row.kind != "delete" and can_revert(event_model):
            row.links["revert"] = view.link("revert", row.slug)
        if row.kind == "insert":
            row.changes = compare(row.model, None, row.data, redacted=view.redacted_columns)
            created.extend(row.changes)
    load_related(created)
    return rows


class ObjectPageMixin:
    """A page about one object (which may have been deleted), named by the URL's `model`
    ("app_label.model") and `pk`."""

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.model = self.pk = self.obj = None

    def get_object_key(self):
        """(model, pk) of the page's object, once the user may see its history."""
        if self.model is None:
            self.model, self.pk = self.visible_object(self.kwargs["model"], self.kwargs["pk"])
            self.key = self.model._meta.label_lower
            self.obj = (
                self.model._base_manager.using(history_database()).filter(pk=self.pk).first()
            )
        return self.model, self.pk

    def get_template_model(self):
        return self.get_object_key()[0]

    def related(self) -> bool:
        """Whether the events of the objects pointing to this one are included."""
        return False

    def get_queryset(self):
        """The object's events that the user may see."""
        model, pk = self.get_object_key()
        return object_events(super().get_queryset(), model, pk, related=self.related())

    def object_name(self) -> str:
        """The object's string form now, or, if it was deleted, as its last event stored it."""
        if self.obj is not None:
            return safe_str(self.obj)
        gone = last_known(self.model, [str(self.pk)]).get(str(self.pk))
        return (
            safe_str(gone) if gone is not None else f"{self.model._meta.verbose_name} #{self.pk}"
        )

    def get_context_data(self, **kwargs):
        self.get_object_key()
        name = self.object_name()
        context = {
            "model": self.model,
            "model_name": capfirst(self.model._meta.verbose_name),
            "object_name": name,
            "object_exists": self.obj is not None,
            "timeline_url": self.link("object", self.key, self.pk),
            "as_of_url": self.link("as_of", self.key, self.pk),
            "compare_url": self.link("compare", self.key, self.pk),
            "crumbs": self.crumbs(name),
        }
        return super().get_context_data(**{**context, **kwargs})

    def crumbs(self, name: str) -> list:
        """The breadcrumbs between the browser and the page: the model's events, and the
        object's timeline."""
        return [
            (capfirst(self.model._meta.verbose_name_plural), self.link("browser", model=self.key)),
            (name, self.link("object", self.key, self.pk)),
        ]


class TimelineView(ObjectPageMixin, HistoryView):
    """The whole life of one object, newest first, grouped by request or context."""

    page_name = "timeline"

    def related(self) -> bool:
        return self.request.GET.get("related") == "1"

    def crumbs(self, name: str) -> list:
        return super().crumbs(name)[:1]

    def get_context_data(self, **kwargs):
        request = self.request
        try:
            page = pagination.page(self.get_queryset(), pagination.DEFAULT_SORT, request.GET)
        except pagination.InvalidCursor as exc:
            self.status = 400
            return super().get_context_data(title="History", errors=[str(exc)], groups=[])
        rows = describe(self, self.event_rows(page.rows))
        if not rows and self.obj is None and page.is_first:
            raise Http404("No such object.")
        for row in rows:
            row.is_related = row.object_key != f"{self.key}:{self.pk}"
        related = self.related()
        context = super().get_context_data(
            groups=group_by_context(one_per_change(rows)),
            related=related,
            related_url=query_string(request, related="0" if related else "1"),
            newer_url=None if page.is_first else query_string(request, before=page.newer),
            older_url=None if page.is_last else query_string(request, after=page.older),
            admin_log_url=self.admin_log_url(),
            **kwargs,
        )
        context.setdefault("title", f"History of {context['object_name']}")
        return context

    def admin_log_url(self) -> str | None:
        """Django's own change log of the object, in the admin."""
        site = getattr(self.ui, "admin_site", None)
        if site is None or self.obj is None or not site.is_registered(self.model):
            return None
        opts = self.model._meta
        try:
            url = reverse(
                f"{site.name}:{opts.app_label}_{opts.model_name}_history", args=[self.pk]
            )
        except NoReverseMatch:
            return None
        return f"{url}?log=1"


class EventView(HistoryView):
    """One event: every stored field before and after it, the changed ones first."""

    page_name = "event"

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.found = None

    def get_event(self):
        """(the `Events` row, the event model instance) of the page."""
        if self.found is None:
            self.found = self.visible_event(self.kwargs["slug"])
        return self.found

    def get_template_model(self):
        return self.get_event()[1].pgh_tracked_model

    def get_context_data(self, **kwargs):
        row, event = self.get_event()
        slug = self.kwargs["slug"]
        (event_row,) = describe(self, self.event_rows([row]))
        model, data = event_row.model, row.pgh_data or {}
        kind = operation(type(event), row.pgh_label)
        if kind == "insert":
            before, after = None, data
        elif kind == "delete":
            before, after = data, None
        elif row.pgh_diff:
            before = {**data, **{column: pair[0] for column, pair in row.pgh_diff.items()}}
            after = data
        else:
            earlier = (
                Events.objects.using(history_database())
                .across(type(event))
                .filter(pgh_obj_id=row.pgh_obj_id, pgh_id__lt=row.pgh_id)
            )
            before, after = (data if row.pgh_obj_id and earlier.exists() else None), data
        diffs = compare(model, before, after, redacted=self.redacted_columns)
        diffs.sort(key=lambda diff: not diff.changed)
        load_related(diffs)
        key = model._meta.label_lower if model is not None else None
        context = {
            "title": f"{row.pgh_label} of {event_row.object_name or event_row.model_name}",
            "crumbs": (
                [(event_row.object_name, self.link("object", key, row.pgh_obj_id))]
                if key and row.pgh_obj_id
                else []
            ),
            "row": event_row,
            "kind": kind,
            "diffs": diffs,
            "before_title": "Before" if before is not None else "Before (did not exist)",
            "after_title": "After" if after is not None else "After (deleted)",
            "revert_url": self.link("revert", slug)
            if getattr(event, "can_revert", False)
            else None,
            "context_url": self.link("context", row.pgh_context_id)
            if row.pgh_context_id
            else None,
        }
        return super().get_context_data(**{**context, **kwargs})


class CompareView(ObjectPageMixin, HistoryView):
    """Two versions of one object side by side: `?event=<slug>&event=<slug>`."""

    page_name = "compare"

    def get_context_data(self, **kwargs):
        model, pk = self.get_object_key()
        slugs = self.request.GET.getlist("event")
        versions = []
        for slug in dict.fromkeys(slugs):
            try:
                versions.append(self.visible_event(slug)[0])
            except Http404:
                break
        problem = None
        if len(slugs) != 2 or len(versions) != 2:
            problem = "Pick two versions of this object to compare."
        elif any(
            v.pgh_obj_id != str(pk) or v.pgh_obj_model != model._meta.label for v in versions
        ):
            problem = "Both versions must be of this object."
        if problem:
            self.status = 400
            return super().get_context_data(title="Compare versions", problem=problem, **kwargs)
        older, newer = sorted(versions, key=lambda v: (v.pgh_created_at, v.pgh_model, v.pgh_id))
        diffs = compare(model, older.pgh_data, newer.pgh_data, redacted=self.redacted_columns)
        load_related(diffs)
        older_row, newer_row = describe(self, self.event_rows([older, newer]))
        return super().get_context_data(
            title="Compare versions",
            problem=None,
            diffs=diffs,
            older=older_row,
            newer=newer_row,
            older_title="Older version",
            newer_title="Newer version",
            changed_count=sum(diff.changed for diff in diffs),
            **kwargs,
        )


class AsOfForm(forms.Form):
    # A date alone means the start of that day.
    at = MomentField(label="As of")


class AsOfView(ObjectPageMixin, HistoryView):
    """The object as it was at a moment: the state its latest event at or before then stored."""

    page_name = "as_of"
    form_class = AsOfForm

    def get_context_data(self, **kwargs):
        self.get_object_key()
        form = self.form_class(self.request.GET if "at" in self.request.GET else None)
        context = {"title": "As of", "form": form}
        if form.is_bound and not form.is_valid():
            self.status = 400
        if form.is_bound and form.is_valid():
            context.update(self.state_at(form.cleaned_data["at"]))
        return super().get_context_data(**{**context, **kwargs})

    def state_at(self, moment) -> dict:
        """What the page shows of the object at `moment`."""
        events = self.get_queryset().filter(pgh_created_at__lte=moment)
        latest = pagination.ordered(events, pagination.DEFAULT_SORT).first()
        if latest is None:
            return {"moment": moment, "state": "absent"}
        (row,) = describe(self, self.event_rows([latest]))
        state = {
            "moment": moment,
            "event": row,
            "table_as_of_url": self.link("table_as_of", self.key, at=moment.isoformat()),
        }
        if row.kind == "delete":
            return {**state, "state": "deleted"}
        diffs = compare(self.model, None, latest.pgh_data, redacted=self.redacted_columns)
        load_related(diffs)
        return {**state, "state": "present", "fields": diffs}
