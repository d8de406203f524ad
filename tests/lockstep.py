"""Training an ibsim ensemble and a Keras model on the same batches."""
from __future__ import annotations

import numpy as np


def train_in_lockstep(ensemble, model, x: np.ndarray, y: np.ndarray, batch_size: int, epochs: int) -> None:
    """Train the one-run ``ensemble`` and ``model`` for ``epochs`` epochs, Keras
    replaying the ensemble's batch order (drawn from the run's own stream)."""
    tf = ensemble._tf
    for _ in range(epochs):
        state = ensemble._order_rngs[0].bit_generator.state
        ensemble.train_epoch(tf.constant(x), tf.constant(y))
        replay = np.random.default_rng()
        replay.bit_generator.state = state
        order = replay.permutation(len(x))
        for start in range(0, len(x), batch_size):
            model.train_on_batch(x[order[start : start + batch_size]], y[order[start : start + batch_size]])
