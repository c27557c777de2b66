"""`pghistory.admin` as django-pghistory 3.9.2's users know it: its modules and template tags,
the list's query parameters (`obj` with `method`, `model`, `event_model`, `label`, `back`),
the buttons on tracked models' pages, the filter titles and the "N events" line, which counts
up to a limit and never the whole history."""

from __future__ import annotations

import re
import sys
import types
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.template import engines
from django.test.utils import CaptureQueriesContext
from django.urls import path, reverse

import pghistory.admin
from pghistory.admin import core
from pghistory.models import Context, Events
from tests.testapp.models import Author, Book

EVENTS_URL = "/admin/pghistory/events/"
BookEvent = Book.pgh_event_model


class AdminPage(HTMLParser):
    """What a person reads on an admin list or change page: the title and subtitle, the
    object-tools links, the result rows (text per `field-*` cell), the result line and the
    sidebar's filter titles."""

    def __init__(self, html: str):
        super().__init__()
        self.headings: dict[str, list[str]] = {"h1": [], "h2": []}
        self.tools: list[tuple[str, str, str]] = []  # (class, href, text)
        self.rows: list[dict[str, str]] = []
        self.result_line = None
        self.filter_titles: list[str] = []
        self._stack: list[tuple[str, dict]] = []
        self._text: list[str] = []
        self._in = {"tools": False, "results": False, "filters": False}
        self._capture = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        classes = attrs.get("class", "").split()
        if tag == "ul" and "object-tools" in classes:
            self._in["tools"] = True
        if tag == "table" and attrs.get("id") == "result_list":
            self._in["results"] = True
        if tag == "nav" and attrs.get("id") == "changelist-filter":
            self._in["filters"] = True
        if self._in["results"] and tag == "tr" and self._stack_has("tbody"):
            self.rows.append({})
        field_class = next((c for c in classes if c.startswith("field-")), None)
        if self._in["results"] and tag in ("td", "th") and field_class and self.rows:
            self._start(("cell", field_class[len("field-") :]))
        elif tag == "a" and self._in["tools"]:
            self._start(("tool", attrs.get("class", ""), attrs.get("href", "")))
        elif tag == "p" and "paginator" in classes:
            self._start(("result_line",))
        elif tag == "summary" and self._in["filters"]:
            self._start(("filter",))
        elif tag in ("h1", "h2") and not self._in["filters"] and self._capture is None:
            self._start(("heading", tag))
        self._stack.append((tag, attrs))

    def _stack_has(self, tag):
        return any(t == tag for t, _ in self._stack)

    def _start(self, what):
        self._capture, self._text = what, []

    def handle_endtag(self, tag):
        while self._stack and self._stack[-1][0] != tag:
            self._stack.pop()
        if self._stack:
            self._stack.pop()
        if tag == "ul":
            self._in["tools"] = False
        if tag == "table":
            self._in["results"] = False
        if tag == "nav":
            self._in["filters"] = False
        what = self._capture
        ends = {
            "cell": ("td", "th"),
            "tool": ("a",),
            "result_line": ("p",),
            "filter": ("summary",),
        }
        if what is None or tag not in ends.get(what[0], (what[-1],)):
            return
        text = re.sub(r"\s+", " ", "".join(self._text)).strip()
        if what[0] == "cell":
            self.rows[-1][what[1]] = text
        elif what[0] == "tool":
            self.tools.append((what[1], what[2], text))
        elif what[0] == "result_line":
            self.result_line = text
        elif what[0] == "filter":
            self.filter_titles.append(text)
        else:
            self.headings[what[1]].append(text)
        self._capture = None

    def handle_data(self, data):
        if self._capture is not None:
            self._text.append(data)

    def column(self, name: str) -> list[str]:
        return [row.get(name) for row in self.rows]

    def tool(self, css_class: str) -> list[tuple[str, str]]:
        return [(href, text) for cls, href, text in self.tools if cls == css_class]


def unbounded_counts(queries) -> list[str]:
    """Captured SQL that counts anything but a LIMITed subquery."""
    bounded = re.compile(
        r"^SELECT COUNT\(\*\) FROM \(.* LIMIT \d+( OFFSET \d+)?\) subquery$", re.S
    )
    return [
        q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and not bounded.match(q["sql"])
    ]


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


