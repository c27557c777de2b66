"""The app configuration of the history UI."""

from django.apps import AppConfig


class PGHistoryUIConfig(AppConfig):
    name = "pghistory_admin"
    # "pghistory_admin" is the label of `pghistory.admin`, django-pghistory's admin app.
    label = "pghistory_ui"
    verbose_name = "History"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from pghistory_admin import checks  # noqa: F401 (registers the checks)
