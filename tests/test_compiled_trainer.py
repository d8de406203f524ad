"""The compiled dense trainer against the XLA ensemble, a NumPy reference, and itself.

Tolerance against XLA: the two sum in other orders and use other exp/log/tanh
approximations, so they agree to float32 rounding, amplified slowly by
training: after 20 epochs (260 Adam steps of the Tishby net) parameters within
``atol 2e-6 + rtol 1e-4`` (measured: 1.2e-7 absolute at most), epoch metrics
within 1e-5. Between groups and thread counts the compiled trainer is compared
bit for bit.
"""
from __future__ import annotations

import dataclasses
import platform
import subprocess
import sys

import numpy as np
import pytest

from ibsim import Config, ConfigError, Network, Results
from ibsim.datasets import Harmonics
from ibsim.networks.activations import NUMPY_ACTIVATIONS
from ibsim.networks.compiled_trainer import CompiledTrainer, supports
from ibsim.networks.ensemble import Ensemble
from ibsim.pipeline.data import experiment_data
from ibsim.pipeline.parts import PartStore
from ibsim.pipeline.plan import make_plan
from ibsim.pipeline.training import GroupTraining

TISHBY = [10, 7, 5, 4, 3]
PARAM_ATOL, PARAM_RTOL, METRIC_ATOL = 2e-6, 1e-4, 1e-5


@pytest.fixture(scope="module")
def data():
    return Harmonics().splits(0, 0.8)


