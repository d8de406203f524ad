"""The harmonics data: the shipped file's known facts, and the generator."""
from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest

from ibsim.datasets import Harmonics, generate_harmonics, share_by_ones
from ibsim.datasets.harmonics import VAR_U_SHA256, load_var_u, var_u_path
from ibsim.errors import DataError

TISHBY_TABLE = [0, 0, 0, 0, 0, 7.5758, 57.5758, 92.4242, 100, 100, 100, 100, 100]


def test_shipped_file_is_tishbys():
    data = var_u_path().read_bytes()
    assert len(data) == 1003
    assert hashlib.sha256(data).hexdigest() == VAR_U_SHA256


def test_shipped_file_equals_the_shared_copy(shared_data):
    assert (shared_data / "harmonics" / "var_u.mat").read_bytes() == var_u_path().read_bytes()


def test_known_facts():
    X, y = load_var_u()
    assert X.shape == (4096, 12) and y.shape == (4096,)
    assert len(np.unique(X, axis=0)) == 4096
    assert y.mean() == 0.51708984375
    np.testing.assert_allclose(share_by_ones(X, y), TISHBY_TABLE, atol=1e-4)


def test_corrupt_file_is_refused(tmp_path):
    copy = tmp_path / "var_u.mat"
    shutil.copy(var_u_path(), copy)
    data = bytearray(copy.read_bytes())
    data[500] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(DataError, match="corrupt"):
        load_var_u(copy)
    with pytest.raises(DataError, match="missing"):
        load_var_u(tmp_path / "absent.mat")


def test_split_is_eighty_twenty_and_seeded():
    a = Harmonics().splits(seed=0, train_fraction=0.8)
    b = Harmonics().splits(seed=0, train_fraction=0.8)
    c = Harmonics().splits(seed=1, train_fraction=0.8)
    assert len(a.training) == 3277 and len(a.test) == 819 and len(a.full_dataset) == 4096
    assert np.array_equal(a.training.indices, b.training.indices)
    assert not np.array_equal(a.training.indices, c.training.indices)
    assert not set(a.training.indices) & set(a.test.indices)
    assert a.training.Y.shape == (3277, 2) and np.all(a.training.Y.sum(axis=1) == 1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generator_makes_the_same_kind_of_table(seed):
    X, y, _ = generate_harmonics(seed=seed)
    table = share_by_ones(X, y)
    assert X.shape == (4096, 12) and len(np.unique(X, axis=0)) == 4096
    assert table[6] == pytest.approx(57.5758, abs=0.05)  # set by the threshold
    assert np.all(table[:5] == 0) and np.all(table[9:] == 100)  # like Tishby's
    assert np.all(np.diff(table) >= 0)  # more ones, more positives
    assert 0.4 < y.mean() < 0.6


def test_generator_is_seeded():
    a = generate_harmonics(seed=3, degree=10)
    b = generate_harmonics(seed=3, degree=10)
    c = generate_harmonics(seed=4, degree=10)
    assert np.array_equal(a[1], b[1]) and not np.array_equal(a[1], c[1])
