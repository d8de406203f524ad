"""The general Keras path against the ensemble: the same dense net, both ways.

Tishby's 12-10-7-5-4-3-2 (tanh, Adam, batch 256) on the harmonics data, a few
runs over a few hundred epochs with the seed schedule and binning, once as the
ensemble (``architecture = [10, 7, 5, 4, 3]``) and once as a Keras model
(``keras(factory="keras_models:tishby")``, docs/examples/keras_models.py):
whole experiments, compilation included, as a user would run them.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


def _seconds(model: str, n_runs: int, epochs: int) -> float:
    from ibsim import Config, Experiment

    config = Config.from_dict({"model": model, "epochs": epochs, "n_runs": n_runs, "record_schedule": "seed",
                               "estimator": "binning", "plots": [], "checkpoint_every": 0})
    start = time.perf_counter()
    Experiment(config=config).run(backend="serial", quiet=True)
    return time.perf_counter() - start


def rows(n_runs: int = 5, epochs: int = 200) -> list[tuple]:
    """Rows of (path, seconds, ms per run-epoch, cost relative to the ensemble)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    ensemble = _seconds("feedforward", n_runs, epochs)
    keras = _seconds('keras(factory="keras_models:tishby")', n_runs, epochs)
    per = n_runs * epochs
    return [("ensemble", f"{ensemble:.1f}", f"{1000 * ensemble / per:.2f}", "1x"),
            ("keras(factory=...)", f"{keras:.1f}", f"{1000 * keras / per:.2f}", f"{keras / ensemble:.1f}x")]