def _state(ensemble: Ensemble) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Copies of the ensemble's parameters and slots (the compiled trainer's input)."""
    return [p.numpy().copy() for p in ensemble.params], [s.numpy().copy() for s in ensemble.slots]


def _xla_epoch(ensemble: Ensemble, x, y, perm: np.ndarray, with_stats: bool = False):
    """One XLA epoch of ``ensemble`` with the batch orders ``perm``."""
    ensemble.batch_orders = lambda n: perm
    try:
        return ensemble.train_epoch(x, y, with_stats)
    finally:
        del ensemble.batch_orders


def _train_both(ensemble, trainer, x, y, xm, ym, epochs, freeze_after=None, stats_every=0):
    """Train the ensemble (XLA) and copies of its state (compiled) side by side
    on the same batch orders; returns the compiled state and the last metrics
    of both, and the largest stats difference (relative to the stats' scale)."""
    tf = ensemble._tf
    ensemble.set_held_out(xm, ym)
    tx, ty = tf.constant(x), tf.constant(y)
    params, slots = _state(ensemble)
    steps, active = 0, np.ones(ensemble.n_runs, bool)
    stats_gap = 0.0
    for epoch in range(epochs):
        if freeze_after is not None and epoch == freeze_after:
            ensemble.deactivate([1])
            active[1] = False
        perm = ensemble.batch_orders(len(x))
        with_stats = bool(stats_every) and epoch % stats_every == 0
        stats = [np.zeros(p.shape, np.float64) for p in params[: trainer.n_layers] for _ in range(2)]
        _xla_epoch(ensemble, tx, ty, perm, with_stats)
        result = trainer.train_epoch(params, slots, steps, active, x, y, perm, xm, ym,
                                     stats if with_stats else None)
        steps = result.steps
        if with_stats:
            for ours, theirs in zip(stats, ensemble.stats):
                theirs = theirs.numpy()[..., active]
                scale = np.abs(theirs).max()
                stats_gap = max(stats_gap, np.abs(ours[..., active] - theirs).max() / scale)
    assert steps == int(ensemble.steps.numpy())
    return params, slots, result.metrics, ensemble.last_metrics, stats_gap


def _assert_close(ensemble, params, runs):
    for k, (ours, theirs) in enumerate(zip(params, ensemble.params)):
        np.testing.assert_allclose(ours[..., runs], theirs.numpy()[..., runs], rtol=PARAM_RTOL, atol=PARAM_ATOL,
                                   err_msg=f"parameter {k}")


@pytest.mark.parametrize(
    "architecture, activation, optimizer, learning_rate, max_norm, batch_size",
    [
        (TISHBY, "tanh", "adam", 4e-4, 0.0, 256),  # the main job (last batch 205 of 256)
        ([8, 5], "relu", "sgd", 0.05, 0.0, 500),  # last batch 277 of 500
        ([8, 5], "sigmoid", "adam", 0.01, 0.5, 128),  # MaxNorm binding from the first steps
    ],
)
def test_the_compiled_epoch_follows_xla(data, architecture, activation, optimizer, learning_rate, max_norm,
                                        batch_size):
    network = Network(architecture=architecture, activation_fn=activation, optimizer=optimizer,
                      learning_rate=learning_rate, max_norm_weights=max_norm or False, batch_size=batch_size,
                      trainer="xla")
    ensemble = Ensemble(network, 12, 2, [0, 1, 2], seed=4)
    trainer = CompiledTrainer.from_signature(ensemble.program.sig, batch_size)
    before = _state(ensemble)[0]
    params, slots, ours, theirs, stats_gap = _train_both(
        ensemble, trainer, data.training.X, data.training.Y, data.test.X, data.test.Y, epochs=20, stats_every=7)
    _assert_close(ensemble, params, slice(None))
    for ours_slot, theirs_slot in zip(slots, ensemble.slots):
        np.testing.assert_allclose(ours_slot, theirs_slot.numpy(), rtol=1e-3, atol=1e-9)
    np.testing.assert_allclose(ours, theirs, atol=METRIC_ATOL)
    assert stats_gap < 1e-4
    assert all(not np.allclose(a, b) for a, b in zip(params[:2], before[:2]))  # it trained
    if max_norm:
        for kernel in params[: trainer.n_layers]:
            assert np.sqrt((kernel.astype(np.float64) ** 2).sum(axis=0)).max() <= max_norm * (1 + 1e-6)


def test_a_frozen_run_stays_exactly_unchanged(data):
    network = Network(architecture=[6, 4], learning_rate=0.01, batch_size=256, trainer="xla")
    ensemble = Ensemble(network, 12, 2, [0, 1, 2], seed=5)
    trainer = CompiledTrainer.from_signature(ensemble.program.sig, 256)
    x, y = data.training.X, data.training.Y
    params, slots = _state(ensemble)
    frozen_params, frozen_slots = [p.copy() for p in params], [s.copy() for s in slots]
    result = trainer.train_epoch(params, slots, 0, np.array([True, False, True]), x, y, ensemble.batch_orders(len(x)),
                                 data.test.X, data.test.Y)
    for ours, before in zip(params + slots, frozen_params + frozen_slots):
        assert np.array_equal(ours[..., 1], before[..., 1])
        assert not np.array_equal(ours[..., 0], before[..., 0])
    assert np.isnan(result.metrics[..., 1]).all() and np.isfinite(result.metrics[..., [0, 2]]).all()
    # and against XLA: frozen after 3 epochs, the others keep following it
    ensemble = Ensemble(network, 12, 2, [0, 1, 2], seed=5)
    params, _, _, _, _ = _train_both(ensemble, trainer, x, y, data.test.X, data.test.Y, epochs=6, freeze_after=3)
    _assert_close(ensemble, params, [0, 2])
    for ours, theirs in zip(params, ensemble.params):
        np.testing.assert_allclose(ours[..., 1], theirs.numpy()[..., 1], rtol=PARAM_RTOL, atol=PARAM_ATOL)


def _compiled_run(trainer, params, slots, x, y, perm, xm, ym, epochs, threads=1, runs=None):
    """``epochs`` compiled epochs of the runs ``runs`` (positions; all by default)
    taken out of a group's state as a group of their own; returns the state and metrics."""
    runs = list(range(perm.shape[1])) if runs is None else runs
    params = [np.ascontiguousarray(p[..., runs]) for p in params]
    slots = [np.ascontiguousarray(s[..., runs]) for s in slots]
    stats = [np.zeros(p.shape, np.float64) for p in params[: trainer.n_layers] for _ in range(2)]
    steps, metrics = 0, []
    for _ in range(epochs):
        result = trainer.train_epoch(params, slots, steps, np.ones(len(runs), bool), x, y,
                                     np.ascontiguousarray(perm[:, runs]), xm, ym, stats, threads=threads)
        steps = result.steps
        metrics.append(result.metrics)
    return params + slots + stats, np.stack(metrics)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_a_run_is_bit_for_bit_the_same_alone_in_any_group_and_with_any_thread_count(data, activation):
    network = Network(architecture=TISHBY, activation_fn=activation, batch_size=256, learning_rate=1e-3,
                      trainer="xla")
    ensemble = Ensemble(network, 12, 2, [0, 1, 2, 3], seed=6)
    trainer = CompiledTrainer.from_signature(ensemble.program.sig, 256)
    params, slots = _state(ensemble)
    perm = ensemble.batch_orders(len(data.training.X))  # the same orders every epoch: enough here
    args = (data.training.X, data.training.Y, perm, data.test.X, data.test.Y, 4)
    group, group_metrics = _compiled_run(trainer, params, slots, *args, threads=1)
    two_threads, two_metrics = _compiled_run(trainer, params, slots, *args, threads=2)
    for a, b in zip(group, two_threads):
        assert np.array_equal(a, b)
    assert np.array_equal(group_metrics, two_metrics)
    for runs in ([2], [3, 1], [0, 1, 2]):
        part, part_metrics = _compiled_run(trainer, params, slots, *args, threads=2, runs=runs)
        for a, b in zip(group, part):
            assert np.array_equal(a[..., runs], b)
        assert np.array_equal(group_metrics[..., runs], part_metrics)
    assert not np.array_equal(group[0][..., 0], group[0][..., 1])  # the runs differ


@pytest.mark.parametrize("n_runs, threads", [(5, 2), (3, 2), (7, 3), (2, 2)])
def test_runs_whose_epochs_two_threads_share_are_bit_for_bit_the_same(data, n_runs, threads):
    """Several epochs in one call share the runs' epochs out evenly among the
    threads (a run cut between two threads): every run, its metrics and its
    last epoch's gradient statistics are those of the runs trained one by one
    on one thread, a frozen run included."""
    network = Network(architecture=TISHBY, activation_fn="tanh", batch_size=256, learning_rate=1e-3,
                      trainer="xla")
    ensemble = Ensemble(network, 12, 2, list(range(n_runs)), seed=8)
    trainer = CompiledTrainer.from_signature(ensemble.program.sig, 256)
    x, y = data.training.X, data.training.Y
    perms = np.stack([ensemble.batch_orders(len(x)) for _ in range(5)])
    active = np.ones(n_runs, bool)
    active[1] = False

    def train(runs, threads):
        params, slots = _state(ensemble)
        params = [np.ascontiguousarray(p[..., runs]) for p in params]
        slots = [np.ascontiguousarray(s[..., runs]) for s in slots]
        stats = [np.zeros(p.shape, np.float64) for p in params[: trainer.n_layers] for _ in range(2)]
        result = trainer.train_epochs(params, slots, 0, active[runs], x, y, np.ascontiguousarray(perms[..., runs]),
                                      data.test.X, data.test.Y, stats, threads=threads)
        return params + slots + stats, result.metrics

    shared, shared_metrics = train(list(range(n_runs)), threads)
    for r in range(n_runs):
        alone, alone_metrics = train([r], 1)
        for a, b in zip(shared, alone):
            assert np.array_equal(a[..., r:r + 1], b)
        assert np.array_equal(shared_metrics[..., r:r + 1], alone_metrics, equal_nan=True)
    assert np.isnan(shared_metrics[..., 1]).all() and np.isfinite(shared_metrics[..., 0]).all()


def _numpy_step(params, x, y, activation, learning_rate):
    """One Adam step (from zero slots, step 1) of a one-run net in float64: the new parameters."""
    act = NUMPY_ACTIVATIONS[activation]
    n_layers = len(params) // 2
    kernels, biases = params[:n_layers], params[n_layers:]
    hs, zs = [x], []
    for k in range(n_layers):
        zs.append(hs[-1] @ kernels[k] + biases[k])
        if k < n_layers - 1:
            hs.append(act(zs[-1]))
    logits = zs[-1]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dz = (p - y) / len(x)
    grads_w, grads_b = [None] * n_layers, [None] * n_layers
    for k in reversed(range(n_layers)):
        grads_w[k], grads_b[k] = hs[k].T @ dz, dz.sum(axis=0)
        if k:
            dz = (dz @ kernels[k].T) * (1 - hs[k] ** 2 if activation == "tanh" else (zs[k - 1] > 0))
    alpha = learning_rate * np.sqrt(1 - 0.999) / (1 - 0.9)
    new = []
    for param, grad in zip(params, grads_w + grads_b):
        m, v = 0.1 * grad, 0.001 * grad**2
        new.append(param - m * alpha / (np.sqrt(v) + 1e-7))
    return new


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_one_step_matches_a_float64_numpy_reference(data, activation):
    network = Network(architecture=[5, 3], activation_fn=activation, learning_rate=0.01, batch_size=200,
                      trainer="xla")
    ensemble = Ensemble(network, 12, 2, [0], seed=7)
    trainer = CompiledTrainer.from_signature(ensemble.program.sig, 200)
    params, slots = _state(ensemble)
    x, y = data.training.X[:200], data.training.Y[:200]
    perm = np.arange(200, dtype=np.int32)[:, None]
    expected = _numpy_step([p[..., 0].astype(np.float64) for p in params], x.astype(np.float64),
                           y.astype(np.float64), activation, 0.01)
    trainer.train_epoch(params, slots, 0, np.ones(1, bool), x, y, perm)
    for k, (ours, want, before) in enumerate(zip(params, expected, _state(ensemble)[0])):
        # Adam's first step moves each value by about lr (m / sqrt(v) = +-1): compare the moves
        np.testing.assert_allclose(ours[..., 0] - before[..., 0], want - before[..., 0], atol=2e-6, err_msg=str(k))


def test_supports_dense_nets_only():
    dense = Ensemble(Network(architecture=TISHBY), 12, 2, [0], seed=0).program.sig
    assert supports(dense)
    assert not supports(dataclasses.replace(dense, batchnorm=True))
    assert not supports(dataclasses.replace(dense, noise_std=0.1))
    assert not supports(dataclasses.replace(dense, activation="elu"))
    assert not supports(dataclasses.replace(dense, optimizer="rmsprop"))
    assert not supports(dataclasses.replace(dense, architecture=("flatten", 10)))


def test_bad_inputs_are_refused(data):
    trainer = CompiledTrainer((12, 4, 2), "tanh", "adam", 1e-3, 0.0, 64)
    rng = np.random.default_rng(0)
    params = [rng.normal(size=s).astype(np.float32) for s in [(12, 4, 2), (4, 2, 2), (4, 2), (2, 2)]]
    slots = [np.zeros_like(p) for p in params for _ in range(2)]
    x, y = data.training.X[:100], data.training.Y[:100]
    perm = np.stack([rng.permutation(100)] * 2, axis=1).astype(np.int32)
    active = np.ones(2, bool)
    trainer.train_epoch(params, slots, 0, active, x, y, perm)  # fine
    with pytest.raises(ValueError, match="x must be float32"):
        trainer.train_epoch(params, slots, 0, active, x.astype(np.float64), y, perm)
    with pytest.raises(ValueError, match="perm"):
        trainer.train_epoch(params, slots, 0, active, x, y, perm + 1)
    with pytest.raises(ValueError, match="params\\[1\\]"):
        trainer.train_epoch([params[0], params[1][:, :, :1]] + params[2:], slots, 0, active, x, y, perm)
    with pytest.raises(ValueError, match="slots"):
        trainer.train_epoch(params, slots[:-1], 0, active, x, y, perm)
    with pytest.raises(ValueError, match="active"):
        trainer.train_epoch(params, slots, 0, np.ones(3, bool), x, y, perm)
    with pytest.raises(ValueError, match="activation"):
        CompiledTrainer((12, 4, 2), "elu", "adam", 1e-3, 0.0, 64)


# ------------------------------------------------------------------------------- in the ensemble
@pytest.mark.parametrize("settings, compiled", [
    ({}, True), ({"activation_fn": "relu", "optimizer": "sgd"}, True), ({"trainer": "xla"}, False),
    ({"model": "feedforward_batchnorm"}, False), ({"noise_std": 0.1}, False), ({"activation_fn": "elu"}, False),
    ({"architecture": [6, "dropout(rate=0.1)", 4]}, False),
])
def test_auto_trains_with_the_compiled_trainer_where_it_applies(settings, compiled):
    ensemble = Ensemble(Network(**{"architecture": TISHBY, **settings}), 12, 2, [0], seed=0)
    assert (ensemble.compiled is not None) == compiled


@pytest.mark.parametrize("settings, reason", [
    ({"model": "feedforward_batchnorm"}, "batch normalisation"), ({"noise_std": 0.1}, "noise"),
    ({"activation_fn": "selu"}, "'selu' is not compiled"), ({"architecture": [4, "dropout(rate=0.1)", 3]}, "dense"),
])
def test_asking_for_the_compiled_trainer_where_it_cannot_is_refused(settings, reason):
    with pytest.raises(ConfigError, match=f"'trainer' = compiled cannot train this network: .*{reason}"):
        Network(trainer="compiled", **settings)


def test_a_compiled_ensemble_follows_its_xla_twin_and_resumes_bitwise(data):
    """Both trainers from the same initial state for 10 epochs (their own batch
    orders, the same streams): parameters, metrics and recordings agree to
    float32 rounding; a compiled group saved and loaded continues bit for bit."""
    x, y = data.training.X, data.training.Y
    twins = {name: Ensemble(Network(architecture=TISHBY, trainer=name), 12, 2, [0, 1], seed=3)
             for name in ("xla", "compiled")}
    for ensemble in twins.values():
        ensemble.set_held_out(data.test.X, data.test.Y)
        for _ in range(10):
            ensemble.train_epoch(x, y)
    xla, compiled = twins["xla"], twins["compiled"]
    assert int(compiled.steps.numpy()) == int(xla.steps.numpy()) == 10 * 13
    for ours, theirs in zip(compiled.params + compiled.slots, xla.params + xla.slots):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=PARAM_ATOL, rtol=PARAM_RTOL)
    np.testing.assert_allclose(compiled.last_metrics, xla.last_metrics, atol=METRIC_ATOL)
    for ours, theirs in zip(compiled.record(data.full_dataset.X), xla.record(data.full_dataset.X)):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    state = compiled.state()
    compiled.train_epoch(x, y)
    resumed = Ensemble(Network(architecture=TISHBY, trainer="compiled"), 12, 2, [0, 1], seed=3)
    resumed.load_state(state)
    resumed.set_held_out(data.test.X, data.test.Y)
    resumed.train_epoch(x, y)
    for ours, theirs in zip(resumed.params + resumed.slots, compiled.params + compiled.slots):
        assert np.array_equal(ours.numpy(), theirs.numpy())
    assert np.array_equal(resumed.last_metrics, compiled.last_metrics)


