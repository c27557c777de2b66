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
