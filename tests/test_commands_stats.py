"""`manage.py pghistory_stats` and the statistics page: each event table's events, size,
growth over the last 7 and 30 days, oldest and newest event, for a known history."""

import datetime
import io
import json
import re
from html.parser import HTMLParser

import pytest
from django.core.management import call_command
from django.db import connection

from pghistory import maintenance
from tests.testapp.models import Place, RowModel

pytestmark = pytest.mark.django_db

RowEvent = RowModel.pgh_event_model
PlaceEvent = Place.pgh_event_model
#: Ages in days of the RowModel events of the known history.
AGES = [45, 20, 6, 2, 0.5]


@pytest.fixture
def now():
    """The database's clock: the test's transaction started then, and NOW() stays there."""
    return maintenance.database_now()


@pytest.fixture
def history(now):
    """Five RowModel events (45, 20, 6, 2 and half a day old), analyzed; no Place events."""
    row = RowModel.objects.create(int_field=0)
    for value in range(1, len(AGES)):
        RowModel.objects.filter(pk=row.pk).update(int_field=value)
    for pgh_id, days in zip(
        RowEvent.objects.order_by("pgh_id").values_list("pgh_id", flat=True), AGES
    ):
        RowEvent.objects.filter(pgh_id=pgh_id).update(
            pgh_created_at=now - datetime.timedelta(days=days)
        )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {RowEvent._meta.db_table}")