@pytest.mark.parametrize("trainer", ["compiled", "xla"])
def test_several_epochs_in_one_call_are_those_epochs_one_by_one(data, trainer):
    """train_epochs(7) = 7 x train_epoch bit for bit: parameters, Adam slots,
    every epoch's metrics and the last epoch's gradient statistics."""
    x, y = data.training.X, data.training.Y
    twins = [Ensemble(Network(architecture=TISHBY, trainer=trainer), 12, 2, [0, 1, 2], seed=5) for _ in range(2)]
    for ensemble in twins:
        ensemble.set_held_out(data.test.X, data.test.Y)
    together, apart = twins
    gradients = together.train_epochs(x, y, 7, with_stats=True)
    metrics = []
    for epoch in range(7):
        last = apart.train_epoch(x, y, with_stats=epoch == 6)
        metrics.append(apart.last_metrics)
    assert together.epochs_metrics.shape == (7, 2, 2, 3)
    assert np.array_equal(together.epochs_metrics, np.stack(metrics))
    assert np.array_equal(together.last_metrics, apart.last_metrics)
    assert np.array_equal(gradients.mean, last.mean) and np.array_equal(gradients.std, last.std)
    for ours, theirs in zip(together.params + together.slots + together.stats,
                            apart.params + apart.slots + apart.stats):
        assert np.array_equal(ours.numpy(), theirs.numpy())
    assert int(together.steps.numpy()) == int(apart.steps.numpy()) == 7 * 13
    with pytest.raises(ValueError, match="count must be at least 1"):
        together.train_epochs(x, y, 0)


