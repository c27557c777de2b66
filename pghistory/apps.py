"""The tracking core's app."""

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate, pre_migrate

from pghistory import config


def _install_context_func(using, **kwargs):
    from pghistory.models import Context

    if connections[using].vendor == "postgresql":
        Context.install_pgh_attach_context_func(using=using)


class PGHistoryConfig(AppConfig):
    name = "pghistory"
    verbose_name = "History"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from pghistory import (  # noqa: F401  (checks)
            checks,
            command_context,
            retired,
            runtime,
            safekeeping,
        )

        runtime.install()
        pre_migrate.connect(safekeeping.refuse_history_loss, sender=self)
        post_migrate.connect(retired.forget_after_migrate, sender=self)

        if config.install_context_func_on_migrate():
            pre_migrate.connect(_install_context_func, sender=self)

        command_context.enter()