@pytest.fixture
def history():
    """Two books by one author; the first retitled: 3 book events (2 of the first)."""
    author = Author.objects.create(name="Ursula")
    first = Book.objects.create(title="Lathe", author=author)
    second = Book.objects.create(title="Dispossessed", author=author)
    first.title = "The Lathe of Heaven"
    first.save()
    return author, first, second


@pytest.fixture
def book_event_admin(settings):
    """`BookEvent` registered with its own `EventModelAdmin` on the admin site, as 3.9.2
    projects do, and URLs that serve it."""
    admin.site.register(BookEvent, pghistory.admin.EventModelAdmin)
    urls = types.ModuleType("tests.book_event_admin_urls")
    urls.urlpatterns = [path("admin/", admin.site.urls)]
    sys.modules[urls.__name__] = urls
    settings.ROOT_URLCONF = urls.__name__
    yield admin.site._registry[BookEvent]
    admin.site.unregister(BookEvent)
    del sys.modules[urls.__name__]


def get(client, url, params=None) -> AdminPage:
    response = client.get(url, params)
    assert response.status_code == 200, (url, params, response.get("Location"))
    return AdminPage(response.content.decode())


# Modules and names


def test_the_admin_classes_live_in_pghistory_admin_core():
    for name in [
        "BaseEventAdmin",
        "EventModelAdmin",
        "EventsAdmin",
        "LabelFilter",
        "EventModelFilter",
        "MethodFilter",
        "ObjFilter",
        "ModelFilter",
        "BackFilter",
        "DynamicFilter",
        "EventsChangeList",
    ]:
        assert getattr(pghistory.admin, name) is getattr(core, name)
        assert name in pghistory.admin.__all__
    assert issubclass(core.EventModelAdmin, core.BaseEventAdmin)
    assert issubclass(core.EventsAdmin, core.BaseEventAdmin)
    assert issubclass(core.ObjFilter, core.DynamicFilter)
    assert isinstance(admin.site._registry[Events], core.EventsAdmin)


@pytest.mark.django_db
def test_a_template_written_for_3_9_2_keeps_rendering(book_event_admin):
    template = engines["django"].from_string(
        "{% load events_are_tracked from pghistory_admin %}"
        "{% load events_admin_url event_admins from pghistory_admin %}"
        '{% if "testapp.Book"|events_are_tracked %}tracked{% endif %}|'
        '{% if "testapp.Author"|events_are_tracked %}tracked{% endif %}|'
        "{% events_admin_url %}|"
        '{% for opts in "testapp.Book"|event_admins %}{{ opts.verbose_name_plural }}{% endfor %}|'
        '{% for opts in "testapp.Author"|event_admins %}{{ opts.label }}{% endfor %}'
    )

    assert template.render({}) == f"tracked||{EVENTS_URL}|book events|"


# The aggregate list's parameters


@pytest.mark.django_db
def test_a_3_9_object_link_lists_the_objects_events_with_a_back_link(staff_client, history):
    _, first, _ = history
    back = f"/admin/testapp/book/{first.pk}/change/"
    page = get(
        staff_client,
        EVENTS_URL,
        {"method": "tracks", "obj": f"testapp.Book:{first.pk}", "back": back},
    )

    assert page.column("pgh_obj_model") == ["testapp.Book", "testapp.Book"]
    assert page.column("pgh_obj_id") == [str(first.pk)] * 2
    assert page.result_line == "2 events"
    assert page.tool("back") == [(back, "Back")]
    assert page.headings["h1"] == ["Events"]
    assert page.headings["h2"][0] == f"Tracks Book object ({first.pk})"
    assert page.filter_titles == ["By label", "By event model", "By method", "By object"]


@pytest.mark.django_db
def test_an_object_without_a_method_means_tracks(staff_client, history):
    _, first, _ = history
    page = get(staff_client, EVENTS_URL, {"obj": f"testapp.Book:{first.pk}"})

    assert page.column("pgh_obj_id") == [str(first.pk)] * 2
    assert page.result_line == "2 events"
    assert page.tool("back") == []


@pytest.mark.django_db
def test_method_references_lists_the_events_that_point_to_the_object(staff_client, history):
    author, first, second = history
    page = get(
        staff_client, EVENTS_URL, {"method": "references", "obj": f"testapp.Author:{author.pk}"}
    )

    assert sorted(page.column("pgh_obj_id")) == sorted([str(first.pk)] * 2 + [str(second.pk)])
    assert page.result_line == "3 events"
    assert page.headings["h2"][0] == "References Ursula"