def test_the_kernel_refuses_an_order_of_the_wrong_shape(data):
    ensemble = Ensemble(Network(architecture=TISHBY, trainer="compiled"), 12, 2, [0], seed=1)
    trainer = CompiledTrainer.from_signature(ensemble.program.sig, 256)
    params, slots = _state(ensemble)
    x, y = data.training.X, data.training.Y
    perm = ensemble.batch_orders(len(x))
    with pytest.raises(ValueError, match=r"perm must be \(epochs >= 1, n, R\) int32"):
        trainer.train_epochs(params, slots, 0, np.ones(1, bool), x, y, perm)
    with pytest.raises(ValueError, match=r"perm must be \(epochs >= 1, n, R\) int32"):
        trainer.train_epochs(params, slots, 0, np.ones(1, bool), x, y, perm[None][:0])
    with pytest.raises(ValueError, match=r"perm must be \(n, R\) int32"):
        trainer.train_epoch(params, slots, 0, np.ones(1, bool), x, y, perm[None])


@pytest.mark.parametrize("trainer", ["compiled", "xla"])
def test_a_group_trained_in_spans_is_the_group_trained_epoch_by_epoch(tmp_path, trainer):
    """The pipeline trains the epochs between recorded ones in one call
    (GroupTraining.next_span): its summary and recorded activations are bit for
    bit those of one call per epoch (run_epochs(1) each time), checkpoints included."""
    config = Config.from_dict({"name": "spans", "architecture": [6, 4], "epochs": 45, "n_runs": 2,
                               "record_schedule": [0, 1, 7, 20, 33, 45], "checkpoint_every": 16,
                               "estimator": ["binning"], "trainer": trainer})
    plan = make_plan(config)
    data = experiment_data(config)
    summaries, spans = [], []
    for name in ("spans", "one_by_one"):
        store = PartStore(tmp_path / f"{name}.parts")
        training = GroupTraining(config, plan, plan.groups[0], data, store)
        while not training.finished:
            span = training.next_span() if name == "spans" else 1
            assert training.run_epochs(span) == span
            if name == "spans":
                spans.append(span)
        summaries.append((training.finish(), store.open_activations(0, 3)))
    # spans end at recorded epochs (1, 7, 20, 33, 45), checkpoints (16, 32) and the last epoch
    assert spans == [1, 6, 9, 4, 12, 1, 12]
    (together, acts_together), (apart, acts_apart) = summaries
    for field in dataclasses.fields(together):
        ours, theirs = getattr(together, field.name), getattr(apart, field.name)
        if isinstance(ours, np.ndarray):
            assert np.array_equal(ours, theirs, equal_nan=True), field.name
    assert np.isfinite(together.epoch_loss).all()
    for ours, theirs in zip(acts_together, acts_apart):
        assert np.array_equal(np.asarray(ours), np.asarray(theirs))


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_the_compiled_recording_is_the_xla_programs(data, activation):
    """A compiled ensemble records with the kernel's forward pass: every layer
    (the read-out's softmax too) as the XLA program computes it from the same
    parameters: equal to float32 rounding (measured: bit for bit)."""
    ensemble = Ensemble(Network(architecture=TISHBY, activation_fn=activation, trainer="compiled"), 12, 2,
                        [0, 1, 2], seed=4)
    ensemble.set_held_out(data.test.X, data.test.Y)
    ensemble.train_epochs(ensemble.as_inputs(data.training.X), ensemble.as_inputs(data.training.Y), 5)
    x = data.full_dataset.X[:1000]
    ours = ensemble.record(x)
    theirs = ensemble.program.forward(ensemble.params, ensemble.moving, ensemble._tf.constant(x), ensemble._n_runs)
    assert [a.shape for a in ours] == [(3, 1000, w) for w in TISHBY + [2]]
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, np.asarray(b), atol=2e-7, rtol=1e-6)
    assert np.array_equal(ensemble.predict(x), ours[-1])
    np.testing.assert_allclose(ours[-1].sum(axis=2), 1.0, atol=1e-6)


