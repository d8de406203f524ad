"""Importing and configuring TensorFlow once per process.

TensorFlow's thread pools are fixed when its runtime starts, so the thread
count must be set before the first operation. Workers of the parallel backends
call :func:`tensorflow_module` with their share of the cores.
"""
from __future__ import annotations

import logging
import os
import warnings
from types import ModuleType

_configured_threads: int | None = None


def tensorflow_module(threads: int) -> ModuleType:
    """Import TensorFlow, quiet its start-up logging and set its thread pools.

    Args:
        threads: Intra-op threads (XLA's loops); inter-op gets 2 so that
            independent ops of a step can overlap.

    Returns:
        The ``tensorflow`` module.
    """
    global _configured_threads
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # oneDNN's custom CPU ops may reorder float sums between machines and thread
    # counts; ibsim's numbers should not move with either (and its start-up
    # notice is noise on every run).
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import tensorflow as tf
    if _configured_threads is None:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(max(1, threads))
            tf.config.threading.set_inter_op_parallelism_threads(2)
            tf.config.set_visible_devices([], "GPU")
        except RuntimeError:
            # The runtime was started by someone else (a test, a notebook): keep its pools.
            pass
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        _configured_threads = threads
    return tf
