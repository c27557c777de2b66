"""System checks of the tracking core."""

from django.apps import apps
from django.core import checks


@checks.register(checks.Tags.compatibility)
def check_pgtrigger_installed(app_configs, **kwargs):
    """pghistory.E001: the triggers need django-pgtrigger's app."""
    if apps.is_installed("pgtrigger"):
        return []
    return [
        checks.Error(
            'Add "pgtrigger" to settings.INSTALLED_APPS to use django-pghistory.',
            hint="pghistory installs its triggers with django-pgtrigger's app.",
            id="pghistory.E001",
        )
    ]


@checks.register(checks.Tags.compatibility)
def check_makemigrations_keeps_history(app_configs, **kwargs):
    """pghistory.W002: another app's `makemigrations` would write Django's operations for
    event models (which `migrate` then refuses when they would delete recorded values)."""
    from django.core.management import get_commands

    provider = get_commands().get("makemigrations")
    if provider in ("pghistory", None):
        return []
    return [
        checks.Warning(
            f"\"makemigrations\" is the {provider} app's, not pghistory's: the migrations it"
            " writes remove and alter event models' fields as Django does, deleting what"
            " their events recorded (migrate stops before applying those).",
            hint='List "pghistory" above that app in INSTALLED_APPS, or replace such'
            " operations by pghistory.operations.RetireField and AlterEventField.",
            id="pghistory.W002",
        )
    ]