def test_a_compiled_job_never_imports_tensorflow(tmp_path):
    """A dense job trained by the compiled trainer runs, records, checkpoints,
    estimates and writes its file without importing TensorFlow."""
    out = tmp_path / "no_tf.nc"
    code = ("import sys\n"
            "from ibsim import Config, Experiment\n"
            "settings = {'name': 'no_tf', 'architecture': [6, 4], 'epochs': 12, 'n_runs': 2, 'checkpoint_every': 5,"
            " 'estimator': ['binning', 'kde_upper']}\n"
            f"Experiment.from_config(Config.from_dict(settings)).run({str(out)!r}).close()\n"
            "print('tensorflow' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == "False"
    with Results.open(out) as results:
        assert np.isfinite(results.dataset["I_XT"].values).all()


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="flushing denormals is x86 only")
def test_denormals_are_flushed_in_the_kernel_and_the_callers_mode_is_restored(data):
    """As TensorFlow's threads: denormal parameters read as zero (a ReLU net's late epochs ran 2.8x slower on
    denormal arithmetic), and the caller's floating-point mode is left as it was."""
    ensemble = Ensemble(Network(architecture=[5, 3], trainer="xla"), 12, 2, [0, 1], seed=3)
    trainer = CompiledTrainer.from_signature(ensemble.program.sig, 256)
    params, _ = _state(ensemble)
    tiny = np.float32(1e-39)
    assert tiny != 0 and tiny < np.finfo(np.float32).tiny  # a denormal float32
    denormal = [np.full_like(p, tiny) for p in params]
    zero = [np.zeros_like(p) for p in params]
    x = np.ascontiguousarray(data.training.X[:64], np.float32)
    for threads in (1, 2):
        for a, b in zip(trainer.record(denormal, x, threads), trainer.record(zero, x, threads)):
            assert np.array_equal(a, b)
        assert np.float32(1e-39) * np.float32(1.0) != 0  # this thread still computes with denormals
