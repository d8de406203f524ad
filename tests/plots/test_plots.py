"""The registered plots, drawn from a synthetic results dataset (no training),
and three of them from a tiny real experiment."""
from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pytest
from PIL import Image

from ibsim.errors import ConfigError, ResultsFileError
from ibsim.plots import PLOTS, make_plot
from ibsim.plots.movie import ffmpeg_executable
from ibsim.results import Results
from tests.conftest import CONFIGS
from tests.plots.conftest import EPOCHS, WIDTHS, synthetic_dataset

LAYERS = len(WIDTHS)
#: Axes of each plot for the synthetic dataset (3 layers), colour bars included.
EXPECTED_AXES = {
    "infoplane": 2,  # plane + epoch colour bar
    "movie": 2,  # plane + epoch colour bar
    "activations": 2 * LAYERS,  # a histogram image and its colour bar per layer
    "single_neuron": LAYERS,
    "snr": 4 * LAYERS,  # grad_mean, grad_std, grad_snr, weight_norm x layers
    "accuracy": 2,  # accuracy, loss
}
ALIASES = {
    "informationplane_movie": "movie",
    "plotter.informationplane_movie": "movie",
    "plotter.activations": "activations",
    "activations_single_neuron": "single_neuron",
    "plotter.activations_single_neuron": "single_neuron",
    "plotter.snr": "snr",
}
HAS_FFMPEG = ffmpeg_executable() is not None


def texts(fig) -> list[str]:
    return [fig.get_suptitle()] + [ax.get_title() for ax in fig.axes]


def median_lines(ax):
    """The median lines of a single-neuron panel (drawn with markers)."""
    return [line for line in ax.lines if line.get_marker() == "o"]


# ------------------------------------------------------------- every plot
def test_every_registered_plot_is_tested():
    assert set(PLOTS.names()) == set(EXPECTED_AXES)


@pytest.mark.parametrize("name", sorted(EXPECTED_AXES))
def test_plot_draws_a_labelled_file(name, synthetic, tmp_path):
    plot = make_plot(name)
    suffix = ".gif" if name == "movie" and not HAS_FFMPEG else plot.suffix
    path = tmp_path / "sub" / f"{name}{suffix}"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NaN after the early stop must not warn
        fig = plot.draw(synthetic, path)
    assert path.is_file()
    assert path.stat().st_size > (1_000 if name == "movie" else 5_000)
    assert len(fig.axes) == EXPECTED_AXES[name]
    assert any("synthetic" in text for text in texts(fig)), texts(fig)
    if name == "snr":
        grid = np.array(fig.axes).reshape(4, LAYERS)
        assert all(ax.get_ylabel() for ax in grid[:, 0])
        assert all(ax.get_xlabel() == "epoch" for ax in grid[-1])
        assert all(ax.get_title() for ax in grid[0])
    else:
        for ax in fig.axes:
            assert ax.get_xlabel() or ax.get_ylabel(), f"{name}: an axes has no label"


@pytest.mark.parametrize("alias, name", sorted(ALIASES.items()))
def test_aliases(alias, name):
    assert type(make_plot(alias)) is PLOTS.get(name)
    assert make_plot(alias).name == name


def test_unknown_plot_lists_the_valid_names():
    with pytest.raises(ConfigError) as error:
        make_plot("nonsense")
    for name in PLOTS.names():
        assert name in str(error.value)


@pytest.mark.parametrize(
    "kind, options, word",
    [
        ("single_neuron", {"neurons": 0}, "neurons"),
        ("single_neuron", {"run": -1}, "run"),
        ("single_neuron", {"run": "all"}, "run"),
        ("activations", {"run": "some"}, "run"),
        ("activations", {"run": 1.5}, "run"),
        ("movie", {"fps": 0}, "fps"),
        ("accuracy", {"per_run": "yes"}, "per_run"),
        ("snr", {"estimator": "binning"}, "estimator"),
    ],
)
def test_parameters_are_validated(kind, options, word):
    with pytest.raises(ConfigError, match=word):
        make_plot(kind, **options)


def test_spec_strings_set_parameters():
    assert make_plot("single_neuron(neurons=5, run=1)").get_params() == {"neurons": 5, "run": 1}
    assert make_plot("activations(run='all')").run == "all"


@pytest.mark.parametrize("kind", ["activations", "single_neuron"])
def test_run_beyond_the_file_is_refused(kind, synthetic):
    with pytest.raises(ConfigError, match="2 run"):
        make_plot(kind, run=2).figure(synthetic)


