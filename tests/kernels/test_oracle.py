"""Every compiled kernel against its NumPy twin, over one hostile input generator.

Both raise → pass; only one raises → fail, naming which; otherwise the values
agree to 1e-12 (bits).
"""
from __future__ import annotations

import numpy as np
import pytest

from ibsim.estimators.kernels import KERNELS
from tests.kernels.hostile import binning_cases, kde_cases
from tests.kernels.hostile import edge_cases
from tests.kernels.hostile import renyi2_cases
from tests.kernels.hostile import knn_cases, knn_class_cases
from tests.kernels.hostile_sp import sp_cases

CASES = {"binned_entropies": list(binning_cases()), "kde_log_sums": list(kde_cases())}
CASES["edge_base_estimates"] = list(edge_cases())
CASES["renyi2_entropies"] = list(renyi2_cases())
CASES["knn_kth_distance"] = list(knn_cases("knn_kth_distance"))
CASES["knn_count_within"] = list(knn_cases("knn_count_within"))
CASES["knn_class_radius_and_count"] = list(knn_class_cases())
CASES["sp_log_sums"] = list(sp_cases())


def _describe(name: str, label: str, kwargs: dict) -> str:
    acts = next(kwargs[key] for key in ("acts", "points", "centres") if key in kwargs)
    order = "C" if acts.flags.c_contiguous else "strided"
    extra = {k: v for k, v in kwargs.items() if k in ("n_bins", "scale")}
    return f"{name} on {label}: dtype {acts.dtype}, shape {acts.shape}, {order}, {extra}"


@pytest.mark.parametrize(
    "name,label,kwargs",
    [(name, label, kwargs) for name, cases in CASES.items() for label, kwargs in cases],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_kernel_matches_reference(name, label, kwargs):
    fast, reference = KERNELS[name]
    where = _describe(name, label, kwargs)
    errors = {}
    values = {}
    for which, fn in (("fast", fast), ("reference", reference)):
        try:
            values[which] = fn(**kwargs)
        except Exception as error:  # noqa: BLE001 - both must fail alike
            errors[which] = error
    if len(errors) == 2:
        return
    if len(errors) == 1:
        which, error = next(iter(errors.items()))
        pytest.fail(f"only the {which} version raised ({type(error).__name__}: {error}) for {where}")
    # binning is exact integer counting: 1e-12 bits; the KDE sums add up exps of
    # different (equally rounded) float64 values: 1e-10 nats
    tolerance = 1e-12 if name == "binned_entropies" else 1e-10
    if name.startswith("knn_"):  # the same float64 distances: bit for bit
        tolerance = 0.0
    if name == "knn_class_radius_and_count":  # (radii, counts): the same bits, the same counts
        (radius, count), (radius_ref, count_ref) = values["fast"], values["reference"]
        assert np.array_equal(radius.view(np.int64), radius_ref.view(np.int64)), where
        assert np.array_equal(count, count_ref), where
        assert radius.dtype == radius_ref.dtype == np.float64 and count.dtype == count_ref.dtype == np.int64
        return
    np.testing.assert_allclose(values["fast"], values["reference"], rtol=0, atol=tolerance, err_msg=where)
    counted = name == "knn_count_within"  # the k-NN kernels are exact: counts, and distances to 0
    assert values["fast"].dtype == values["reference"].dtype == (np.int64 if counted else np.float64)


def test_every_kernel_has_cases():
    assert set(CASES) == set(KERNELS)


def test_nan_is_refused_with_a_clear_error():
    fast, _ = KERNELS["binned_entropies"]
    acts = np.zeros((3, 10, 2), dtype=np.float32)
    acts[2, 4, 1] = np.nan
    with pytest.raises(Exception, match="NaN") as info:
        fast(acts, 0.0, 0.1)
    assert info.value.block == 2


def test_threads_do_not_change_results():
    fast, _ = KERNELS["binned_entropies"]
    rng = np.random.default_rng(3)
    acts = np.tanh(3 * rng.normal(size=(40, 500, 6))).astype(np.float32)
    labels = rng.integers(0, 2, 500)
    one = fast(acts, 0.0, 0.07, labels=labels, n_labels=2, num_threads=1)
    two = fast(acts, 0.0, 0.07, labels=labels, n_labels=2, num_threads=2)
    assert np.array_equal(one, two)
