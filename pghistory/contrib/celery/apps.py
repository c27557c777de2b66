"""The Celery integration's app: its signal handlers are connected when it is installed."""

from django.apps import AppConfig


class CeleryContextConfig(AppConfig):
    name = "pghistory.contrib.celery"
    label = "pghistory_celery"
    verbose_name = "History: Celery contexts"

    def ready(self):
        from pghistory.contrib.celery import signals

        signals.connect()
