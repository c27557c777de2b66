"""A dependency-free progress indicator for long management commands.

On a terminal it redraws one line in place::

    seeding [############..................] 42% 4200/10000

Anywhere else (a log file, CI, a pipe) it prints a plain line each time another tenth of the
work is done, so logs stay short and readable::

    seeding 40% 4000/10000

Use it as a context manager, which finishes the line on exit::

    with Progress(total=len(rows), label="importing") as progress:
        for chunk in chunks:
            write(chunk)
            progress.advance(len(chunk))
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Progress of `total` units of work, drawn on `stream` (standard error by default).

    `interactive` chooses between the redrawn bar and plain lines; by default it is whether
    `stream` is a terminal. `label` and `total` may be changed while the work runs.
    """

    #: Seconds between two redraws of the bar on a terminal (the last one is always drawn).
    redraw_interval = 0.1

    def __init__(
        self,
        total: int,
        label: str = "",
        *,
        stream: TextIO | None = None,
        width: int = 30,
        interactive: bool | None = None,
    ):
        if total < 0:
            raise ValueError("total cannot be negative")
        self.stream = stream if stream is not None else sys.stderr
        self.width = max(width, 1)
        if interactive is None:
            isatty = getattr(self.stream, "isatty", None)
            interactive = bool(isatty and isatty())
        self.interactive = interactive
        self.done = 0
        self._total = total
        self._label = label
        self._drawn_width = 0  # characters of the bar currently on the terminal line
        self._last_draw = 0.0
        self._last_tenth = -1  # the last tenth printed as a plain line
        self._closed = False

    # -- the state ------------------------------------------------------------------------

    @property
    def total(self) -> int:
        return self._total

    @total.setter
    def total(self, value: int) -> None:
        if value < 0:
            raise ValueError("total cannot be negative")
        self._total = value
        self._refresh(force=True)

    @property
    def label(self) -> str:
        return self._label

    @label.setter
    def label(self, value: str) -> None:
        self._label = value
        self._refresh(force=True)

    @property
    def fraction(self) -> float:
        """How much is done, between 0 and 1 (work beyond `total` counts as all of it)."""
        if self._total == 0:
            return 1.0
        return min(max(self.done / self._total, 0.0), 1.0)

    def advance(self, n: int = 1) -> None:
        """Record `n` more units of work done."""
        self.done += n
        self._refresh()

    def update(self, done: int) -> None:
        """Record that `done` units of work are done in all."""
        self.done = done
        self._refresh()

    def close(self) -> None:
        """Draw the final state and end the line. Calling it again does nothing."""
        if self._closed:
            return
        if self.interactive:
            self._draw_bar()
            self.stream.write("\n")
        elif self._last_tenth < self._tenth():
            self._print_line()
        self.stream.flush()
        self._closed = True

    def __enter__(self) -> Progress:
        self._refresh(force=True)
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- drawing --------------------------------------------------------------------------

    def render(self) -> str:
        """The text of the bar: `label [#####.....] 42% 4200/10000`."""
        filled = int(self.fraction * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        prefix = f"{self._label} " if self._label else ""
        return f"{prefix}[{bar}] {self._percent()}% {self.done}/{self._total}"

    def _percent(self) -> int:
        return int(self.fraction * 100)

    def _tenth(self) -> int:
        return int(self.fraction * 10)

    def _refresh(self, force: bool = False) -> None:
        if self._closed:
            return
        if self.interactive:
            now = time.monotonic()
            if force or self.done >= self._total or now - self._last_draw >= self.redraw_interval:
                self._draw_bar()
                self._last_draw = now
        elif self._tenth() > self._last_tenth:
            self._print_line()

    def _draw_bar(self) -> None:
        text = self.render()
        # Blank out what is left of a longer previous line (a longer label, say).
        padding = " " * max(self._drawn_width - len(text), 0)
        self.stream.write(f"\r{text}{padding}")
        self.stream.flush()
        self._drawn_width = len(text)

    def _print_line(self) -> None:
        prefix = f"{self._label} " if self._label else ""
        self.stream.write(f"{prefix}{self._percent()}% {self.done}/{self._total}\n")
        self.stream.flush()
        self._last_tenth = self._tenth()
