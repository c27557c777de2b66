"""Read pages the way a person does: the rows of the events table, as text per column."""

from __future__ import annotations

import re
from html.parser import HTMLParser


class _EventTable(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self._cell: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-event" in attrs:
            self.rows.append({"event": attrs["data-event"]})
        elif tag == "td" and self.rows and "data-label" in attrs:
            self._cell, self._text = attrs["data-label"], []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1][self._cell] = re.sub(r"\s+", " ", "".join(self._text)).strip()
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._text.append(data)


def event_rows(html: str | bytes) -> list[dict[str, str]]:
    """Each row of the events table as {"event": slug, "When": ..., "Who": ..., ...}."""
    parser = _EventTable()
    parser.feed(html.decode() if isinstance(html, bytes) else html)
    return parser.rows


def column(html: str | bytes, name: str) -> list[str]:
    """One column of the events table, top to bottom."""
    return [row[name] for row in event_rows(html)]