@pytest.mark.django_db
def test_model_lists_the_events_of_a_tracked_model(staff_client, history):
    Author.objects.create(name="Not tracked")
    page = get(staff_client, EVENTS_URL, {"model": "testapp.Book", "back": "/admin/testapp/book/"})

    assert page.column("pgh_obj_model") == ["testapp.Book"] * 3
    assert page.result_line == "3 events"
    assert page.headings["h2"][0] == "testapp.Book"
    assert page.filter_titles == ["By label", "By event model", "By model"]
    assert page.tool("back") == [("/admin/testapp/book/", "Back")]


@pytest.mark.django_db
def test_event_model_and_label_narrow_the_list(staff_client, history):
    _, first, _ = history
    page = get(staff_client, EVENTS_URL, {"event_model": "testapp.bookevent"})
    assert page.result_line == "3 events"

    page = get(staff_client, EVENTS_URL, {"event_model": "testapp.bookevent", "label": "update"})
    assert page.column("pgh_obj_id") == [str(first.pk)]
    assert page.result_line == "1 event"

    page = get(staff_client, EVENTS_URL, {"event_model": "testapp.rowmodelevent"})
    assert page.result_line == "0 events"


@pytest.mark.django_db
def test_the_sidebar_offers_what_the_list_can_show(staff_client, history):
    _, first, _ = history
    body = staff_client.get(
        EVENTS_URL, {"method": "tracks", "obj": f"testapp.Book:{first.pk}"}
    ).content.decode()

    # The labels and event models of the object's model only, written as 3.9.2 writes them.
    links = re.findall(r'<a href="\?([^"]*)">([^<]*)</a>', body)
    query = f"event_model=testapp.bookevent&amp;method=tracks&amp;obj=testapp.Book%3A{first.pk}"
    assert (query, "testapp.BookEvent") in links
    offered = {text for _, text in links}
    assert {"insert", "update", "delete", "testapp.BookEvent", "tracks", "references"} <= offered
    assert "testapp.RowModelEvent" not in offered
    assert "tag.add" not in offered  # (a label of another event model)


@pytest.mark.django_db
def test_our_own_parameters_keep_working(staff_client, history):
    _, first, _ = history
    context = Context.objects.create(metadata={})
    BookEvent.objects.filter(pgh_obj=first, pgh_label="update").update(pgh_context=context)

    def count(params):
        return get(staff_client, EVENTS_URL, params).result_line

    assert count({"pgh_obj_model": "testapp.Book", "pgh_obj_id": first.pk}) == "2 events"
    assert count({"pgh_obj_model": "testapp.Book", "pgh_label": "update"}) == "1 event"
    assert count({"pgh_model": "testapp.BookEvent"}) == "3 events"
    assert count({"pgh_context_id": str(context.pk)}) == "1 event"


BAD_VALUES = [
    {"obj": "testapp.Book:not-a-number", "method": "tracks"},
    {"obj": "testapp.Book:99999999999999999999", "method": "tracks"},
    {"obj": "testapp.Book:", "method": "tracks"},
    {"obj": "nosuch.Model:1", "method": "tracks"},
    {"obj": "no colon", "method": "references"},
    {"obj": "testapp.Book:1", "method": "sideways"},
    {"model": "nosuch.Model"},
    {"model": "testapp.Author"},  # a model that is not tracked
    {"model": "nonsense"},
    {"event_model": "testapp.nosuchevent"},
    {"event_model": "auth.user"},  # a model, but not an event model
    {"event_model": "nonsense"},
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params", BAD_VALUES, ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items())
)
def test_a_bad_value_shows_an_empty_list(staff_client, history, params):
    page = get(staff_client, EVENTS_URL, params)

    assert page.rows == []
    assert page.result_line == "0 events"


@pytest.mark.django_db
def test_a_method_without_an_object_is_ignored(staff_client, history):
    everything = get(staff_client, EVENTS_URL)
    page = get(staff_client, EVENTS_URL, {"method": "tracks"})

    assert page.rows == everything.rows
    assert page.result_line == everything.result_line
    assert "By method" not in page.filter_titles


