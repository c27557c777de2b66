"""The `pghistory.admin` pages in a real browser: from a tracked object's admin page, the
"Events" button leads to that object's events, and the events list shows them."""

import os
import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from tests.browser import follow
from tests.testapp.models import Author, Book

# Playwright's sync API runs an event loop in this thread; the ORM calls here are ordinary
# blocking calls made between browser steps.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def logged_in_page(page, live_server):
    User.objects.create_superuser("root", "root@example.com", "secret-pw")
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "secret-pw")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    return page


def retitled_book() -> Book:
    """A book inserted and retitled (two events), beside another book of the same author."""
    author = Author.objects.create(name="Ursula")
    book = Book.objects.create(title="Lathe", author=author)
    book.title = "The Lathe of Heaven"
    book.save()
    Book.objects.create(title="Other", author=author)
    return book


def test_events_button_on_a_change_page_lists_that_objects_events(logged_in_page, live_server):
    book = retitled_book()
    page = logged_in_page

    page.goto(f"{live_server.url}/admin/testapp/book/{book.pk}/change/")
    follow(page, page.locator(".object-tools").get_by_role("link", name="Events"))

    page.wait_for_url(
        re.compile(rf"/admin/pghistory/events/\?method=tracks&obj=testapp\.Book:{book.pk}&back=")
    )
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2
    assert rows.locator("td.field-pgh_obj_model").all_inner_texts() == [
        "testapp.Book",
        "testapp.Book",
    ]
    assert rows.locator("td.field-pgh_obj_id").all_inner_texts() == [str(book.pk)] * 2
    diffs = rows.locator("td.field-pgh_diff").all_inner_texts()
    assert "The Lathe of Heaven" in diffs[0] and "Lathe" in diffs[0]
    page.screenshot(path="test-artifacts/pghistory-admin-events.png", full_page=True)


def test_events_list_filters_by_label_in_the_sidebar(logged_in_page, live_server):
    author = Author.objects.create(name="Ursula")
    book = Book.objects.create(title="Lathe", author=author)
    book.title = "The Lathe of Heaven"
    book.save()
    page = logged_in_page

    page.goto(f"{live_server.url}/admin/pghistory/events/?pgh_obj_model=testapp.Book")
    follow(page, page.locator("#changelist-filter").get_by_role("link", name="update", exact=True))

    # The click navigates: wait for the filtered page before reading its rows. (The sidebar
    # writes 3.9.2's `label` parameter.)
    page.wait_for_url("**/admin/pghistory/events/?*label=update*")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    assert rows.locator("td.field-pgh_obj_id").inner_text() == str(book.pk)


def test_a_3_9_bookmarked_object_link_shows_its_events_and_leads_back(logged_in_page, live_server):
    book = retitled_book()
    change_page = f"/admin/testapp/book/{book.pk}/change/"
    page = logged_in_page

    # The link django-pghistory 3.9.2's "Events" button wrote, as a user bookmarked it.
    page.goto(
        f"{live_server.url}/admin/pghistory/events/"
        f"?obj=testapp.Book:{book.pk}&method=tracks&back={change_page}"
    )

    expect(page.locator("#content h1")).to_have_text("Events")
    expect(page.locator("#content h2").first).to_have_text(f"Tracks Book object ({book.pk})")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    assert rows.locator("td.field-pgh_obj_id").all_inner_texts() == [str(book.pk)] * 2
    diffs = rows.locator("td.field-pgh_diff").all_inner_texts()
    assert "The Lathe of Heaven" in diffs[0]
    expect(page.locator("p.paginator")).to_have_text("2 events")
    titles = page.locator("#changelist-filter summary").all_inner_texts()
    assert [title.strip() for title in titles] == [
        "By label",
        "By event model",
        "By method",
        "By object",
    ]
    back = page.locator(".object-tools a.back")
    expect(back).to_have_text("Back")
    expect(back).to_have_attribute("href", change_page)
    page.screenshot(path="test-artifacts/pghistory-admin-bookmarked-3.9-link.png", full_page=True)

    # Narrowing by label keeps the object, the method and the back link.
    follow(page, page.locator("#changelist-filter").get_by_role("link", name="update", exact=True))
    expect(rows).to_have_count(1)
    expect(page.locator("p.paginator")).to_have_text("1 event")
    follow(page, page.locator(".object-tools a.back"))
    assert page.url == f"{live_server.url}{change_page}"
    expect(page.locator(".object-tools a.events-admin")).to_have_text("Events")


def test_an_unsafe_back_url_gives_no_back_link(logged_in_page, live_server):
    Book.objects.create(title="Lathe", author=Author.objects.create(name="Ursula"))
    page = logged_in_page

    page.goto(
        f"{live_server.url}/admin/pghistory/events/?model=testapp.Book&back=javascript:alert(1)"
    )

    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("p.paginator")).to_have_text("1 event")
    expect(page.locator("a.back")).to_have_count(0)
