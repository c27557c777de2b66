"""What happens while the program runs: the active context, and how it reaches Postgres.

Every connection, on every database alias, gets an execute wrapper. While a context is active,
each write statement (INSERT, UPDATE, DELETE, MERGE, or a WITH that writes) is sent with the
context id and metadata as transaction-local settings, in the same round trip, so the
triggers can read them. Reads, DDL and transaction control pass through untouched.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
import re
import uuid
from typing import Any

from django.db import transaction
from django.db.backends.postgresql.psycopg_any import is_psycopg3
from django.db.backends.signals import connection_created

from pghistory import config
from pghistory.constants import CONTEXT_ID_SETTING, CONTEXT_METADATA_SETTING
from pghistory.sql import literal

# The active context of this thread or asyncio task (a _State, or None). Tasks and
# sync_to_async threads inherit it; plain threads do not (see capture_context()).
_active: contextvars.ContextVar[_State | None] = contextvars.ContextVar(
    "pghistory_context", default=None
)

_WRITE_START = re.compile(r"^\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*(\w+)", re.DOTALL)
_WRITE_KEYWORD = re.compile(r"\b(?:INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)


class Lazy:
    """A metadata value computed when a statement is sent (for example the request's user,
    which some frameworks set only after the middleware has run)."""

    def __init__(self, compute):
        self.compute = compute


class _State:
    """The context shared by nested `pghistory.context` blocks: one id, merged metadata."""

    def __init__(self, context_id: uuid.UUID, metadata: dict[str, Any]):
        self.id = context_id
        self.metadata = metadata

    def resolved_metadata(self) -> dict[str, Any]:
        return {
            key: value.compute() if isinstance(value, Lazy) else value
            for key, value in self.metadata.items()
        }

    def metadata_json(self) -> str:
        # jsonb cannot hold NUL characters; dropping them keeps the write from failing.
        encoded = json.dumps(self.resolved_metadata(), cls=config.json_encoder())
        return encoded.replace("\\u0000", "")


class context:  # noqa: N801 (the public name is lowercase, as in django-pghistory)
    """Attach metadata to every event written while it is active.

    Use it as a context manager (`with` or `async with`) or as a decorator. Nested contexts
    share one id and merge their metadata. Calling it without entering merges the metadata
    into the active context, and does nothing when none is active.
    """

    def __init__(self, **metadata: Any):
        self.metadata = metadata
        self._tokens: list[contextvars.Token] = []
        active = _active.get()
        if active is not None:
            active.metadata.update(metadata)

    def __enter__(self) -> _State:
        """Return the active context, whose `id` and merged `metadata` stay readable."""
        active = _active.get()
        if active is None:
            active = _State(uuid.uuid4(), dict(self.metadata))
            self._tokens.append(_active.set(active))
        else:
            active.metadata.update(self.metadata)
            self._tokens.append(None)
        return active

    def __exit__(self, *exc_info) -> None:
        token = self._tokens.pop()
        if token is not None:
            _active.reset(token)

    async def __aenter__(self) -> _State:
        return self.__enter__()

    async def __aexit__(self, *exc_info) -> None:
        self.__exit__(*exc_info)

    def __call__(self, func):
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_inner(*args, **kwargs):
                async with context(**self.metadata):
                    return await func(*args, **kwargs)

            return async_inner

        @functools.wraps(func)
        def inner(*args, **kwargs):
            with context(**self.metadata):
                return func(*args, **kwargs)

        return inner


def capture_context() -> dict[str, Any] | None:
    """The active context as JSON-serialisable data, to hand to a thread or a task queue job.

    Pass it to `resume_context` in the worker: the worker's events join the same context.
    """
    active = _active.get()
    if active is None:
        return None
    return {"id": str(active.id), "metadata": active.resolved_metadata()}


class resume_context:  # noqa: N801 (used like `context`)
    """Re-enter a context captured by `capture_context` (a no-op for `None`)."""

    def __init__(self, captured: dict[str, Any] | None):
        self.captured = captured
        self._token: contextvars.Token | None = None

    def __enter__(self) -> resume_context:
        if self.captured is not None:
            state = _State(uuid.UUID(self.captured["id"]), dict(self.captured["metadata"]))
            self._token = _active.set(state)
        return self

    def __exit__(self, *exc_info) -> None:
        if self._token is not None:
            _active.reset(self._token)
            self._token = None

    async def __aenter__(self) -> resume_context:
        return self.__enter__()

    async def __aexit__(self, *exc_info) -> None:
        self.__exit__(*exc_info)


def is_write(sql: str) -> bool:
    """True for statements that can fire event triggers."""
    match = _WRITE_START.match(sql)
    if match is None:
        return False
    keyword = match.group(1).upper()
    if keyword in ("INSERT", "UPDATE", "DELETE", "MERGE"):
        return True
    return keyword == "WITH" and _WRITE_KEYWORD.search(sql) is not None


def _settings(state: _State) -> list[tuple[str, str]]:
    """The transaction-local settings that carry the context: (name, quoted value)."""
    return [
        (CONTEXT_ID_SETTING, literal(str(state.id))),
        (CONTEXT_METADATA_SETTING, literal(state.metadata_json())),
    ]


def _inject_context(execute, sql, params, many, context):
    state = _active.get()
    if state is None or not is_write(sql):
        return execute(sql, params, many, context)

    connection = context["connection"]
    settings = _settings(state)
    server_binding = connection.settings_dict.get("OPTIONS", {}).get("server_side_binding")
    if many or server_binding:
        # These calls take one statement: the settings go first on the same cursor (past the
        # wrappers, which are bound to this call), in the same transaction.
        calls = ", ".join(
            f"set_config({literal(name)}, {value}, true)" for name, value in settings
        )
        with transaction.atomic(using=connection.alias):
            context["cursor"].cursor.execute(f"SELECT {calls}")
            return execute(sql, params, many, context)

    # SET LOCAL holds for the rest of the transaction, which in autocommit is the implicit
    # one of this multi-statement string; as utility statements the two cost the server far
    # less than a SELECT of set_config() (no plan, no row sent back).
    prefix = "".join(f"SET LOCAL {name} = {value}; " for name, value in settings)
    if params is not None:
        prefix = prefix.replace("%", "%%")
    result = execute(prefix + sql, params, many, context)
    if is_psycopg3:
        # psycopg 3 keeps the first statement's result current; the caller wants the last.
        for _ in settings:
            context["cursor"].cursor.nextset()
    return result


def _install(connection, **kwargs) -> None:
    if connection.vendor == "postgresql" and _inject_context not in connection.execute_wrappers:
        connection.execute_wrappers.append(_inject_context)


def install() -> None:
    """Attach the context to writes on every connection from now on."""
    connection_created.connect(_install, dispatch_uid="pghistory.runtime.install")
