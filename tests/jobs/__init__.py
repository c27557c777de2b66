"""What the job and command tests run: a Celery app and its tasks, tasks of Django's tasks
framework, a management command, and the settings of the processes they start."""
