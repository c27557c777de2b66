"""Django settings for the test suite (DJANGO_SETTINGS_MODULE = "tests.settings").

The database comes from devdb: $DATABASE_URL if set, else the embedded Postgres in .pgdata/.
"""

import copy
import os
import sys

import dj_database_url

if os.environ.get("PGHISTORY_TEST_DRIVER") == "psycopg2":
    # Hide psycopg 3 so that Django's PostgreSQL backend falls back to psycopg2.
    sys.modules["psycopg"] = None

import devdb

SECRET_KEY = "pghistory-tests-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]

_default = dj_database_url.parse(devdb.database_url(), engine="django.db.backends.postgresql")
_default["TEST"] = {"NAME": f"test_{_default['NAME']}"}

# A second alias on the same server, other database: tests that write through a non-default
# connection use it.
_other = copy.deepcopy(_default)
_other["NAME"] = f"{_default['NAME']}_other"
_other["TEST"] = {"NAME": f"test_{_other['NAME']}"}

DATABASES = {"default": _default, "other": _other}

INSTALLED_APPS = [
    "pghistory.admin",
    "pghistory_admin",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "pgtrigger",
    "pghistory",
    "pghistory.contrib.celery",
    "pghistory.contrib.tasks",
    "django_filters",
    "django_tables2",
    "example_project.shop",
    "tests.testapp",
    "tests.customising",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
STATIC_URL = "/static/"

# Fast hashing: the suite creates users, it does not test password storage.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
