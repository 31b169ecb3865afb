"""What a person at a terminal sees beyond plain text: colour and progress bars. One place decides both.

Colour (https://no-color.org): `--color` / `--no-color` on the command line, else none when $NO_COLOR is
set to anything non-empty, else colour only when the stream is a terminal (not piped, not TERM=dumb).
`paint(text, role)` colours by meaning (create, update, delete, ok, fail, error, warning…), so one
palette holds across plan, apply, audit and validate.

Progress: long work (sync, apply, seeding) reports through a `Reporter` — one bar per entity on a
terminal (rich's progress display, on stderr), nothing per page when piped (only the notes: a few
summary lines), nothing at all with `--quiet` (errors are not progress: they are still printed).
The work itself knows nothing of terminals: it calls its `progress` callback with a `Tick` (an
entity's count so far, and its total when known) or a `str` (a note worth a line in a log).
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from typing import IO, Any

# ---- colour ------------------------------------------------------------------------------------------

_forced_color: bool | None = None   # --color / --no-color; None: decide from NO_COLOR and the stream

#: role -> click.style keywords. Meaning, not decoration: green adds/passes, yellow changes/warns,
#: red removes/fails, cyan is a step by hand, dim is context.
PALETTE: dict[str, dict[str, Any]] = {
    "create": {"fg": "green"},
    "update": {"fg": "yellow"},
    "replace": {"fg": "magenta"},
    "delete": {"fg": "red"},
    "manual": {"fg": "cyan"},
    "ok": {"fg": "green"},
    "fail": {"fg": "red", "bold": True},
    "error": {"fg": "red", "bold": True},
    "warning": {"fg": "yellow"},
    "info": {"fg": "blue"},
    "dim": {"dim": True},
    "heading": {"bold": True},
}


def force_color(value: bool | None) -> None:
    """`--color` (True) / `--no-color` (False) / neither (None) for this process."""
    global _forced_color
    _forced_color = value


def is_terminal(stream: IO[str] | None) -> bool:
    """Whether `stream` is an interactive terminal that understands cursor and colour codes."""
    try:
        tty = bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):   # a closed or replaced stream (test runners)
        return False
    return tty and os.environ.get("TERM", "") not in ("dumb", "unknown")


def color_enabled(stream: IO[str] | None = None) -> bool:
    """Colour on `stream` (default stdout): --color/--no-color, else not with $NO_COLOR, else a terminal."""
    if _forced_color is not None:
        return _forced_color
    if os.environ.get("NO_COLOR", ""):
        return False
    return is_terminal(stream if stream is not None else sys.stdout)


def paint(text: str, role: str, *, err: bool = False) -> str:
    """`text` in the colour of `role` when the stream it goes to (stdout, or stderr with err=True) takes
    colour; unchanged otherwise, so piped output and NO_COLOR runs stay plain."""
    if not text or not color_enabled(sys.stderr if err else sys.stdout):
        return text
    import click

    return click.style(text, **PALETTE[role])


# ---- progress ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tick:
    """How far one entity's work is: `done` of `total` (None: not known in advance). `text` is the line a
    plain log would print for it, which a terminal replaces by the entity's bar."""

    entity: str
    done: int
    total: int | None = None
    text: str = ""

    def __str__(self) -> str:
        return self.text or f"{self.entity}: {self.done}" + (f"/{self.total}" if self.total is not None else "")


class Reporter:
    """A `progress` callback for long work: call it with a `Tick` or a note (str). Use it as a context
    manager around the work, so a terminal's bars are cleared when it ends or fails.

    `quiet`: nothing at all. On a terminal: a bar per entity, notes printed above the bars. Otherwise:
    the notes only, one line each (ticks are per-page detail a log does not need)."""

    def __init__(self, *, quiet: bool = False, stream: IO[str] | None = None, prefix: str = "",
                 unit: str = ""):
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.prefix = prefix
        self.unit = unit
        self.live = not quiet and is_terminal(self.stream)
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._lock = threading.Lock()   # sync reads its streams in threads

    def __enter__(self) -> Reporter:
        return self

    def _display(self) -> Any:
        """The bars, started at the first tick: not before, so a question asked first (apply's
        confirmation) is not drawn over."""
        if self._progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

            console = Console(file=self.stream, no_color=not color_enabled(self.stream))
            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description:<24}", markup=False), BarColumn(),
                                      MofNCompleteColumn(), TextColumn(self.unit), console=console,
                                      transient=True)
            self._progress.start()
        return self._progress

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None
                self._tasks.clear()

    def __call__(self, event: Tick | str) -> None:
        if self.quiet:
            return
        if isinstance(event, Tick):
            self.tick(event)
        else:
            self.note(str(event))

    def tick(self, tick: Tick) -> None:
        if not self.live:
            return
        with self._lock:
            bars = self._display()
            task = self._tasks.get(tick.entity)
            if task is None:
                task = self._tasks[tick.entity] = bars.add_task(self.prefix + tick.entity, total=tick.total)
            # an unknown total shows a moving bar and the count; a known one a filling bar and "n/total"
            bars.update(task, completed=tick.done, total=tick.total)

    def note(self, text: str) -> None:
        if self.quiet:
            return
        line = self.prefix + text
        with self._lock:
            bars = self._progress
        if bars is not None:
            bars.console.print(line, markup=False, highlight=False)
        else:
            import click

            click.echo(line, file=self.stream)