@pytest.mark.django_db
@pytest.mark.parametrize(
    "back",
    [
        "javascript:alert(1)",
        "https://evil.example/admin/",
        "//evil.example/admin/",
        "/\\evil.example/",
        "data:text/html,<script>alert(1)</script>",
    ],
)
def test_an_unsafe_back_url_gives_no_back_link(staff_client, history, back):
    page = get(staff_client, EVENTS_URL, {"model": "testapp.Book", "back": back})

    assert page.tool("back") == []
    assert page.result_line == "3 events"


@pytest.mark.django_db
def test_a_local_back_url_keeps_its_query(staff_client, history):
    back = "/admin/testapp/book/?author__id__exact=1&o=1"
    response = staff_client.get(EVENTS_URL, {"model": "testapp.Book", "back": back})

    assert (
        '<li><a href="/admin/testapp/book/?author__id__exact=1&amp;o=1" class="back">Back</a>'
        in (response.content.decode())
    )
    page = get(staff_client, EVENTS_URL, {"back": "http://testserver/admin/"})
    assert page.tool("back") == [("http://testserver/admin/", "Back")]


@pytest.mark.django_db
def test_an_events_page_by_its_3_9_id(staff_client, history):
    _, first, _ = history
    event = BookEvent.objects.filter(pgh_obj=first).order_by("pgh_id").first()
    url = reverse("admin:pghistory_events_change", args=[f"testapp.BookEvent:{event.pgh_id}"])

    response = staff_client.get(url)
    assert response.status_code == 200
    assert f"testapp.BookEvent:{event.pgh_id}" in response.content.decode()
    for bad in ["testapp.BookEvent:abc", "nosuch.Event:1", "auth.User:1", "garbage"]:
        response = staff_client.get(reverse("admin:pghistory_events_change", args=[bad]))
        assert response.status_code == 302  # Django's "does not exist" message


# Buttons on tracked models' pages


@pytest.mark.django_db
def test_a_change_page_has_the_event_admin_and_events_buttons(
    staff_client, history, book_event_admin
):
    _, first, _ = history
    back = f"/admin/testapp/book/{first.pk}/change/"
    page = get(staff_client, back)

    assert page.tools == [
        (
            "event-admin",
            f"/admin/testapp/bookevent/?obj=testapp.Book:{first.pk}&back={back}",
            "book events",
        ),
        (
            "events-admin",
            f"{EVENTS_URL}?method=tracks&obj=testapp.Book:{first.pk}&back={back}",
            "Events",
        ),
        ("historylink", f"/admin/testapp/book/{first.pk}/history/", "History"),
    ]


@pytest.mark.django_db
def test_the_event_admin_button_opens_the_event_models_list(
    staff_client, history, book_event_admin
):
    _, first, _ = history
    change = get(staff_client, f"/admin/testapp/book/{first.pk}/change/")
    [(url, _)] = change.tool("event-admin")

    page = get(staff_client, url)
    assert page.column("pgh_label") == ["update", "insert"]
    assert page.result_line == "2 book events"
    assert page.headings["h1"] == ["Book events"]
    assert page.headings["h2"][0] == f"Book object ({first.pk})"
    assert page.tool("back") == [(f"/admin/testapp/book/{first.pk}/change/", "Back")]
    assert page.filter_titles == ["By label", "By object"]


@pytest.mark.django_db
def test_an_event_model_list_with_a_bad_object_is_empty(staff_client, history, book_event_admin):
    for obj in ["testapp.Book:abc", "testapp.Author:1", "nosuch.Model:1"]:
        page = get(staff_client, "/admin/testapp/bookevent/", {"obj": obj})
        assert (page.rows, page.result_line) == ([], "0 book events")


@pytest.mark.django_db
def test_the_events_button_keeps_the_lists_filters_in_its_back_link(staff_client, history):
    author, _, _ = history
    page = get(staff_client, "/admin/testapp/book/", {"author__id__exact": author.pk})

    assert page.tool("events-admin") == [
        (
            f"{EVENTS_URL}?model=testapp.Book&back=/admin/testapp/book/%3Fauthor__id__exact%3D{author.pk}",
            "Events",
        )
    ]
    [(url, _)] = page.tool("events-admin")
    events = get(staff_client, url)
    assert events.tool("back") == [(f"/admin/testapp/book/?author__id__exact={author.pk}", "Back")]


@pytest.mark.django_db
def test_an_untracked_models_pages_have_no_events_buttons(staff_client, history):
    author, _, _ = history
    assert get(staff_client, "/admin/testapp/author/").tool("events-admin") == []
    page = get(staff_client, f"/admin/testapp/author/{author.pk}/change/")
    assert [cls for cls, _, _ in page.tools] == ["historylink"]


