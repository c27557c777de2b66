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


def test_events_button_on_a_change_page_lists_that_objects_events(logged_in_page, live_server):
    author = Author.objects.create(name="Ursula")
    book = Book.objects.create(title="Lathe", author=author)
    book.title = "The Lathe of Heaven"
    book.save()
    Book.objects.create(title="Other", author=author)
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
