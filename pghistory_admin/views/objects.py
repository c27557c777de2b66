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
from pghistory_admin import access, pagination
from pghistory_admin.conf import history_database
from pghistory_admin.diffs import compare, last_known, load_related, safe_str
from pghistory_admin.filters import MomentField
from pghistory_admin.rows import EventRow, event_rows, group_by_context
from pghistory_admin.views.base import HistoryView, query_string, visible_event, visible_object


def object_events(user, model, pk, *, related: bool = False):
    """The events of one object that `user` may see; with `related`, also the events of the
    objects whose foreign keys point to it (an order's lines, say)."""
    events = access.visible_events(user)
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
            row.changes = compare(row.model, None, row.data)
            created.extend(row.changes)
    load_related(created)
    return rows


class _ObjectPage(HistoryView):
    """A page about one object (which may have been deleted)."""

    def setup_object(self, request, model_key, raw_pk):
        self.model, self.pk = visible_object(request.user, model_key, raw_pk)
        self.key = self.model._meta.label_lower
        self.obj = self.model._base_manager.using(history_database()).filter(pk=self.pk).first()

    def object_name(self) -> str:
        """The object's string form now, or, if it was deleted, as its last event stored it."""
        if self.obj is not None:
            return safe_str(self.obj)
        gone = last_known(self.model, [str(self.pk)]).get(str(self.pk))
        return (
            safe_str(gone) if gone is not None else f"{self.model._meta.verbose_name} #{self.pk}"
        )

    def object_context(self, name: str) -> dict:
        return {
            "model": self.model,
            "model_name": capfirst(self.model._meta.verbose_name),
            "object_name": name,
            "object_exists": self.obj is not None,
            "timeline_url": self.link("object", self.key, self.pk),
            "as_of_url": self.link("as_of", self.key, self.pk),
            "compare_url": self.link("compare", self.key, self.pk),
        }

    def crumbs(self, name: str, with_timeline: bool = True) -> list:
        crumbs = [
            (capfirst(self.model._meta.verbose_name_plural), self.link("browser", model=self.key))
        ]
        if with_timeline:
            crumbs.append((name, self.link("object", self.key, self.pk)))
        return crumbs


class TimelineView(_ObjectPage):
    """The whole life of one object, newest first, grouped by request or context."""

    def get(self, request, model, pk):
        self.setup_object(request, model, pk)
        related = request.GET.get("related") == "1"
        events = object_events(request.user, self.model, self.pk, related=related)
        try:
            page = pagination.page(events, pagination.DEFAULT_SORT, request.GET)
        except pagination.InvalidCursor as exc:
            return self.render(
                request,
                "pghistory_admin/pages/timeline.html",
                {"title": "History", "errors": [str(exc)], **self.object_context("")},
                status=400,
            )
        rows = describe(self, event_rows(page.rows))
        if not rows and self.obj is None and page.is_first:
            raise Http404("No such object.")
        for row in rows:
            row.is_related = row.object_key != f"{self.key}:{self.pk}"
        name = self.object_name()
        context = {
            "title": f"History of {name}",
            "crumbs": self.crumbs(name, with_timeline=False),
            "groups": group_by_context(rows),
            "related": related,
            "related_url": query_string(request, related="0" if related else "1"),
            "newer_url": None if page.is_first else query_string(request, before=page.newer),
            "older_url": None if page.is_last else query_string(request, after=page.older),
            "admin_log_url": self._admin_log_url(),
            **self.object_context(name),
        }
        return self.render(request, "pghistory_admin/pages/timeline.html", context)

    def _admin_log_url(self) -> str | None:
        """Django's own change log of the object ("History" before this app), in the admin."""
        model_admin = getattr(self.surface, "model_admin", None)
        if model_admin is None or self.obj is None:
            return None
        site = model_admin.admin_site
        if not site.is_registered(self.model):
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

    def get(self, request, slug):
        row, event = visible_event(request.user, slug)
        (event_row,) = describe(self, event_rows([row]))
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
        diffs = compare(model, before, after)
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
        return self.render(request, "pghistory_admin/pages/event.html", context)


class CompareView(_ObjectPage):
    """Two versions of one object side by side: `?event=<slug>&event=<slug>`."""

    def get(self, request, model, pk):
        self.setup_object(request, model, pk)
        slugs = request.GET.getlist("event")
        versions = []
        for slug in dict.fromkeys(slugs):
            try:
                versions.append(visible_event(request.user, slug)[0])
            except Http404:
                break
        problem = None
        if len(slugs) != 2 or len(versions) != 2:
            problem = "Pick two versions of this object to compare."
        elif any(
            v.pgh_obj_id != str(self.pk) or v.pgh_obj_model != self.model._meta.label
            for v in versions
        ):
            problem = "Both versions must be of this object."
        name = self.object_name()
        context = {"title": "Compare versions", "crumbs": self.crumbs(name), "problem": problem}
        context.update(self.object_context(name))
        if problem:
            return self.render(request, "pghistory_admin/pages/compare.html", context, status=400)
        older, newer = sorted(versions, key=lambda v: (v.pgh_created_at, v.pgh_model, v.pgh_id))
        diffs = compare(self.model, older.pgh_data, newer.pgh_data)
        load_related(diffs)
        older_row, newer_row = describe(self, event_rows([older, newer]))
        context.update(
            {
                "diffs": diffs,
                "older": older_row,
                "newer": newer_row,
                "older_title": "Older version",
                "newer_title": "Newer version",
                "changed_count": sum(diff.changed for diff in diffs),
            }
        )
        return self.render(request, "pghistory_admin/pages/compare.html", context)


class _AsOfForm(forms.Form):
    # A date alone means the start of that day.
    at = MomentField(label="As of")


class AsOfView(_ObjectPage):
    """The object as it was at a moment: the state its latest event at or before then stored."""

    def get(self, request, model, pk):
        self.setup_object(request, model, pk)
        name = self.object_name()
        form = _AsOfForm(request.GET if "at" in request.GET else None)
        context = {"title": "As of", "crumbs": self.crumbs(name), "form": form}
        context.update(self.object_context(name))
        if not form.is_bound:
            return self.render(request, "pghistory_admin/pages/as_of.html", context)
        if not form.is_valid():
            return self.render(request, "pghistory_admin/pages/as_of.html", context, status=400)
        moment = form.cleaned_data["at"]
        events = object_events(request.user, self.model, self.pk).filter(
            pgh_created_at__lte=moment
        )
        latest = pagination.ordered(events, pagination.DEFAULT_SORT).first()
        context["moment"] = moment
        if latest is None:
            context["state"] = "absent"
        else:
            (row,) = describe(self, event_rows([latest]))
            context.update(
                {"event": row, "state": "deleted" if row.kind == "delete" else "present"}
            )
            if row.kind != "delete":
                diffs = compare(self.model, None, latest.pgh_data)
                load_related(diffs)
                context["fields"] = diffs
        return self.render(request, "pghistory_admin/pages/as_of.html", context)
