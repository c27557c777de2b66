"""The statistics page: the size and growth of every event table, for superusers (the same
figures as `manage.py pghistory_stats`, read where the UI reads: `PGHISTORY_ADMIN_DATABASE`)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from pghistory import maintenance
from pghistory_admin.conf import history_database
from pghistory_admin.tables import local_time
from pghistory_admin.views.base import HistoryView


class StatsView(HistoryView):
    """One row per event table: events, size, the last 7 and 30 days, oldest and newest.

    Tables above `maintenance.EXACT_COUNT_LIMIT` events show the planner's estimate, so the
    page never counts a huge table. Superusers only: it covers every model's history.
    """

    page_name = "stats"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not self.ui.can_see_stats(request):
            raise PermissionDenied("Only superusers may see the history's statistics.")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        tables = maintenance.table_stats(using=history_database())
        rows = [
            {
                "stats": table,
                "browser_url": self.link(
                    "browser", model=table.event_model.pgh_tracked_model._meta.label_lower
                ),
                "events": f"{table.events:,}",
                "last_7_days": f"{table.last_7_days:,}",
                "last_30_days": f"{table.last_30_days:,}",
                "oldest": local_time(table.oldest) if table.oldest else None,
                "newest": local_time(table.newest) if table.newest else None,
            }
            for table in tables
        ]
        total_events = sum(table.events for table in tables)
        return super().get_context_data(
            title="Statistics",
            rows=rows,
            total_events=f"{total_events:,}",
            plural_events=total_events != 1,
            total_bytes=sum(table.total_bytes for table in tables),
            any_estimated=any(table.estimated for table in tables),
            exact_limit=f"{maintenance.EXACT_COUNT_LIMIT:,}",
            **kwargs,
        )
