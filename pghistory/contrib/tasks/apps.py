"""The tasks framework integration's app: its signal handlers are connected when it is
installed."""

from django.apps import AppConfig


class TasksContextConfig(AppConfig):
    name = "pghistory.contrib.tasks"
    label = "pghistory_tasks"
    verbose_name = "History: task contexts"

    def ready(self):
        from pghistory.contrib.tasks import signals

        signals.connect()
