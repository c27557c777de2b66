"""Celery: each task run writes in a context of its own that names the task and carries the
user and lineage of the context it was enqueued from (`"pghistory.contrib.celery"` in
`INSTALLED_APPS`)."""
