"""The settings of the `manage.py` runs and producers the job tests start: the suite's, with
this app's command, `PGHISTORY_COMMAND_CONTEXT` on, and what the environment changes
(`PGHISTORY_TEST_EXCLUDE`: commands left out, comma-separated; `PGHISTORY_TEST_NO_CELERY_APP`:
the Celery integration not installed)."""

import os

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.jobs"]  # noqa: F405
if os.environ.get("PGHISTORY_TEST_NO_CELERY_APP"):
    INSTALLED_APPS.remove("pghistory.contrib.celery")

PGHISTORY_COMMAND_CONTEXT = True
if os.environ.get("PGHISTORY_TEST_EXCLUDE"):
    PGHISTORY_COMMAND_CONTEXT_EXCLUDE = os.environ["PGHISTORY_TEST_EXCLUDE"].split(",")
