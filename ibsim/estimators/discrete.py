"""Entropy of a discrete sample (labels, input groups)."""
from __future__ import annotations

import numpy as np


def entropy_nats(values: np.ndarray) -> float:
    """Plug-in entropy (nats) of the empirical distribution of non-negative integers."""
    p = np.bincount(np.asarray(values)) / len(values)
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))
