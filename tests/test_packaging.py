"""The wheel ships the UI's templates and static files where an installed app finds them."""

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_wheel_ships_templates_and_static_inside_pghistory_admin(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    expected = {
        f"pghistory_admin/{path.relative_to(REPO).as_posix()}"
        for folder in ("templates", "static")
        for path in (REPO / folder).rglob("*")
        if path.is_file()
    }
    shipped = {
        name
        for name in names
        if name.startswith(("pghistory_admin/templates/", "pghistory_admin/static/"))
    }
    assert shipped == expected
    assert "pghistory_admin/templates/pghistory_admin/browser.html" in shipped
    assert "pghistory_admin/templates/admin/change_form_object_tools.html" in shipped
    assert not any(
        name.startswith(("templates/", "static/", "tests/", "example_project/")) for name in names
    )
