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
from pghistory_admin import pagination
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


def _find_user(raw: Any):
    """(the user, their primary key) for a user id stored in context metadata; the user is
    None if they were deleted, and both are None for a value that is no id at all."""
    user_model = get_user_model()
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        return None, None
    pk = parse_pk(user_model, raw)
    if pk is None:
        return None, None
    return user_model._default_manager.filter(pk=pk).first(), pk


# -- What did this request change? ---------------------------------------------------------

#: Metadata keys shown first, with a name for people.
KNOWN_KEYS = {"user": "User", "url": "URL", "method": "Method"}


@dataclass
class MetadataItem:
    key: str
    label: str
    value: str
    url: str | None = None


class ContextView(EventListView):
    """Every event of one context (a request, a job, a `pghistory.context` block) that the
    user may see, newest first, below the context's metadata."""

    page_name = "context"
    exclude_columns = ("user", "where")

    def get_queryset(self):
        return super().get_queryset().filter(pgh_context_id=self.kwargs["context_id"])

    def get_filter_data(self):
        """The page shows all of the context's events: no filter applies."""
        return QueryDict()

    def get_context_data(self, **kwargs):
        context_id = self.kwargs["context_id"]
        events = self.get_queryset()
        summary = events.aggregate(
            total=Count("pgh_slug"), first=Min("pgh_created_at"), last=Max("pgh_created_at")
        )
        if not summary["total"]:
            # Unknown, or only events the user may not see: the same answer.
            raise Http404("No such context.")
        stored = Context.objects.using(history_database()).filter(pk=context_id).first()
        if stored is not None:
            metadata = stored.metadata
        else:
            # A denormalised context has no row: each event carries its metadata.
            newest = pagination.ordered(events, pagination.DEFAULT_SORT)
            metadata = newest.values_list("pgh_context", flat=True).first()
        return super().get_context_data(
            title=f"Context {str(context_id)[:8]}",
            context_id=context_id,
            metadata=self._metadata_items(metadata),
            stored=stored,
            created_at=local_time(stored.created_at) if stored else None,
            updated_at=local_time(stored.updated_at) if stored else None,
            first_event=local_time(summary["first"]),
            last_event=local_time(summary["last"]),
            total=summary["total"],
            clear_url=self.link("context", context_id),
            undo_url=self.link("undo", context_id),
            browser_url_for_context=self.link("browser", context=str(context_id)),
            **kwargs,
        )

    def _metadata_items(self, metadata: Any) -> list[MetadataItem]:
        if metadata is None:
            return []
        if not isinstance(metadata, dict):
            return [MetadataItem("metadata", "Metadata", _as_text(metadata))]
        known = [key for key in KNOWN_KEYS if key in metadata]
        others = sorted(key for key in metadata if key not in KNOWN_KEYS)
        items = []
        for key in [*known, *others]:
            value = metadata[key]
            item = MetadataItem(key, KNOWN_KEYS.get(key, key), _as_text(value))
            if key == "user" and value is None:
                item.value = "Anonymous"
            elif key == "user":
                user, pk = _find_user(value)
                if user is not None:
                    item.value = user_display(user)
                    item.url = self.link("user", user.get_username())
                elif pk is not None:
                    item.value = f"user #{pk} (deleted)"
                    item.url = self.link("user", str(pk))
            items.append(item)
        return items


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
