"""The context of a `manage.py` (or `django-admin`) run when `PGHISTORY_COMMAND_CONTEXT` is on:
the command, its arguments without secret values, and the operating system user.

Django has no signal for a command starting; `ManagementUtility.execute()` calls
`django.setup()` before it runs the command, so the app's `ready()` finds that call on the
stack and the argument list it parses. Anything else that sets Django up (a WSGI server, a
Celery worker, pytest, `call_command()`) gets no context from here.
"""

from __future__ import annotations

import getpass
import re
import sys
from typing import Any

from django.core.management import ManagementUtility

from pghistory import config
from pghistory.runtime import capture_context, context

#: What an option or `NAME=value` argument is called, split into words, that marks its value
#: as a secret.
SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pass",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "key",
        "apikey",
        "credential",
        "credentials",
        "auth",
    }
)
#: What a dropped value is replaced with.
DROPPED = "***"

_WORD = re.compile(r"[a-z0-9]+")
# The password of a URL with credentials: scheme://user:password@host.
_URL_PASSWORD = re.compile(r"([a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@]*@", re.IGNORECASE)


def _is_secret_name(name: str) -> bool:
    return any(word in SECRET_WORDS for word in _WORD.findall(name.lower()))


def redacted_argv(argv: list[str]) -> list[str]:
    """The arguments with secret values dropped: the value of a long option or a `NAME=value`
    whose name has a secret word, and the password of any URL."""
    redacted = []
    secret_follows = False
    for argument in argv:
        name, equals, _ = argument.partition("=")
        if secret_follows and not argument.startswith("-"):
            argument = DROPPED
        elif equals and _is_secret_name(name):
            argument = f"{name}={DROPPED}"
        secret_follows = argument.startswith("--") and not equals and _is_secret_name(argument)
        redacted.append(_URL_PASSWORD.sub(rf"\1{DROPPED}@", argument))
    return redacted


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return None


def _running_command_argv() -> list[str] | None:
    """The argument list of the `ManagementUtility.execute()` call on the stack, if any."""
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code is ManagementUtility.execute.__code__:
            return list(frame.f_locals["self"].argv)
        frame = frame.f_back
    return None


def command_metadata(argv: list[str]) -> dict[str, Any]:
    """The metadata of a command run from its `manage.py` argument list."""
    metadata: dict[str, Any] = {"command": argv[1], "argv": redacted_argv(argv[2:])}
    os_user = _os_user()
    if os_user is not None:
        metadata["os_user"] = os_user
    return metadata


def enter() -> None:
    """Enter the context of the command being run, for the rest of its process, when the
    setting is on and the command is not a server or worker."""
    if not config.command_context() or capture_context() is not None:
        return
    argv = _running_command_argv()
    if not argv or len(argv) < 2 or argv[1].startswith("-"):
        return
    if argv[1] in config.command_context_exclude():
        return
    # Entered and never left: the context lasts as long as the command's main thread.
    context(**command_metadata(argv)).__enter__()
