#!/usr/bin/env python
"""Django's command-line utility for the example project.

Run it from anywhere: `python example_project/manage.py <command>`. The repository root goes
on `sys.path`, so `example_project`, `pghistory`, `pghistory_admin` and `devdb` import from the
checkout.
"""

import os
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent


def main() -> None:
    if str(REPO_DIR) not in sys.path:
        sys.path.insert(0, str(REPO_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
