"""The admin integration of the tracking core (installed above `django.contrib.admin`)."""

from django.apps import AppConfig


class PGHistoryAdminConfig(AppConfig):
    name = "pghistory.admin"
    label = "pghistory_admin"
    verbose_name = "History admin"

    def ready(self):
        from django.contrib import admin

        from pghistory import config

        model = config.admin_model()
        if not admin.site.is_registered(model):
            admin.site.register(model, config.admin_class())
