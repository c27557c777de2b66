"""SQL text: quoting a Postgres identifier or string literal for a statement built in Python.
The triggers, the `Events` union, the context runtime and the upkeep of event tables all
write their SQL with these two."""

from __future__ import annotations


def quote(name: str) -> str:
    """Quote a Postgres identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """Quote a Postgres string literal."""
    return "'" + value.replace("'", "''") + "'"
