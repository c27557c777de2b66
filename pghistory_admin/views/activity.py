"""Activity pages: every event of one context ("what did this request change?") and every
event of one user, with a chart of their events per day ("what did this user change?")."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Max, Min
from django.db.models.functions import TruncDate
from django.http import Http404, HttpResponseRedirect, QueryDict
from django.utils import timezone

from pghistory.models import Context
from pghistory_admin import lineage, pagination
from pghistory_admin.charts import Chart, activity_chart
from pghistory_admin.conf import history_database
from pghistory_admin.filters import PERIODS
from pghistory_admin.rows import parse_pk, user_display
from pghistory_admin.rules import tracked_models
from pghistory_admin.tables import local_time
from pghistory_admin.views.base import EventListView, query_string
from pghistory_admin.views.browser import BrowserView

#: Days the activity chart covers when no date filter says otherwise (today included).
DEFAULT_CHART_DAYS = 30


def _as_text(value: Any) -> str:
    """A metadata value as people read it: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


# -- What did this request change, and what did its jobs? ---------------------------------

#: Metadata keys shown first, with a name for people.
KNOWN_KEYS = {
    "user": "User",
    "url": "URL",
    "method": "Method",
    "task": "Task",
    "task_id": "Task id",
    "command": "Command",
    "argv": "Arguments",
    "os_user": "OS user",
    "parent": "Enqueued from",
    "origin": "Origin",
}

#: Metadata keys that name another context, whose page they link to.
_CONTEXT_KEYS = ("parent", "origin")


@dataclass
class MetadataItem:
    key: str
    label: str
    value: str
    url: str | None = None
    link_class: str = "pgh-user-page"


@dataclass
class Job:
    """A context started from the page's context: a task's run, as its page lists it."""

    context_id: Any
    name: str
    created_at: Any
    user: str
    user_url: str | None
    events: int
    url: str


class ContextView(EventListView):
    """Every event of one context (a request, a job, a `pghistory.context` block) that the
    user may see, newest first, below the context's metadata, the jobs it started and, for
    a job, the context it was enqueued from.

    The page exists while the user may see an event of the context or of a job descended
    from it: a request that only enqueued jobs has a page though it wrote nothing itself."""

    page_name = "context"
    exclude_columns = ("user", "where")

    def get_queryset(self):
        return super().get_queryset().filter(pgh_context_id=self.kwargs["context_id"])

    def get_filter_data(self):
        """The page shows all of the context's events: no filter applies."""
        return QueryDict()

    def get_context_data(self, **kwargs):
        context_id, database = self.kwargs["context_id"], history_database()
        events = self.get_queryset()
        summary = events.aggregate(
            total=Count("pgh_slug"), first=Min("pgh_created_at"), last=Max("pgh_created_at")
        )
        stored, started = lineage.context_and_jobs(context_id, database)
        if not summary["total"] and not self._caused_anything_visible(started):
            # Unknown, or only events the user may not see: the same answer.
            raise Http404("No such context.")
        if stored is not None:
            metadata = stored.metadata
        elif summary["total"]:
            # A denormalised context has no row: each event carries its metadata.
            newest = pagination.ordered(events, pagination.DEFAULT_SORT)
            metadata = newest.values_list("pgh_context", flat=True).first()
        else:
            # A request that wrote nothing itself: its jobs recorded its metadata.
            recorded = started[0].metadata
            metadata = recorded.get("parent_metadata") if isinstance(recorded, dict) else None
        parent = self._parent(metadata)
        return super().get_context_data(
            title=f"Context {str(context_id)[:8]}",
            context_id=context_id,
            metadata=self._metadata_items(metadata),
            stored=stored,
            created_at=local_time(stored.created_at) if stored else None,
            updated_at=local_time(stored.updated_at) if stored else None,
            first_event=local_time(summary["first"]) if summary["total"] else None,
            last_event=local_time(summary["last"]) if summary["total"] else None,
            total=summary["total"],
            jobs=self._jobs(started[: lineage.JOBS_SHOWN]),
            more_jobs=len(started) > lineage.JOBS_SHOWN,
            caused_url=self.link("caused", context_id) if started else None,
            parent_id=parent,
            parent_metadata=self._parent_metadata(metadata, parent, database),
            clear_url=self.link("context", context_id),
            undo_url=self.link("undo", context_id),
            browser_url_for_context=self.link("browser", context=str(context_id)),
            **kwargs,
        )

    def _caused_anything_visible(self, started: list[Context]) -> bool:
        if not started:
            return False
        caused = lineage.caused_contexts(self.kwargs["context_id"], history_database())
        return super().get_queryset().filter(pgh_context_id__in=caused).exists()

    def _jobs(self, started: list[Context]) -> list[Job]:
        """The jobs that wrote events the user may see, with how many: one query for the
        counts and one for the users, however many jobs."""
        counts = dict(
            super()
            .get_queryset()
            .filter(pgh_context_id__in=[job.pk for job in started])
            .order_by()
            .values("pgh_context_id")
            .annotate(events=Count("pgh_slug"))
            .values_list("pgh_context_id", "events")
        )
        shown = [job for job in started if counts.get(job.pk)]
        users = _find_users(job.metadata.get("user") for job in shown)
        jobs = []
        for job in shown:
            source = lineage.context_source(job.metadata)
            user, user_url = self._user_cell(job.metadata.get("user"), users)
            jobs.append(
                Job(
                    context_id=job.pk,
                    name=source.text if source else f"context {str(job.pk)[:8]}",
                    created_at=local_time(job.created_at),
                    user=user,
                    user_url=user_url,
                    events=counts[job.pk],
                    url=self.link("context", job.pk),
                )
            )
        return jobs

    def _user_cell(self, raw: Any, users: dict) -> tuple[str, str | None]:
        """(the user's name, the URL of their page) for a user id from metadata."""
        if raw is None:
            return "—", None
        pk = _user_pk(raw)
        user = users.get(pk)
        if user is not None:
            return user_display(user), self.link("user", user.get_username())
        if pk is not None:
            return f"user #{pk} (deleted)", self.link("user", str(pk))
        return _as_text(raw), None

    @staticmethod
    def _parent(metadata: Any):
        """The id of the context a job was enqueued from (None for any other context)."""
        if not isinstance(metadata, dict):
            return None
        return lineage.context_uuid(metadata.get("parent"))

    def _parent_metadata(self, metadata: Any, parent, database: str) -> list[MetadataItem]:
        """The metadata of the context a job was enqueued from, as the job recorded it, when
        that context wrote nothing itself (it has no row); otherwise none."""
        if parent is None or Context.objects.using(database).filter(pk=parent).exists():
            return []
        return self._metadata_items(metadata.get("parent_metadata") or {})

    def _metadata_items(self, metadata: Any) -> list[MetadataItem]:
        if metadata is None:
            return []
        if not isinstance(metadata, dict):
            return [MetadataItem("metadata", "Metadata", _as_text(metadata))]
        shown = {key: value for key, value in metadata.items() if key != "parent_metadata"}
        known = [key for key in KNOWN_KEYS if key in shown]
        others = sorted(key for key in shown if key not in KNOWN_KEYS)
        users = _find_users([shown.get("user")])
        items = []
        for key in [*known, *others]:
            value = shown[key]
            item = MetadataItem(key, KNOWN_KEYS.get(key, key), _as_text(value))
            if key == "user" and value is None:
                item.value = "Anonymous"
            elif key == "user":
                item.value, item.url = self._user_cell(value, users)
            elif key == "argv" and isinstance(value, list):
                item.value = " ".join(str(word) for word in value)
            elif key in _CONTEXT_KEYS and lineage.context_uuid(value) is not None:
                item.url = self.link("context", lineage.context_uuid(value))
                item.link_class = f"pgh-{key}"
            items.append(item)
        return items