# ------------------------------------------------------- missing variables
@pytest.mark.parametrize("kind", ["activations", "single_neuron"])
def test_missing_activations_name_the_variable_and_the_fix(kind):
    results = Results(synthetic_dataset(activations=False))
    with pytest.raises(ResultsFileError, match="activations_1.*save_activations = true"):
        make_plot(kind).figure(results)


def test_missing_gradient_statistics_name_the_variables():
    with pytest.raises(ResultsFileError, match="grad_mean, grad_std, grad_snr, weight_norm.*record_gradients"):
        make_plot("snr").figure(Results(synthetic_dataset(gradients=False)))
    ds = synthetic_dataset().drop_vars("weight_norm")
    with pytest.raises(ResultsFileError, match="weight_norm") as error:
        make_plot("snr").figure(Results(ds))
    assert "grad_mean" not in str(error.value)


# ------------------------------------------------------------------- movie
@pytest.mark.skipif(not HAS_FFMPEG, reason="imageio-ffmpeg's ffmpeg binary is not available")
def test_movie_writes_an_mp4_with_a_frame_per_epoch(synthetic, tmp_path):
    import imageio_ffmpeg

    path = tmp_path / "movie.mp4"
    before = matplotlib.rcParams["animation.ffmpeg_path"]
    make_plot("movie", fps=4).draw(synthetic, path)
    assert matplotlib.rcParams["animation.ffmpeg_path"] == before  # no global state left behind
    data = path.read_bytes()
    assert len(data) > 1_000 and data[4:8] == b"ftyp"
    frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(path))
    assert frames == len(EPOCHS)
    assert seconds == pytest.approx(len(EPOCHS) / 4, abs=0.3)


def test_movie_writes_a_gif_when_asked(synthetic, tmp_path):
    path = tmp_path / "movie.gif"
    make_plot("informationplane_movie").draw(synthetic, path)
    assert path.read_bytes()[:4] == b"GIF8"
    with Image.open(path) as image:
        assert image.n_frames == len(EPOCHS)


def test_movie_falls_back_to_a_gif_without_ffmpeg(synthetic, tmp_path, monkeypatch):
    monkeypatch.setattr("ibsim.plots.movie.ffmpeg_executable", lambda: None)
    with pytest.warns(UserWarning, match="GIF"):
        make_plot("movie").draw(synthetic, tmp_path / "movie.mp4")
    assert not (tmp_path / "movie.mp4").exists()
    assert (tmp_path / "movie.gif").read_bytes()[:4] == b"GIF8"


def test_movie_figure_is_the_last_frame(synthetic):
    fig = make_plot("movie", estimator="kde_upper").figure(synthetic)
    ax = fig.axes[0]
    assert "epoch 100" in [text.get_text() for text in ax.texts]
    assert "kde_upper(variance=0.001)" in ax.get_title()
    assert fig.axes[1].get_ylabel() == "epoch"
    # every layer's trajectory, up to the last epoch each run reached
    assert [len(line.get_xdata()) for line in ax.lines] == [len(EPOCHS)] * LAYERS


# ------------------------------------------------------------- activations
def column_sums(fig, panel: int) -> np.ndarray:
    counts = fig.axes[panel].collections[0].get_array()  # (bins, epochs), zeros masked
    assert counts.shape == (30, len(EPOCHS))
    return np.ma.filled(counts, 0).sum(axis=0)


def test_activation_histograms_count_every_activation(synthetic):
    n_samples = synthetic.dataset.sizes["sample"]
    stopped = np.asarray(EPOCHS) > 20  # run 1 stops at epoch 20
    fig = make_plot("activations").figure(synthetic)
    for panel, width in enumerate(WIDTHS):
        assert (column_sums(fig, panel) == n_samples * width).all()
    fig = make_plot("activations", run="all").figure(synthetic)
    for panel, width in enumerate(WIDTHS):
        assert (column_sums(fig, panel) == np.where(stopped, 1, 2) * n_samples * width).all()
    assert "all 2 runs" in fig.get_suptitle()
    fig = make_plot("activations", run=1).figure(synthetic)
    assert (column_sums(fig, 0)[stopped] == 0).all()
    assert "early stopped at epoch 20" in fig.get_suptitle()


