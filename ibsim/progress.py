"""Progress reports: tqdm's bar on a terminal, a few plain lines everywhere else.

Every place in ibsim that shows progress calls :func:`progress`. On a terminal
(or in a Jupyter kernel) it returns tqdm's bar, as before. When stderr is a
file or a pipe (CI, a cluster's log, ``2> log``) it returns a
:class:`LineProgress`, which writes a few whole lines instead of thousands of
carriage-return updates::

    ibsim: train runs 0-4: 40 % (3200/8000 epochs, 12 min 05 s, ~18 min left)

one each time another tenth of the work is done, but at most one a minute (and
at least one every fifteen minutes while the work advances), plus a last line
when the work ends (or stops).

``IBSIM_PROGRESS`` overrides the choice: ``bar`` (always tqdm), ``lines``
(always plain lines), ``none`` (no progress at all), ``auto`` (the default).
"""
from __future__ import annotations

import math
import os
import sys
import time
from typing import Any, Callable, Iterable, Iterator, TextIO

ENV = "IBSIM_PROGRESS"
MODES = ("auto", "bar", "lines", "none")

#: Plain lines: report each time another ``STEP`` of the total is done ...
STEP = 0.1
#: ... but leave at least ``INTERVAL`` seconds between two lines ...
INTERVAL = 60.0
#: ... and write one at least every ``HEARTBEAT`` seconds while the work advances.
HEARTBEAT = 900.0


def progress_mode() -> str:
    """``"bar"``, ``"lines"`` or ``"none"``: what :func:`progress` shows now.

    ``$IBSIM_PROGRESS`` if it names a mode other than ``auto`` (an unknown value
    counts as ``auto``); else a bar when stderr is a terminal or a Jupyter
    kernel shows the output, plain lines otherwise.
    """
    mode = os.environ.get(ENV, "").strip().lower()
    if mode in MODES and mode != "auto":
        return mode
    return "bar" if _on_terminal(sys.stderr) or _in_notebook() else "lines"


def _on_terminal(stream: Any) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):  # closed, or not a real stream
        return False


def _in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (where tqdm.auto draws a widget)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
        return shell is not None and "IPKernelApp" in shell.config
    except Exception:  # noqa: BLE001 - any doubt: not a notebook
        return False


def progress(
    total: int | None = None,
    desc: str = "",
    disable: bool = False,
    initial: int = 0,
    *,
    iterable: Iterable[Any] | None = None,
    unit: str = "units",
    leave: bool = False,
) -> Any:
    """A progress report over ``total`` steps (or over ``iterable``).

    The object returned has ``update(n=1)`` and ``close()``, is a context
    manager (closing on exit), and when ``iterable`` is given iterates over it,
    counting one step per item. Which object it is follows
    :func:`progress_mode`: a ``tqdm.auto.tqdm`` bar, a :class:`LineProgress`, or
    a silent stand-in when ``disable`` or the mode is ``none``.

    Args:
        total: Number of steps (default: ``len(iterable)`` when it has one).
        desc: What is in progress (``"train runs 0-4"``).
        disable: Show nothing.
        initial: Steps already done (a resumed run).
        iterable: Items to iterate over while counting.
        unit: What a step is, in plain lines (``"epochs"``).
        leave: Whether tqdm's bar stays on screen when it closes.
    """
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    mode = "none" if disable else progress_mode()
    if mode == "bar":
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, initial=initial, desc=desc, leave=leave)
    if mode == "lines":
        return LineProgress(total, desc, initial=initial, unit=unit, iterable=iterable)
    return _Silent(iterable)


def _duration(seconds: float) -> str:
    """``"12 s"``, ``"14 min 05 s"``, ``"3 h 12 min"``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 100:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 100:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class _Reporter:
    """What every progress object offers: iteration, update, close, ``with``."""

    def __init__(self, iterable: Iterable[Any] | None) -> None:
        self.iterable = iterable

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "_Reporter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("this progress report was made without an iterable")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()


class _Silent(_Reporter):
    """No progress shown (``disable``, or ``IBSIM_PROGRESS=none``)."""


class LineProgress(_Reporter):
    """Progress as a few whole lines on stderr, for logs that are not terminals.

    A line is written when another ``step`` of the total is done and at least
    ``interval`` seconds have passed since the last line, or when ``heartbeat``
    seconds have passed since the last line and the work has advanced; and
    once at the end (:meth:`close`): ``100 %``, or ``stopped at 40 %``. Without
    a total only the heartbeat and the end line are written.

    Args:
        total: Number of steps, or None when unknown.
        desc: What is in progress.
        initial: Steps already done when the report starts.
        unit: What a step is (``"epochs"``).
        iterable: Items to iterate over while counting.
        step: Fraction of the total between two lines.
        interval: Least seconds between two lines (but the end line).
        heartbeat: Most seconds without a line while the work advances.
        clock: Seconds, monotonic (the tests pass a fake).
        stream: Where to write (default: ``sys.stderr`` at the time of writing).
    """

    def __init__(
        self,
        total: int | None,
        desc: str = "",
        initial: int = 0,
        unit: str = "units",
        iterable: Iterable[Any] | None = None,
        step: float = STEP,
        interval: float = INTERVAL,
        heartbeat: float = HEARTBEAT,
        clock: Callable[[], float] = time.monotonic,
        stream: TextIO | None = None,
    ) -> None:
        super().__init__(iterable)
        self.total = total if total is None else max(0, int(total))
        self.desc = desc
        self.initial = self.n = int(initial)
        self.unit = unit
        self.step, self.interval, self.heartbeat = step, interval, heartbeat
        self.clock = clock
        self.stream = stream
        self.start = self.last_time = clock()
        self.last_n = self.n
        self.last_mark = self._mark()
        self.closed = False
        self.lines: list[str] = []  # what was written, for the tests

    def _fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.n / self.total)

    def _mark(self) -> int:
        """How many whole steps are done."""
        fraction = self._fraction()
        return -1 if fraction is None else int(math.floor(fraction / self.step + 1e-9))

    def update(self, n: int = 1) -> None:
        if self.closed or not n:
            return
        self.n += int(n)
        now = self.clock()
        since = now - self.last_time
        mark = self._mark()
        finished = self.total is not None and self.n >= self.total
        if finished:
            return  # the end line says it
        if (mark > self.last_mark and since >= self.interval) or (since >= self.heartbeat and self.n > self.last_n):
            self._write(self._line(now))
            self.last_time, self.last_n, self.last_mark = now, self.n, mark

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._write(self._line(self.clock(), end=True))

    def _line(self, now: float, end: bool = False) -> str:
        elapsed = now - self.start
        fraction = self._fraction()
        head = f"ibsim: {self.desc}: " if self.desc else "ibsim: "
        if fraction is None:
            return f"{head}{self.n} {self.unit} ({_duration(elapsed)})"
        percent = f"{int(math.floor(fraction * 100 + 1e-9))} %"
        if end and self.n < (self.total or 0):
            percent = f"stopped at {percent}"
        detail = f"{self.n}/{self.total} {self.unit}, {_duration(elapsed)}"
        done = self.n - self.initial
        if not end and done > 0 and self.total is not None and self.n < self.total:
            left = elapsed * (self.total - self.n) / done
            detail += f", ~{_duration(left)} left"
        return f"{head}{percent} ({detail})"

    def _write(self, line: str) -> None:
        self.lines.append(line)
        stream = self.stream if self.stream is not None else sys.stderr
        if stream is None:
            return
        try:
            print(line, file=stream, flush=True)
        except (OSError, ValueError):  # a closed or broken log must not stop the work
            pass
