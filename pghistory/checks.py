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
            '"pgtrigger" is not in INSTALLED_APPS.',
            hint='Add "pgtrigger" to INSTALLED_APPS; pghistory installs its triggers with it.',
            id="pghistory.E001",
        )
    ]
