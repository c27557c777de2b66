#!/usr/bin/env python
"""The upgrade test's project: run by django-pghistory 3.9.2's interpreter, then by ours."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "upgrade_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
