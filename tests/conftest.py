"""Suite-wide pytest hooks and fixtures.

The database check runs at session start, before pytest-django creates any test database:
it names the server in the report header, and stops the run with an error (never a skip)
when the server cannot be reached.
"""

import shutil

import pytest

import devdb

_DATABASE = pytest.StashKey[str]()


def pytest_sessionstart(session):
    try:
        session.config.stash[_DATABASE] = devdb.describe()
    except Exception as exc:
        raise pytest.UsageError(
            f"cannot reach the test database ({type(exc).__name__}: {exc}). "
            "Unset DATABASE_URL to use the embedded Postgres in .pgdata/, "
            "or point it at a running server."
        ) from exc


def pytest_report_header(config):
    return config.stash.get(_DATABASE, None)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright: use the system Chromium (Debian's `chromium`) where one exists."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable:
        return {**browser_type_launch_args, "executable_path": executable}
    return browser_type_launch_args


@pytest.fixture
def shop_site(settings):
    """The example project's URLs, and `HistoryMiddleware` right after authentication, as the
    example project has them."""
    settings.ROOT_URLCONF = "example_project.urls"
    middleware = list(settings.MIDDLEWARE)
    auth = middleware.index("django.contrib.auth.middleware.AuthenticationMiddleware")
    middleware.insert(auth + 1, "pghistory.middleware.HistoryMiddleware")
    settings.MIDDLEWARE = middleware
    return settings