@pytest.mark.django_db
def test_the_history_tab_of_the_history_ui_still_works_beside_the_buttons(
    staff_client, history, settings
):
    settings.PGHISTORY_ADMIN_HISTORY_TAB = True
    _, first, _ = history
    page = get(staff_client, f"/admin/testapp/book/{first.pk}/change/")
    [(history_url, _)] = page.tool("historylink")

    assert [cls for cls, _, _ in page.tools] == ["events-admin", "historylink"]
    assert history_url == reverse(
        "admin:pghistory_ui_event_object", args=["testapp.book", first.pk]
    )
    assert staff_client.get(history_url).status_code == 200


@pytest.mark.django_db
def test_staff_without_the_events_permission_get_no_events_button(client, history):
    _, first, _ = history
    user = User.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_book", "change_book"])
    )
    client.force_login(user)

    page = get(client, f"/admin/testapp/book/{first.pk}/change/")
    assert page.tool("events-admin") == []
    assert client.get(EVENTS_URL).status_code == 403


# Counting


@pytest.mark.django_db
def test_the_result_line_counts_up_to_the_limit(staff_client, history, monkeypatch):
    books = {"model": "testapp.Book"}
    monkeypatch.setattr(admin.site._registry[Events], "result_count_limit", 3)
    assert get(staff_client, EVENTS_URL, books).result_line == "3 events"

    monkeypatch.setattr(admin.site._registry[Events], "result_count_limit", 2)
    page = get(staff_client, EVENTS_URL, books)
    assert page.result_line == "more than 2 events"
    assert len(page.rows) == 3


@pytest.mark.django_db
def test_a_long_history_is_never_counted_whole(staff_client, django_assert_max_num_queries):
    author = Author.objects.create(name="Prolific")
    Book.objects.bulk_create(Book(title=f"Book {i}", author=author) for i in range(1100))

    with CaptureQueriesContext(connection) as queries, django_assert_max_num_queries(6):
        page = get(staff_client, EVENTS_URL)

    assert page.result_line.startswith("1 2 3 4 ")  # the page links
    assert page.result_line.endswith(" more than 1000 events")
    assert len(page.rows) == 100
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1 and "LIMIT 1001) subquery" in counts[0]
    assert unbounded_counts(queries) == []

    # A page past the limit counts its own rows and at most a page more. (The 1100 books'
    # events, and the few of the staff user, whose model the example shop tracks.)
    total = Events.objects.count()
    assert 1100 < total < 1200
    with CaptureQueriesContext(connection) as queries, django_assert_max_num_queries(6):
        page = get(staff_client, EVENTS_URL, {"p": 11})
    assert len(page.rows) == 100
    assert page.result_line.endswith(" 11 12 more than 1000 events")
    assert unbounded_counts(queries) == []
    page = get(staff_client, EVENTS_URL, {"p": 12})
    assert len(page.rows) == total - 1100
    # Past the last page, the admin's own answer: back to the list with ?e=1.
    response = staff_client.get(EVENTS_URL, {"p": 13})
    assert (response.status_code, response["Location"]) == (302, f"{EVENTS_URL}?e=1")


# PGHISTORY_ADMIN_ALL_EVENTS = False


@pytest.mark.django_db
def test_with_all_events_off_nothing_shows_until_a_filter_is_chosen(
    staff_client, history, settings
):
    settings.PGHISTORY_ADMIN_ALL_EVENTS = False
    author, first, second = history
    second.delete()

    def count(params=None):
        return get(staff_client, EVENTS_URL, params).result_line

    assert count() == "0 events"
    assert get(staff_client, EVENTS_URL).rows == []
    assert count({"back": "/admin/"}) == "0 events"
    assert count({"label": "delete"}) == "1 event"
    assert count({"obj": f"testapp.Book:{first.pk}", "method": "tracks"}) == "2 events"
    assert count({"obj": f"testapp.Author:{author.pk}", "method": "references"}) == "4 events"
    assert count({"model": "testapp.Book"}) == "4 events"
    assert count({"event_model": "testapp.bookevent"}) == "4 events"
    assert count({"pgh_obj_model": "testapp.Book"}) == "4 events"
    assert count({"pgh_obj_model": "testapp.Book", "back": "/admin/"}) == "4 events"