def test_activation_epochs_are_labelled(synthetic):
    fig = make_plot("activations").figure(synthetic)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(e) for e in EPOCHS]
    assert ax.get_ylabel() == "activations of layer 1 (hidden layer)"
    assert fig.axes[LAYERS].get_ylabel() == "number of activations"  # the panels, then their colour bars
    assert "read-out" in fig.axes[LAYERS - 1].get_title()


# ----------------------------------------------------------- single neuron
def test_single_neuron_medians(synthetic):
    cube = synthetic.dataset["activations_1"].isel(run=0).values
    fig = make_plot("single_neuron", neurons=2).figure(synthetic)
    lines = median_lines(fig.axes[0])
    assert len(lines) == 2
    np.testing.assert_allclose(lines[1].get_ydata(), np.median(cube[:, :, 1], axis=1), rtol=1e-6)
    assert "first 2 shown" in fig.axes[0].get_title()


def test_single_neuron_caps_at_the_layer_width_and_skips_nan(synthetic):
    fig = make_plot("single_neuron", neurons=10, run=1).figure(synthetic)
    assert [len(median_lines(ax)) for ax in fig.axes] == WIDTHS
    reached = int((np.asarray(EPOCHS) <= 20).sum())
    assert all(len(line.get_ydata()) == reached for ax in fig.axes for line in median_lines(ax))
    assert "early stopped" in fig.get_suptitle()


# --------------------------------------------------------------------- snr
def test_snr_is_log_log_without_epoch_zero(synthetic):
    fig = make_plot("snr").figure(synthetic)
    for ax in fig.axes:
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
        (line,) = ax.lines
        assert min(line.get_xdata()) > 0
        assert np.isfinite(line.get_ydata()).all()
    # the mean over runs: both runs up to epoch 20, run 0 alone after it
    ds = synthetic.dataset
    expected = np.nanmean(ds["grad_snr"].sel(layer=2).values[:, 1:], axis=0)
    np.testing.assert_allclose(fig.axes[2 * LAYERS + 1].lines[0].get_ydata(), expected)


def test_snr_copes_with_a_layer_without_data():
    ds = synthetic_dataset()
    ds["grad_std"].loc[{"layer": 1}] = np.nan
    fig = make_plot("snr", per_run=True).figure(Results(ds))
    assert "no data" in [t.get_text() for t in fig.axes[LAYERS].texts]


def test_diverged_runs_are_left_out_of_the_means_and_said():
    ds = synthetic_dataset(stop={})
    ds["run_status"].values[1] = 2
    results = Results(ds)
    with pytest.warns(UserWarning, match=r"runs \[1\] diverged"):
        fig = make_plot("accuracy", per_run=False).figure(results)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), ds["accuracy"].sel(run=0, split="training"))
    with pytest.warns(UserWarning, match="diverged"):
        make_plot("snr").figure(results)


# ---------------------------------------------------------------- accuracy
def test_accuracy_lines_and_legend(synthetic):
    ds = synthetic.dataset
    fig = make_plot("accuracy").figure(synthetic)
    acc, loss = fig.axes
    assert len(acc.lines) == len(loss.lines) == 2 * (2 + 1)  # splits x (runs + mean)
    labels = [t.get_text() for t in acc.get_legend().get_texts()]
    assert labels == ["training (mean of 2 runs)", "test (mean of 2 runs)"]
    assert acc.get_ylabel() == "classification accuracy"
    assert loss.get_ylabel() == "categorical cross-entropy [nats]"
    assert acc.get_xscale() == "symlog"  # epochs 0..100 span decades
    mean = [line for line in acc.lines if line.get_label().startswith("test")][0]
    np.testing.assert_allclose(mean.get_ydata(), np.nanmean(ds["accuracy"].sel(split="test").values, axis=0))
    fig = make_plot("accuracy", per_run=False).figure(synthetic)
    assert len(fig.axes[0].lines) == 2


# -------------------------------------------------------------- end to end
@pytest.mark.slow
def test_plots_of_a_tiny_real_experiment(tmp_path, monkeypatch):
    from ibsim import Experiment

    monkeypatch.chdir(CONFIGS.parent)
    results = Experiment.from_toml("configs/smoke.toml", ["epochs=5", "n_runs=2", "architecture=[4,3]"]).run()
    layers = results.dataset.sizes["layer"]
    for kind, axes in (("activations", 2 * layers), ("single_neuron", layers), ("accuracy", 2)):
        path = tmp_path / f"{kind}.png"
        fig = results.plot(kind, path)
        assert path.stat().st_size > 5_000
        assert len(fig.axes) == axes
        assert "smoke" in fig.get_suptitle()
