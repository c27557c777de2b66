"""Django's tasks framework (`django.tasks` on Django 6, the `django-tasks` backport before):
each task run writes in a context of its own that names the task
(`"pghistory.contrib.tasks"` in `INSTALLED_APPS`)."""
