"""Hostile inputs for ``sp_log_sums`` (the sample-propagation mixture sums)."""
from __future__ import annotations

from typing import Iterator

import numpy as np


def sp_cases() -> Iterator[tuple[str, dict]]:
    """(description, kwargs) for the compiled ``sp_log_sums`` and its twin."""
    for seed in (0, 1):
        rng = np.random.default_rng(seed)

        def case(centres, queries=None, beta=0.1, classes=2, groups=None, owner=None):
            centres = np.asarray(centres, dtype=np.float32)
            n, d = centres.shape
            if owner is None:
                owner = rng.integers(0, n, n if queries is None else len(queries))
            if queries is None:
                queries = centres[owner].astype(np.float64) + beta * rng.normal(size=(len(owner), d))
            kwargs = dict(queries=queries, owner=owner, centres=centres, labels=rng.integers(0, classes, n),
                          n_labels=classes, scale=1.0 / (2 * beta * beta))
            if groups is not None:
                kwargs.update(groups=groups, n_groups=int(groups.max()) + 1)
            return kwargs

        for shape in [(1, 1), (2, 1), (7, 3), (300, 5), (257, 12), (40, 64)]:
            yield f"normal{shape} seed{seed}", case(rng.normal(size=shape))
        yield f"tanh saturated seed{seed}", case(np.tanh(8 * rng.normal(size=(200, 4))), beta=0.01)
        yield f"all centres equal seed{seed}", case(np.full((50, 3), 0.3))
        yield f"many classes seed{seed}", case(rng.normal(size=(200, 3)), classes=37)
        groups = rng.integers(0, 20, 200)
        base = rng.normal(size=(20, 3))
        yield f"groups of identical inputs seed{seed}", case(base[groups], groups=groups)
        yield f"groups, centres differ within seed{seed}", case(rng.normal(size=(200, 3)), groups=groups)
        far = rng.normal(size=(30, 4)) + 8.0  # every term below exp(-700): each sum must shift by its own largest
        yield f"queries far from every centre seed{seed}", case(rng.normal(size=(100, 4)), queries=far)
        yield f"tiny beta seed{seed}", case(rng.normal(size=(100, 2)), beta=1e-6)
        yield f"no queries seed{seed}", case(rng.normal(size=(10, 2)), queries=np.zeros((0, 2)))
        nan = rng.normal(size=(50, 3))
        nan[7, 1] = np.nan
        yield f"NaN centre seed{seed}", case(nan, queries=rng.normal(size=(5, 3)))
        inf_q = rng.normal(size=(5, 3))
        inf_q[2, 0] = np.inf
        yield f"infinite query seed{seed}", case(rng.normal(size=(50, 3)), queries=inf_q)
        yield f"owner out of range seed{seed}", case(rng.normal(size=(10, 2)), owner=np.array([0, 10]),
                                                     queries=np.zeros((2, 2)))
        yield f"queries of another width seed{seed}", case(rng.normal(size=(10, 2)), queries=np.zeros((10, 3)))
