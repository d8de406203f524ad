"""Timing helpers shared by the benchmarks."""
from __future__ import annotations

import time
from typing import Callable


def best_of(fn: Callable[[], object], repeats: int = 5, inner: int = 1) -> float:
    """Best mean seconds per call over ``repeats`` rounds of ``inner`` calls (after one warm-up)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - start) / inner)
    return best


def marginal(run: Callable[[int], float], short: int, long: int) -> float:
    """Seconds per unit from two run lengths: (t(long) - t(short)) / (long - short).

    This removes start-up costs (graph tracing, compilation) that a long
    experiment amortises, from both sides of a comparison alike.
    """
    return (run(long) - run(short)) / (long - short)


def table(rows: list[tuple], header: tuple) -> str:
    """A plain text table."""
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = "  ".join(f"{{:>{w}}}" for w in widths)
    out = [line.format(*header), line.format(*("-" * w for w in widths))]
    out += [line.format(*r) for r in rows]
    return "\n".join(out)
