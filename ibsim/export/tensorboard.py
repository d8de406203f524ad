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

from ibsim.errors import ConfigError, ResultsFileError
from ibsim.results import Results


def export_projector(
    results: Results,
    log_dir: str | Path,
    run: int = 0,
    every: int = 1,
    layers: Sequence[int] | None = None,
) -> Path:
    """Write the projector files of one run into ``log_dir``; returns the config path.

    Args:
        results: Results whose activation cubes were kept.
        log_dir: The TensorBoard log folder (created).
        run: Position of the run in the file's run dimension.
        every: Export every ``every``-th recorded epoch.
        layers: 1-based layers to export (default: all).
    """
    ds = results.dataset
    n_layers = ds.sizes["layer"]
    layers = list(layers) if layers else list(range(1, n_layers + 1))
    missing = [k for k in layers if f"activations_{k}" not in ds]
    if missing:
        raise ResultsFileError(
            f"no activation cubes for layers {missing}: run the experiment with save_activations = true"
        )
    if not 0 <= run < ds.sizes["run"]:
        raise ConfigError(f"run position {run} is outside 0..{ds.sizes['run'] - 1}")
    if every < 1:
        raise ConfigError(f"every must be >= 1, got {every}")
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
        cube = ds[f"activations_{layer}"].isel(run=run)
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