def total_size(event_model) -> int:
    """The table's size with its indexes; a partitioned table's is its partitions'."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_total_relation_size(%s::regclass) + COALESCE((SELECT"
            " sum(pg_total_relation_size(relid)) FROM pg_partition_tree(%s::regclass)"
            " WHERE isleaf), 0)",
            [event_model._meta.db_table] * 2,
        )
        return cursor.fetchone()[0]


def stats(*args) -> str:
    out = io.StringIO()
    call_command("pghistory_stats", *args, stdout=out)
    return out.getvalue()


def test_json_gives_the_exact_figures_of_each_event_table(history, now):
    (row, place) = json.loads(stats("testapp.RowModel", "testapp.Place", "--format", "json"))

    assert row == {
        "event_model": "testapp.RowModelEvent",
        "tracked_model": "testapp.RowModel",
        "table": "testapp_rowmodelevent",
        "events": 5,
        "events_estimated": False,
        "planner_estimate": 5,
        "total_bytes": total_size(RowEvent),
        "last_7_days": 3,
        "last_30_days": 4,
        "per_day_7": 0.43,
        "per_day_30": 0.13,
        "oldest": (now - datetime.timedelta(days=45)).isoformat(),
        "newest": (now - datetime.timedelta(hours=12)).isoformat(),
    }
    assert place == {
        "event_model": "testapp.PlaceEvent",
        "tracked_model": "testapp.Place",
        "table": "testapp_placeevent",
        "events": 0,
        "events_estimated": False,
        "planner_estimate": None,  # never analyzed
        "total_bytes": total_size(PlaceEvent),
        "last_7_days": 0,
        "last_30_days": 0,
        "per_day_7": 0.0,
        "per_day_30": 0.0,
        "oldest": None,
        "newest": None,
    }


def test_the_table_lines_up_one_event_model_a_line(history, now):
    lines = stats("testapp.RowModel").splitlines()

    assert re.split(r"\s{2,}", lines[0]) == [
        "event model",
        "tracked model",
        "events",
        "planner estimate",
        "size",
        "last 7 days (/day)",
        "last 30 days (/day)",
        "oldest",
        "newest",
    ]
    assert re.split(r"\s{2,}", lines[1]) == [
        "testapp.RowModelEvent",
        "testapp.RowModel",
        "5",
        "5",
        f"{total_size(RowEvent) / 1024:.1f} KB",
        "3 (0.4)",
        "4 (0.1)",
        (now - datetime.timedelta(days=45)).isoformat(sep=" ", timespec="seconds"),
        (now - datetime.timedelta(hours=12)).isoformat(sep=" ", timespec="seconds"),
    ]
    assert len(lines) == 2


def test_a_table_larger_than_the_limit_shows_the_planner_s_estimate(history):
    RowModel.objects.create(int_field=9)  # a sixth event, after the analysis

    (counted,) = maintenance.table_stats([RowEvent])
    (estimated,) = maintenance.table_stats([RowEvent], exact_up_to=4)

    assert (counted.events, counted.estimated, counted.planner_estimate) == (6, False, 5)
    assert (estimated.events, estimated.estimated, estimated.planner_estimate) == (5, True, 5)


def test_exact_counts_every_table_whatever_its_estimate(history, monkeypatch):
    monkeypatch.setattr(maintenance, "EXACT_COUNT_LIMIT", 1)
    RowModel.objects.create(int_field=9)

    (without,) = json.loads(stats("testapp.RowModel", "--format", "json"))
    (exact,) = json.loads(stats("testapp.RowModel", "--format", "json", "--exact"))

    assert (without["events"], without["events_estimated"]) == (5, True)
    assert (exact["events"], exact["events_estimated"]) == (6, False)


def test_without_names_every_event_model_is_listed():
    listed = json.loads(stats("--format", "json"))

    assert [table["event_model"] for table in listed] == [
        model._meta.label for model in maintenance.event_models()
    ]


# -- the page ---------------------------------------------------------------------------------

PAGES = ["/history/stats/", "/admin/pghistory_ui/event/stats/"]


class _StatsTable(HTMLParser):
    """Each row of the statistics table as {"Event model": ..., "Events": ..., ...}."""

    def __init__(self):
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self._cell: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-event-model" in attrs:
            self.rows.append({})
        elif tag == "td" and self.rows and "data-label" in attrs:
            self._cell = attrs["data-label"]
            self.rows[-1][self._cell] = ""

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self.rows[-1][self._cell] += data


def stats_rows(html: bytes) -> dict[str, dict[str, str]]:
    parser = _StatsTable()
    parser.feed(html.decode())
    return {
        row["Event model"]: {k: " ".join(v.split()) for k, v in row.items()} for row in parser.rows
    }


@pytest.mark.parametrize("url", PAGES)
def test_the_page_shows_a_superuser_the_same_figures(admin_client, history, now, url):
    response = admin_client.get(url)

    assert response.status_code == 200
    rows = stats_rows(response.content)
    assert list(rows) == [model._meta.label for model in maintenance.event_models()]
    oldest = now - datetime.timedelta(days=45)
    newest = now - datetime.timedelta(hours=12)
    assert rows["testapp.RowModelEvent"] == {
        "Event model": "testapp.RowModelEvent",
        "Tracked model": "testapp.RowModel",
        "Events": "5",
        "Size": f"{total_size(RowEvent) / 1024:.1f} KB",
        "Last 7 days": "3 (0.4/day)",
        "Last 30 days": "4 (0.1/day)",
        "Oldest": f"{oldest:%Y-%m-%d} {oldest:%H:%M:%S}",
        "Newest": f"{newest:%Y-%m-%d} {newest:%H:%M:%S}",
    }
    assert rows["testapp.PlaceEvent"]["Events"] == "0"
    assert rows["testapp.PlaceEvent"]["Oldest"] == ""
    assert 'href="' + url.replace("stats/", "") + '?model=testapp.rowmodel"' in (
        response.content.decode()
    )
    every = maintenance.event_models()
    events = sum(model.objects.count() for model in every)  # the admin's own user's too
    size = sum(total_size(model) for model in every) / 2**20
    lead = re.search(r'<p class="pgh-lead">(.*?)</p>', response.content.decode()).group(1)
    assert lead == (
        f'<strong class="pgh-stats-total">{events} events</strong> in {len(every)} event'
        f" tables, <strong>{size:.1f}\xa0MB</strong> on disk with their indexes."
    )


@pytest.mark.parametrize("url", PAGES)
def test_staff_who_are_not_superusers_are_refused(client, django_user_model, url):
    staff = django_user_model.objects.create_user("dan", password="pw", is_staff=True)
    client.force_login(staff)

    response = client.get(url)

    assert response.status_code == 403
    assert "testapp.RowModelEvent" not in response.content.decode()


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_users_are_sent_to_log_in(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(("/admin/login/?next=", "/accounts/login/?next="))


def test_signed_in_users_who_are_not_staff_are_refused(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("carol", password="pw"))

    assert client.get(PAGES[0]).status_code == 403
    response = client.get(PAGES[1])
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")