def _user_pk(raw: Any):
    """A user id stored in context metadata as a primary key (None for no id at all)."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        return None
    return parse_pk(get_user_model(), raw)


def _find_users(raws) -> dict:
    """The users that exist among user ids stored in context metadata, by primary key: one
    query."""
    pks = {pk for pk in map(_user_pk, raws) if pk is not None}
    if not pks:
        return {}
    return {user.pk: user for user in get_user_model()._default_manager.filter(pk__in=pks)}


class CausedView(BrowserView):
    """Everything one context caused: its events and those of every job descended from it
    (its tasks, their tasks, their retries), with the browser's filters, pages and
    exports."""

    page_name = "caused"

    def get(self, request, *args, **kwargs):
        caused = lineage.caused_contexts(kwargs["context_id"], history_database())
        if not self.get_queryset().filter(pgh_context_id__in=caused).exists():
            raise Http404("No such context.")
        return super().get(request, *args, **kwargs)

    def get_template_model(self):
        return None

    def fixed_filters(self) -> dict:
        # The URL chooses the context; a `caused` parameter would only contradict it.
        return {"caused": str(self.kwargs["context_id"])}

    def get_context_data(self, **kwargs):
        context_id = self.kwargs["context_id"]
        page_url = self.link("caused", context_id)
        return super().get_context_data(
            title=f"Everything context {str(context_id)[:8]} caused",
            context_id=context_id,
            context_url=self.link("context", context_id),
            clear_url=page_url,
            form_action=page_url,
            **kwargs,
        )


# -- What did this user change? ------------------------------------------------------------


def chart_range(cleaned: dict, today: datetime.date, now: datetime.datetime):
    """The first and last day the chart covers: the date filters' range, else the
    `DEFAULT_CHART_DAYS` days up to `until` (or today)."""
    day_of = _local_date
    end = today
    if cleaned.get("until") is not None:
        # `until` is exclusive: "until 2026-11-28 00:00" ends with the 27th.
        end = day_of(cleaned["until"], datetime.timedelta(microseconds=-1)) or datetime.date.min
    starts = []
    if cleaned.get("since") is not None:
        starts.append(day_of(cleaned["since"]) or datetime.date.min)
    if cleaned.get("period"):
        starts.append(day_of(now, -PERIODS[cleaned["period"]][1]) or today)
    if starts:
        start = max(starts)
    else:
        try:
            start = end - datetime.timedelta(days=DEFAULT_CHART_DAYS - 1)
        except OverflowError:
            start = datetime.date.min
    return start, max(start, end)


def _local_date(
    moment: datetime.datetime, shift: datetime.timedelta = datetime.timedelta(0)
) -> datetime.date | None:
    """The day of `moment + shift` in the current time zone; None at the ends of time."""
    try:
        return timezone.localdate(moment + shift)
    except (OverflowError, ValueError):
        return None


def _midnight(day: datetime.date) -> datetime.datetime | None:
    """The start of `day` in the current time zone, or None where that cannot be written."""
    try:
        moment = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
        moment.astimezone(datetime.UTC)  # representable in UTC too
    except (OverflowError, ValueError):
        return None
    return moment


def day_counts(
    queryset, start: datetime.date, end: datetime.date, moment: str = "pgh_created_at"
) -> dict[datetime.date, int]:
    """Rows of `queryset` per day of their `moment` (in the current time zone) from `start`
    to `end`: one GROUP BY query."""
    low = _midnight(start)
    try:
        high = _midnight(end + datetime.timedelta(days=1))
    except OverflowError:
        high = None
    if low is not None:
        queryset = queryset.filter(**{f"{moment}__gte": low})
    if high is not None:
        queryset = queryset.filter(**{f"{moment}__lt": high})
    grouped = (
        queryset.order_by()
        .annotate(day=TruncDate(moment))
        .values("day")
        .annotate(rows=Count("pk"))
        .values_list("day", "rows")
    )
    return dict(grouped)


#: The filters a chart of requests honours (its time range and its user).
_REQUEST_CHART_FILTERS = {"user", "period", "since", "until"}


class UserView(BrowserView):
    """One user's events (the browser's filters, with the user fixed by the URL) and a chart
    of them per day. The key is a user name, or the id of a user who has been deleted."""

    page_name = "user"
    exclude_columns = ("user",)

    def get(self, request, *args, **kwargs):
        key = kwargs["key"]
        user_model = get_user_model()
        self.target = user_model._default_manager.filter(
            **{user_model.USERNAME_FIELD: key}
        ).first()
        if self.target is None:
            pk = parse_pk(user_model, key)
            if pk is None:
                raise Http404("No such user.")
            existing = user_model._default_manager.filter(pk=pk).first()
            if existing is not None:
                # An id of a user who still exists: their page is under their name.
                url = self.link("user", existing.get_username()) + query_string(request)
                return HttpResponseRedirect(url.removesuffix("?"))
            if not self.get_queryset().filter(pgh_context__user=pk).exists():
                raise Http404("No such user.")
        return super().get(request, *args, **kwargs)

    def get_template_model(self):
        return None

    def fixed_filters(self) -> dict:
        # The URL chooses the user; a `user` parameter would only contradict it.
        return {"user": self.kwargs["key"]}

    def get_context_data(self, **kwargs):
        key, target = self.kwargs["key"], self.target
        page_url = self.link("user", key)
        context = super().get_context_data(
            title=user_display(target) if target is not None else f"User #{key} (deleted)",
            target=target,
            user_key=key,
            clear_url=page_url,
            form_action=page_url,
            browser_url_for_user=self.link("browser") + query_string(self.request, user=key),
            **kwargs,
        )
        if context["page"] is not None:
            now = timezone.now()
            cleaned = self.filterset.form.cleaned_data
            start, end = chart_range(cleaned, timezone.localdate(now), now)
            context["chart"] = self.chart(start, end)
        return context

    def chart(self, start: datetime.date, end: datetime.date) -> Chart:
        """The chart of the user's activity. A viewer who sees every tracked model, with no
        filter but dates, gets the user's requests (and other contexts) per day: a range of
        one index, however long the history. Otherwise it counts the events the filters
        select, so the chart never counts what the viewer may not see or has filtered
        out."""
        filters = self.filterset
        cleaned = filters.form.cleaned_data
        narrowed = any(
            value not in (None, "", [], ())
            for name, value in cleaned.items()
            if name not in _REQUEST_CHART_FILTERS
        )
        if narrowed or len(filters.visible) < len(tracked_models()):
            return activity_chart(day_counts(filters.qs, start, end), start, end)
        requests = Context.objects.using(history_database()).filter(metadata__user=cleaned["user"])
        return activity_chart(
            day_counts(requests, start, end, "created_at"), start, end, "request"
        )
