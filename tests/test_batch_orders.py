"""The compiled batch orders draw exactly NumPy's permutations from each run's stream."""
import numpy as np
import pytest

from ibsim.networks.batch_orders import batch_orders
from ibsim.seeding import run_rng


def _generators(runs: int, seed: int = 3) -> list[np.random.Generator]:
    return [run_rng(seed, r, "batches") for r in range(runs)]


@pytest.mark.parametrize("n_train", [1, 2, 3, 17, 256, 3277, 2**16 + 1])
@pytest.mark.parametrize("threads", [1, 2])
def test_orders_are_numpy_permutations_epoch_after_epoch(n_train, threads):
    theirs, ours = _generators(5), _generators(5)
    want = np.stack([np.stack([g.permutation(n_train) for g in theirs], axis=1) for _ in range(4)])
    got = np.concatenate([batch_orders(ours, n_train, 3, threads), batch_orders(ours, n_train, 1, threads)])
    assert got.dtype == np.int32 and got.shape == (4, n_train, 5)
    np.testing.assert_array_equal(got, want)
    # the streams are left where NumPy's permutations leave them
    assert [g.bit_generator.state for g in ours] == [g.bit_generator.state for g in theirs]


def test_other_bit_generators_too():
    theirs = [np.random.Generator(np.random.MT19937(s)) for s in range(3)]
    ours = [np.random.Generator(np.random.MT19937(s)) for s in range(3)]
    want = np.stack([g.permutation(1000) for g in theirs], axis=1)
    np.testing.assert_array_equal(batch_orders(ours, 1000)[0], want)


def test_a_run_does_not_depend_on_its_group():
    alone = batch_orders(_generators(4)[2:3], 500, 2)
    np.testing.assert_array_equal(batch_orders(_generators(4), 500, 2, 2)[:, :, 2:3], alone)


def test_zero_epochs_draw_nothing():
    rngs = _generators(2)
    before = [g.bit_generator.state for g in rngs]
    assert batch_orders(rngs, 10, 0).shape == (0, 10, 2)
    assert [g.bit_generator.state for g in rngs] == before


@pytest.mark.parametrize("n_train, count", [(0, 1), (-3, 1), (2**31, 1), (10, -1)])
def test_out_of_range_sizes_are_refused(n_train, count):
    with pytest.raises(ValueError, match="n_train|count"):
        batch_orders(_generators(1), n_train, count)
