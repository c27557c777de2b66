"""What the Playwright tests share: signing in through the admin's login form, reading the
events table, and where screenshots go."""

import os
from pathlib import Path

# Playwright's sync API runs an event loop in the test's thread; the ORM calls the tests make
# between browser steps are ordinary blocking calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

#: Screenshots saved by the browser tests (git-ignored); the README's come from here.
ARTIFACTS = Path("test-artifacts")


def sign_in(page, live_server, username, password="secret-pw"):
    """Log in through the admin's login form and wait for the admin index."""
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    ARTIFACTS.mkdir(exist_ok=True)


def cells(page, label):
    """The cells of one column ("When", "Who", "What", "Object", ...) of the events table."""
    return page.locator(f"table.pgh-events tbody td[data-label={label}]").all_inner_texts()


def follow(page, target):
    """Click a link or a submit button and wait for the page it leads to: a click returns as
    soon as the event is dispatched, so reading the page right after it could read the old one."""
    with page.expect_navigation():
        target.click()
