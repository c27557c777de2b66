"""Settings of the read benchmarks: our side without the write-benchmark app, so the history
the pages show is the example shop's alone (the write tables stay in the database, unseen)."""

from ours.settings import *  # noqa: F403

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "benchapp"]  # noqa: F405
MIGRATION_MODULES = {}
