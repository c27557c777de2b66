#!/usr/bin/env python
"""The schema-change test's throwaway project (tests/test_schema_changes.py writes its models)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "depot_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
