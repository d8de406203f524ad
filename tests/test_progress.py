"""Progress: tqdm's bar on a terminal, a few plain lines in logs (ibsim/progress.py)."""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ibsim import progress as progress_module
from ibsim.parallel.serial import SerialBackend
from ibsim.progress import LineProgress, progress, progress_mode
from tests.conftest import CONFIGS, REPO


class Clock:
    """A fake monotonic clock: ``clock.t`` seconds."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def reporter(total, clock, **kwargs) -> tuple[LineProgress, io.StringIO]:
    stream = io.StringIO()
    return LineProgress(total, kwargs.pop("desc", "train runs 0-4"), unit=kwargs.pop("unit", "epochs"),
                        clock=clock, stream=stream, **kwargs), stream


def run_epochs(bar: LineProgress, clock: Clock, epochs: int, seconds_each: float) -> None:
    for _ in range(epochs):
        clock.t += seconds_each
        bar.update(1)


def test_the_line_says_what_how_far_and_how_long():
    clock = Clock()
    bar, stream = reporter(8000, clock, interval=0)
    clock.t = 12
    bar.update(3200)
    assert stream.getvalue() == "ibsim: train runs 0-4: 40 % (3200/8000 epochs, 12 s, ~18 s left)\n"
    clock.t = 30
    bar.update(4800)
    bar.close()
    assert bar.lines[-1] == "ibsim: train runs 0-4: 100 % (8000/8000 epochs, 30 s)"
    assert "\r" not in stream.getvalue()


@pytest.mark.parametrize("seconds_each, expected", [
    (0.001, 1),   # 8 s in all: only the end line
    (0.01, 2),    # 80 s: one line after the first minute, then the end
    (1.0, 10),    # 8000 s: a line at every tenth (9) and the end
    (1.1, 10),    # 8800 s: still one line per tenth, nothing more
])
def test_a_line_at_each_tenth_but_at_most_one_a_minute(seconds_each, expected):
    clock = Clock()
    bar, stream = reporter(8000, clock)
    run_epochs(bar, clock, 8000, seconds_each)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == expected, lines
    assert lines[-1].startswith("ibsim: train runs 0-4: 100 % (8000/8000 epochs")


def test_lines_are_a_minute_apart_and_name_the_tenth_reached():
    clock = Clock()
    bar, stream = reporter(1000, clock)
    written = []
    for epoch in range(1, 1001):
        clock.t = epoch * 0.5  # 500 s in all; a tenth every 50 s
        before = len(bar.lines)
        bar.update(1)
        if len(bar.lines) > before:
            written.append((clock.t, bar.lines[-1]))
    # the first tenth's line waits for the first minute; then at most one a minute, saying how far it is then
    assert [t for t, _ in written] == [60.0, 120.0, 180.0, 240.0, 300.0, 360.0, 420.0, 480.0]
    assert [re.search(r": (\d+) %", line).group(1) for _, line in written] == \
        ["12", "24", "36", "48", "60", "72", "84", "96"]
    assert all(later - earlier >= 60 for (earlier, _), (later, _) in zip(written, written[1:]))


def test_a_heartbeat_every_fifteen_minutes_while_a_tenth_takes_longer():
    clock = Clock()
    bar, stream = reporter(100, clock)
    run_epochs(bar, clock, 5, 400.0)  # 2000 s, 5 % done
    assert len(bar.lines) == 1  # at 1200 s: more than 900 s without a line
    assert bar.lines[0].startswith("ibsim: train runs 0-4: 3 % (3/100 epochs, 20 min 00 s, ~")
    clock.t += 10_000  # no progress, no heartbeat
    bar.update(0)
    assert len(bar.lines) == 1


def test_a_resumed_run_counts_from_where_it_was():
    clock = Clock()
    bar, stream = reporter(8000, clock, initial=4000)
    clock.t = 100
    bar.update(400)   # still 55 %: the same tenth as the start
    assert bar.lines == []
    clock.t = 200
    bar.update(400)   # 60 %: 800 epochs in 200 s, 3200 to go
    assert bar.lines == ["ibsim: train runs 0-4: 60 % (4800/8000 epochs, 3 min 20 s, ~13 min 20 s left)"]


def test_work_that_stops_early_says_where_it_stopped():
    clock = Clock()
    with pytest.raises(RuntimeError):
        with reporter(8000, clock)[0] as bar:
            clock.t = 5
            bar.update(3000)
            raise RuntimeError("boom")
    assert bar.lines == ["ibsim: train runs 0-4: stopped at 37 % (3000/8000 epochs, 5 s)"]
    bar.close()  # a second close writes nothing
    assert len(bar.lines) == 1


def test_without_a_total_only_the_heartbeat_and_the_end():
    clock = Clock()
    bar, _ = reporter(None, clock, desc="estimating", unit="units")
    run_epochs(bar, clock, 30, 50.0)
    bar.close()
    assert bar.lines == ["ibsim: estimating: 18 units (15 min 00 s)", "ibsim: estimating: 30 units (25 min 00 s)"]


def test_iterating_counts_each_item_and_ends_with_a_line(capsys):
    bar = LineProgress(None, "writing", iterable=iter(["a", "b", "c"]))
    assert list(bar) == ["a", "b", "c"]
    assert bar.lines == ["ibsim: writing: 3 units (0 s)"]
    assert capsys.readouterr().err == "ibsim: writing: 3 units (0 s)\n"  # on sys.stderr as it is when written


def test_durations_read_as_seconds_minutes_hours():
    assert [progress_module._duration(s) for s in (0, 12.4, 99, 100, 845, 5999, 6000, 11520)] == \
        ["0 s", "12 s", "99 s", "1 min 40 s", "14 min 05 s", "99 min 59 s", "1 h 40 min", "3 h 12 min"]


class Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize("variable, tty, mode", [
    (None, True, "bar"), (None, False, "lines"), ("auto", True, "bar"), ("auto", False, "lines"),
    ("bar", False, "bar"), ("lines", True, "lines"), ("none", True, "none"), (" LINES ", True, "lines"),
    ("nonsense", False, "lines"),
])
def test_the_mode_follows_the_terminal_unless_the_variable_says(monkeypatch, variable, tty, mode):
    if variable is None:
        monkeypatch.delenv("IBSIM_PROGRESS", raising=False)
    else:
        monkeypatch.setenv("IBSIM_PROGRESS", variable)
    monkeypatch.setattr(sys, "stderr", Stream(tty))
    assert progress_mode() == mode


def test_the_factory_gives_a_bar_lines_or_nothing(monkeypatch):
    from tqdm.auto import tqdm

    monkeypatch.setattr(sys, "stderr", Stream(False))
    monkeypatch.setenv("IBSIM_PROGRESS", "bar")
    with progress(total=10, desc="x") as bar:
        assert isinstance(bar, tqdm)
        bar.update(10)
    monkeypatch.setenv("IBSIM_PROGRESS", "lines")
    with progress(total=10, desc="x", unit="epochs", initial=2) as bar:
        assert isinstance(bar, LineProgress) and bar.n == 2
        bar.update(8)
    assert sys.stderr.getvalue().endswith("ibsim: x: 100 % (10/10 epochs, 0 s)\n")
    written = sys.stderr.getvalue()
    for mode, disable in (("lines", True), ("none", False), ("bar", True)):
        monkeypatch.setenv("IBSIM_PROGRESS", mode)
        with progress(total=10, desc="x", disable=disable) as bar:
            bar.update(10)
        assert list(progress(iterable=[1, 2], desc="x", disable=disable)) == [1, 2]
    assert sys.stderr.getvalue() == written  # nothing more


def test_a_backend_reports_units_in_lines(monkeypatch, capsys):
    monkeypatch.setenv("IBSIM_PROGRESS", "lines")
    assert SerialBackend().map(lambda context, unit: unit * 2, None, [1, 2, 3], desc="training", quiet=False) == [2, 4, 6]
    assert capsys.readouterr().err == "ibsim: training: 100 % (3/3 units, 0 s)\n"
    assert SerialBackend().map(lambda context, unit: unit, None, [1, 2, 3], desc="training", quiet=True) == [1, 2, 3]
    assert capsys.readouterr().err == ""


def test_every_progress_bar_goes_through_the_factory():
    package = REPO / "ibsim"
    users = sorted(str(path.relative_to(REPO)) for path in package.rglob("*.py")
                   if "tqdm" in path.read_text() and path.name != "progress.py")
    assert users == [], f"make progress with ibsim.progress.progress, not tqdm directly: {users}"


def test_a_run_logged_to_a_file_writes_a_few_plain_lines(tmp_path):
    """``ibsim run`` with stderr in a file: whole lines, no carriage returns."""
    env = {k: v for k, v in os.environ.items() if k != "IBSIM_PROGRESS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    log = tmp_path / "stderr.txt"
    with open(log, "wb") as stderr:
        done = subprocess.run(
            [sys.executable, "-m", "ibsim", "run", str(CONFIGS / "smoke.toml"), "--set", "epochs=200", "--set",
             "n_runs=1", "-o", str(tmp_path / "out"), "--no-plots"],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=stderr, timeout=600,
        )
    text = Path(log).read_bytes().decode()
    assert done.returncode == 0, text
    assert "\r" not in text
    lines = [line for line in text.splitlines() if re.match(r"ibsim: .*\d+ %", line)]
    assert 1 <= len(lines) <= 12, text
    assert any(re.match(r"ibsim: train run 0: 100 % \(200/200 epochs, \d+ s\)$", line) for line in lines), text
