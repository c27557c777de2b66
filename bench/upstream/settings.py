"""Settings of the upstream side: django-pghistory 3.9 from PyPI, in `bench/.venv-upstream`
only, with the same write-benchmark app as our side."""

import os

import benchutil

SECRET_KEY = "pghistory-bench-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]

DATABASES = {"default": benchutil.django_database(os.environ["BENCH_DATABASE_URL"])}

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "pgtrigger",
    "pghistory",
    "benchapp",
]
MIGRATION_MODULES = {"benchapp": None}

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
