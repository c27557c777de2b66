"""System checks of the history UI."""

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.template import Engine, TemplateDoesNotExist

HISTORY_TAB_TEMPLATE = "admin/change_form_object_tools.html"


def _app_of(origin) -> str:
    """The folder of the app whose templates hold `origin` ("" for another folder)."""
    path = str(origin.name).replace("\\", "/")
    return path.rsplit("/templates/", 1)[0] if "/templates/" in path else ""


def template_chain(name: str) -> list:
    """The origins of every template named `name`, in the order the loaders find them (each
    extends the next when it `{% extends %}` its own name)."""
    try:
        engine = Engine.get_default()
    except ImproperlyConfigured:
        return []
    origins = []
    while True:
        try:
            _, origin = engine.find_template(name, skip=origins)
        except TemplateDoesNotExist:
            return origins
        origins.append(origin)


@checks.register(checks.Tags.templates)
def check_history_tab(app_configs=None, **kwargs):
    """With `PGHISTORY_ADMIN_HISTORY_TAB = True`, the admin must reach this app's change form
    tools (the History button's link) before its own, which it does when this app comes
    before `django.contrib.admin` in `INSTALLED_APPS`."""
    if not getattr(settings, "PGHISTORY_ADMIN_HISTORY_TAB", False):
        return []
    apps = [_app_of(origin) for origin in template_chain(HISTORY_TAB_TEMPLATE)]
    ours = next((n for n, app in enumerate(apps) if app.endswith("/pghistory_admin")), None)
    django = next((n for n, app in enumerate(apps) if app.endswith("/contrib/admin")), None)
    if ours is not None and (django is None or ours < django):
        return []
    return [
        checks.Warning(
            "PGHISTORY_ADMIN_HISTORY_TAB is on, but the admin's History button still opens "
            f"Django's change log: the admin finds its own {HISTORY_TAB_TEMPLATE} before "
            "pghistory_admin's.",
            hint='Put "pghistory_admin" before "django.contrib.admin" in INSTALLED_APPS (or, '
            "if the project overrides that template itself, link its History button with "
            "{% load pghistory_ui %}{% history_tab_url %}).",
            id="pghistory_ui.W001",
        )
    ]
