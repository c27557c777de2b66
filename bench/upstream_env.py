"""`bench/.venv-upstream`: django-pghistory 3.9 from PyPI, for the side-by-side comparison.

It gets the same Django, django-pgtrigger and psycopg versions as the project's virtualenv
(read from its installed metadata), and is made again only when those change. Upstream's
package is also called `pghistory`, so it lives in this virtualenv alone and runs only in the
upstream worker's own process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

BENCH = Path(__file__).resolve().parent
VENV = BENCH / ".venv-upstream"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".bench-requirements.json"
UPSTREAM = "django-pghistory==3.9.*"


def requirements() -> list[str]:
    """Upstream, plus the versions our virtualenv runs of what both sides share."""
    pins = [UPSTREAM]
    for name in ("Django", "django-pgtrigger", "psycopg", "psycopg-binary"):
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


def ensure(log=print) -> Path:
    """Make (or reuse) the upstream virtualenv; return its python."""
    wanted = requirements()
    if PYTHON.exists() and STAMP.exists():
        try:
            if json.loads(STAMP.read_text()) == wanted:
                return PYTHON
        except ValueError:
            pass
    log(f"bench: creating {VENV.relative_to(BENCH.parent)} with {', '.join(wanted)}")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *wanted],
        check=True,
    )
    STAMP.write_text(json.dumps(wanted))
    return PYTHON


def installed_version() -> str:
    """The django-pghistory version installed there (asked of its own python)."""
    out = subprocess.run(
        [
            str(PYTHON),
            "-c",
            "from importlib import metadata; print(metadata.version('django-pghistory'))",
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=BENCH,
    )
    return out.stdout.strip()
