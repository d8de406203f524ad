"""Layer activations for TensorBoard's embedding projector (the seed's ``activityprojector``).

For one run, each chosen layer and recorded epoch becomes an embedding: a TSV
file of the activations (one row per sample), all sharing a metadata TSV of the
samples' labels, listed in ``projector_config.pbtxt``. ``tensorboard --logdir
DIR`` then shows them under "Projector" (PCA, t-SNE, UMAP), coloured by label.
Plain text files: no TensorFlow checkpoint is needed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ibsim.errors import ConfigError
from ibsim.results import Results
from ibsim.resultsfile.schema import activation_name


def projector_options(
    results: Results,
    run: int | str = 0,
    every: int | str = 1,
    layers: Sequence[int] | str | None = None,
    option_prefix: str = "",
) -> tuple[int, int, list[int]]:
    """Check the options of :func:`export_projector` against the file.

    Args:
        results: The results to export.
        run: Position of the run, or its text (from the command line).
        every: Export every ``every``-th recorded epoch, or its text.
        layers: 1-based layers, or their text ``"1,3"`` (None or empty: all).
        option_prefix: Put before the option names in messages (``"--"`` for
            the command line's ``--run``, ``--every``, ``--layers``).

    Returns:
        ``(run, every, layers)`` as integers.

    Raises:
        ConfigError: One line naming the option, its value and the valid range.
        ResultsFileError: The file kept no activation cubes.
    """
    ds = results.dataset
    where = results.source
    n_runs, n_layers = ds.sizes["run"], ds.sizes["layer"]
    run_position = _integer(run)
    if run_position is None or not 0 <= run_position < n_runs:
        raise ConfigError(
            f"{option_prefix}run must be a run position 0..{n_runs - 1} ({where} has {n_runs} run(s)), got {run!r}"
        )
    step = _integer(every)
    if step is None or step < 1:
        raise ConfigError(f"{option_prefix}every must be an integer >= 1, got {every!r}")
    text = layers if isinstance(layers, str) else ",".join(str(k) for k in layers or [])
    if not text.strip():
        chosen = list(range(1, n_layers + 1))
    else:
        items = text.split(",")
        chosen = [k for k in (_integer(item) for item in items) if k is not None and 1 <= k <= n_layers]
        if len(chosen) != len(items):
            raise ConfigError(
                f"{option_prefix}layers must be comma-separated layers 1..{n_layers} ({where} has {n_layers} "
                f"layer(s)), got {text!r}"
            )
    results.require(
        *(activation_name(k) for k in chosen), needed_by="the TensorBoard export",
        hint="run the experiment with save_activations = true",
    )
    return run_position, step, chosen


def _integer(value: object) -> int | None:
    """``value`` as an int (from an int or its text), or None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def export_projector(
    results: Results,
    log_dir: str | Path,
    run: int | str = 0,
    every: int | str = 1,
    layers: Sequence[int] | str | None = None,
    option_prefix: str = "",
) -> Path:
    """Write the projector files of one run into ``log_dir``; returns the config path.

    Args:
        results: Results whose activation cubes were kept.
        log_dir: The TensorBoard log folder (created once the options are valid).
        run: Position of the run in the file's run dimension.
        every: Export every ``every``-th recorded epoch.
        layers: 1-based layers to export (default: all); text ``"1,3"`` works too.
        option_prefix: Put before option names in error messages (see
            :func:`projector_options`).

    Raises:
        ConfigError: An option is out of range (see :func:`projector_options`).
        ResultsFileError: The file kept no activation cubes.
    """
    run, every, layers = projector_options(results, run, every, layers, option_prefix)
    ds = results.dataset
    folder = Path(log_dir)
    folder.mkdir(parents=True, exist_ok=True)
    labels = ds["y"].values
    names = ds.attrs.get("class_names", "").split(",")
    with open(folder / "metadata.tsv", "w") as handle:
        handle.write("label\tclass\tsample\n")
        for label, sample in zip(labels, ds["sample"].values):
            name = names[label] if label < len(names) and names[label] else str(label)
            handle.write(f"{label}\t{name}\t{sample}\n")
    entries = []
    epochs = ds["epoch"].values
    for layer in layers:
        cube = ds[activation_name(layer)].isel(run=run)
        for e in range(0, len(epochs), every):
            values = np.asarray(cube.isel(epoch=e).values)
            if not np.all(np.isfinite(values)):
                continue  # the run had stopped
            name = f"layer{layer}_epoch{int(epochs[e]):06d}"
            np.savetxt(folder / f"{name}.tsv", values, delimiter="\t", fmt="%.6g")
            entries.append(
                "embeddings {\n"
                f'  tensor_name: "{name}"\n'
                f'  tensor_path: "{name}.tsv"\n'
                '  metadata_path: "metadata.tsv"\n'
                f"  tensor_shape: {values.shape[0]}\n"
                f"  tensor_shape: {values.shape[1]}\n"
                "}\n"
            )
    config = folder / "projector_config.pbtxt"
    config.write_text("".join(entries))
    return config
