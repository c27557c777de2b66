"""System checks of the history UI."""

from django.conf import settings
from django.core import checks
from django.template import TemplateDoesNotExist
from django.template.loader import get_template

HISTORY_TAB_TEMPLATE = "admin/change_form_object_tools.html"


@checks.register(checks.Tags.templates)
def check_history_tab(app_configs=None, **kwargs):
    """With `PGHISTORY_ADMIN_HISTORY_TAB = True`, the admin must find this app's change form
    tools (the History button's link), which it does when this app comes first."""
    if not getattr(settings, "PGHISTORY_ADMIN_HISTORY_TAB", False):
        return []
    try:
        origin = get_template(HISTORY_TAB_TEMPLATE).origin.name
    except TemplateDoesNotExist:
        return []
    if str(origin).replace("\\", "/").rsplit("/templates/", 1)[0].endswith("/pghistory_admin"):
        return []
    return [
        checks.Warning(
            "PGHISTORY_ADMIN_HISTORY_TAB is on, but the admin's History button still opens "
            f"Django's change log: {HISTORY_TAB_TEMPLATE} is found at {origin}, not in "
            "pghistory_admin.",
            hint='Put "pghistory_admin" before "django.contrib.admin" in INSTALLED_APPS (or, '
            "if the project overrides that template itself, link its History button with "
            "{% load pghistory_ui %}{% history_tab_url %}).",
            id="pghistory_ui.W001",
        )
    ]
