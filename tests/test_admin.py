"""The `pghistory.admin` app: a view-only Events admin that never counts the history, and
"Events" buttons on tracked models' admin pages."""

import re

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from tests.testapp.models import Author, Book

EVENTS_URL = "/admin/pghistory/events/"


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def rows(response) -> list[tuple[str, str]]:
    body = response.content.decode()
    return re.findall(
        r'<td class="field-pgh_obj_model">([^<]*)</td><td class="field-pgh_obj_id">([^<]*)</td>',
        body,
    )


@pytest.fixture
def history():
    author = Author.objects.create(name="Ursula")
    first = Book.objects.create(title="Lathe", author=author)
    second = Book.objects.create(title="Dispossessed", author=author)
    first.title = "The Lathe of Heaven"
    first.save()
    return first, second


@pytest.mark.django_db
def test_events_admin_lists_the_events_of_one_object(staff_client, history):
    first, _ = history
    response = staff_client.get(
        EVENTS_URL, {"pgh_obj_model": "testapp.Book", "pgh_obj_id": first.pk}
    )

    assert response.status_code == 200
    assert rows(response) == [("testapp.Book", str(first.pk)), ("testapp.Book", str(first.pk))]


@pytest.mark.django_db
def test_events_admin_filters_by_label(staff_client, history):
    first, _ = history
    response = staff_client.get(
        EVENTS_URL, {"pgh_label": "update", "pgh_obj_model": "testapp.Book"}
    )

    assert rows(response) == [("testapp.Book", str(first.pk))]


def unbounded_counts(queries) -> list[str]:
    """The SQL of the captured queries that count without a LIMIT inside the count (the
    result line may count only a LIMITed subquery)."""
    bounded = re.compile(
        r"^SELECT COUNT\(\*\) FROM \(.* LIMIT \d+( OFFSET \d+)?\) subquery$", re.S
    )
    return [
        q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and not bounded.match(q["sql"])
    ]


@pytest.mark.django_db
def test_events_admin_never_counts_the_whole_history(staff_client, history):
    # (3.9.2 shows "N events", so the list counts now, but only a LIMITed subquery.)
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get(EVENTS_URL, {"pgh_obj_model": "testapp.Book"})

    assert response.status_code == 200
    assert len(rows(response)) == 3
    assert [q["sql"] for q in queries if "COUNT(" in q["sql"]]  # the result line's count
    assert unbounded_counts(queries) == []


@pytest.mark.django_db
def test_events_admin_is_view_only(staff_client, history):
    response = staff_client.get(EVENTS_URL)

    assert f'href="{EVENTS_URL}add/"' not in response.content.decode()
    assert staff_client.post(EVENTS_URL, {"action": "delete_selected"}).status_code in (200, 302)
    assert Book.objects.count() == 2


@pytest.mark.django_db
@override_settings(PGHISTORY_ADMIN_ALL_EVENTS=False)
def test_unfiltered_events_admin_is_empty_when_all_events_are_off(staff_client, history):
    first, _ = history
    assert rows(staff_client.get(EVENTS_URL)) == []
    assert len(rows(staff_client.get(EVENTS_URL, {"pgh_obj_model": "testapp.Book"}))) == 3


@pytest.mark.django_db
def test_tracked_change_page_has_an_events_button(staff_client, history):
    first, _ = history
    body = staff_client.get(f"/admin/testapp/book/{first.pk}/change/").content.decode()

    # The link 3.9.2 writes: the object's events, and back to this page.
    assert re.findall(r'<li><a href="([^"]+)" class="events-admin">Events</a></li>', body) == [
        f"{EVENTS_URL}?method=tracks&amp;obj=testapp.Book:{first.pk}"
        f"&amp;back=/admin/testapp/book/{first.pk}/change/"
    ]


@pytest.mark.django_db
def test_tracked_change_list_has_an_events_button(staff_client, history):
    body = staff_client.get("/admin/testapp/book/").content.decode()

    # The link 3.9.2 writes: the model's events, and back to this list.
    assert re.findall(r'<li><a href="([^"]+)" class="events-admin">Events</a></li>', body) == [
        f"{EVENTS_URL}?model=testapp.Book&amp;back=/admin/testapp/book/"
    ]


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_the_login_page(client, history):
    response = client.get(EVENTS_URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
