"""Bands over runs on the information plane, grids with short rows, layer
labels that do not collide, and the accuracy in the movie (synthetic results)."""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PatchCollection
from scipy import stats

from ibsim.cli import main
from ibsim.errors import ConfigError
from ibsim.plots import make_plot
from ibsim.plots.compare import infoplane_grid
from ibsim.plots.infoplane import band_limits, layer_names, place_labels
from ibsim.results import Results
from tests.plots.conftest import EPOCHS, synthetic_dataset

WIDTHS5 = [4, 4, 4, 3, 2]  # five layers, as many as a small Tishby-like network


def bands(ax) -> list[PatchCollection]:
    return [c for c in ax.collections if isinstance(c, PatchCollection)]


def ellipse_boxes(ax) -> np.ndarray:
    """(n, 4) x0, x1, y0, y1 of every ellipse of the band (layer by layer, epochs in order)."""
    (collection,) = bands(ax)
    boxes = [path.get_extents() for path in collection.get_paths()]
    return np.array([[b.x0, b.x1, b.y0, b.y1] for b in boxes])


def finite_runs(ds, name: str, estimator: int = 0) -> np.ndarray:
    """(run, epoch, layer) values of the runs that did not diverge."""
    values = ds[name].isel(estimator=estimator).transpose("run", "epoch", "layer").values
    return values[ds["run_status"].values != 2]


def spread_out(ds, scale: float = 1.0, seed: int = 5):
    """Runs that differ visibly (the synthetic noise is small)."""
    rng = np.random.default_rng(seed)
    ds["I_XT"].values += scale * 0.5 * rng.standard_normal(ds["I_XT"].shape)
    ds["I_TY"].values += scale * 0.05 * rng.standard_normal(ds["I_TY"].shape)
    return ds


def end_together(ds, layers=(1, 2, 3), at=(12.0, 1.0)):
    """Layers ``layers`` end at the same point in every run (as in configs/tishby_tanh.toml)."""
    last = int(ds["epoch"].values[-1])
    for name, value in zip(("I_XT", "I_TY"), at):
        ds[name].loc[{"layer": list(layers), "epoch": last}] = value
    return ds


# ------------------------------------------------------------------- bands
def test_std_band_is_the_mean_plus_minus_one_std_over_runs():
    ds = spread_out(synthetic_dataset(n_runs=5, stop={4: 20}))  # run 4 stops early: NaN after epoch 20
    fig = make_plot("infoplane", band="std").figure(Results(ds))
    ax = fig.axes[0]
    assert "mean ± 1 std" in ax.get_title()
    x, y = finite_runs(ds, "I_XT"), finite_runs(ds, "I_TY")
    expected = []
    for layer in range(len(ds["layer"])):
        for epoch in range(len(EPOCHS)):
            xs, ys = x[:, epoch, layer], y[:, epoch, layer]
            xs, ys = xs[np.isfinite(xs)], ys[np.isfinite(ys)]
            assert xs.size in (4, 5)
            expected.append([xs.mean() - xs.std(ddof=1), xs.mean() + xs.std(ddof=1),
                             ys.mean() - ys.std(ddof=1), ys.mean() + ys.std(ddof=1)])
    np.testing.assert_allclose(ellipse_boxes(ax), np.array(expected), rtol=1e-9, atol=1e-9)


def test_bootstrap_band_contains_the_mean_and_matches_scipy():
    ds = spread_out(synthetic_dataset(n_runs=6, stop={}))
    fig = make_plot("infoplane").figure(Results(ds))  # auto: 6 finite runs -> bootstrap
    ax = fig.axes[0]
    assert "95% bootstrap interval of the mean" in ax.get_title()
    boxes = ellipse_boxes(ax).reshape(len(ds["layer"]), len(EPOCHS), 4)  # (layer, epoch, limits)
    x, y = finite_runs(ds, "I_XT"), finite_runs(ds, "I_TY")
    mean_x, mean_y = x.mean(axis=0).T, y.mean(axis=0).T  # (layer, epoch)
    assert (boxes[..., 0] < mean_x).all() and (mean_x < boxes[..., 1]).all()
    assert (boxes[..., 2] < mean_y).all() and (mean_y < boxes[..., 3]).all()
    assert (boxes[..., 0] >= x.min(axis=0).T).all() and (boxes[..., 1] <= x.max(axis=0).T).all()
    # the mean points are drawn at the run means, inside their ellipses
    dots = [c for c in ax.collections if not isinstance(c, PatchCollection)]
    np.testing.assert_allclose(dots[0].get_offsets(), np.column_stack([mean_x[0], mean_y[0]]))
    # an independent percentile bootstrap (scipy, other resamples) agrees to Monte Carlo error
    for layer, epoch in [(0, 0), (1, 4), (2, len(EPOCHS) - 1)]:
        for values, (lo, hi) in ((x[:, epoch, layer], boxes[layer, epoch, :2]),
                                 (y[:, epoch, layer], boxes[layer, epoch, 2:])):
            ci = stats.bootstrap((values,), np.mean, confidence_level=0.95, n_resamples=20_000,
                                 method="percentile", random_state=np.random.default_rng(1)).confidence_interval
            width = ci.high - ci.low
            assert lo == pytest.approx(ci.low, abs=0.08 * width)
            assert hi == pytest.approx(ci.high, abs=0.08 * width)


def test_bootstrap_band_is_deterministic_and_narrows_with_more_runs():
    def widths(n_runs: int) -> np.ndarray:
        ds = spread_out(synthetic_dataset(n_runs=n_runs, stop={}))
        boxes = ellipse_boxes(make_plot("infoplane", band="bootstrap").figure(Results(ds)).axes[0])
        return np.column_stack([boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2]])

    few = widths(4)
    np.testing.assert_array_equal(few, widths(4))  # a fixed seed: the same figure every time
    many = widths(40)
    assert np.median(many / few[: len(many)]) < 0.5  # about sqrt(4 / 40) = 0.32
    assert (many > 0).all()


def test_band_limits_leave_out_nan_and_need_enough_runs():
    values = np.array([[1.0, 1.0, 5.0], [2.0, 3.0, np.nan], [3.0, np.nan, np.nan], [6.0, np.nan, np.nan]])
    low, high = band_limits(values, "std")
    np.testing.assert_allclose(low[:2], [3 - np.std([1, 2, 3, 6], ddof=1), 2 - np.std([1, 3], ddof=1)])
    np.testing.assert_allclose(high[:2], [3 + np.std([1, 2, 3, 6], ddof=1), 2 + np.std([1, 3], ddof=1)])
    assert np.isnan(low[2]) and np.isnan(high[2])  # one finite run: no band
    low, high = band_limits(values, "bootstrap")
    assert 1 <= low[0] < 3 < high[0] <= 6
    assert np.isnan(low[1:]).all() and np.isnan(high[1:]).all()  # fewer than 3 finite runs
    # a point resamples its own finite runs only, as many as it has: 4 of 10 here
    column = np.full((10, 2), np.nan)
    column[:4, 0], column[:, 1] = [1.0, 2.0, 4.0, 9.0], np.arange(10.0)
    low, high = band_limits(column, "bootstrap")
    ci = stats.bootstrap((column[:4, 0],), np.mean, confidence_level=0.95, n_resamples=20_000, method="percentile",
                         random_state=np.random.default_rng(1)).confidence_interval
    assert low[0] == pytest.approx(ci.low, abs=0.08 * (ci.high - ci.low))
    assert high[0] == pytest.approx(ci.high, abs=0.08 * (ci.high - ci.low))
    assert low[1] < 4.5 < high[1]
    low, high = band_limits(values, "none")
    assert np.isnan(low).all() and np.isnan(high).all()


def test_none_draws_no_band_and_auto_needs_three_runs():
    ds = spread_out(synthetic_dataset(n_runs=5, stop={}))
    ax = make_plot("infoplane", band="none").figure(Results(ds)).axes[0]
    assert bands(ax) == []
    assert "band" not in ax.get_title()
    ax = make_plot("infoplane", band="std").figure(Results(ds)).axes[0]
    assert len(bands(ax)) == 1
    # two runs: auto draws nothing, silently; an explicit bootstrap warns and draws nothing
    two = Results(synthetic_dataset(n_runs=2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = make_plot("infoplane").figure(two).axes[0]
    assert bands(ax) == [] and "band" not in ax.get_title()
    with pytest.warns(UserWarning, match="needs at least 3 finite runs"):
        assert bands(make_plot("infoplane", band="bootstrap").figure(two).axes[0]) == []
    assert len(bands(make_plot("infoplane").figure(Results(synthetic_dataset(n_runs=3))).axes[0])) == 1


def test_diverged_runs_are_left_out_of_the_band():
    ds = spread_out(synthetic_dataset(n_runs=5, stop={}))
    ds["run_status"].values[2] = 2
    ds["I_XT"].loc[{"run": 2}] = 500.0  # a blown-up run far off the plane
    with pytest.warns(UserWarning, match=r"runs \[2\] diverged"):
        ax = make_plot("infoplane", band="std").figure(Results(ds)).axes[0]
    x = finite_runs(ds, "I_XT")
    assert x.shape[0] == 4
    boxes = ellipse_boxes(ax)
    np.testing.assert_allclose(boxes[0, :2], [x[:, 0, 0].mean() - x[:, 0, 0].std(ddof=1),
                                              x[:, 0, 0].mean() + x[:, 0, 0].std(ddof=1)])
    assert boxes[:, 1].max() < 50


def test_band_option_is_validated_and_set_from_a_spec(tmp_path):
    assert make_plot('infoplane(band="std")').band == "std"
    assert make_plot("infoplane").band == "auto"
    with pytest.raises(ConfigError, match="band.*'auto', 'bootstrap', 'std', 'none'"):
        make_plot("infoplane", band="wide")
    path = tmp_path / "five.nc"
    spread_out(synthetic_dataset(n_runs=5, stop={})).to_netcdf(path)
    out = tmp_path / "plane.png"
    assert main(["plot", str(path), "--kind", 'infoplane(band="std")', "--output", str(out)]) == 0
    assert out.stat().st_size > 5_000


# -------------------------------------------------------------------- grid
def test_grid_with_rows_of_three_and_one():
    results = Results(spread_out(synthetic_dataset(n_runs=4, stop={})))
    fig = infoplane_grid([[("a", results, 0), ("b", results, 1), ("c", results, 0)], [("d", results, 1)]],
                         band="std")
    planes = fig.axes[:6]  # the 2 x 3 cells, then the colour bar
    assert [ax.get_visible() for ax in planes] == [True, True, True, True, False, False]
    assert [ax.get_title() for ax in planes if ax.get_visible()] == ["a", "b", "c", "d"]
    assert all(len(bands(ax)) == 1 for ax in planes if ax.get_visible())
    assert fig.axes[6].get_ylabel() == "epoch"
    assert infoplane_grid([[("a", results, 0)], [("b", results, 0), ("c", results, 0)]], band="none").axes
    with pytest.raises(ConfigError, match="at least one panel"):
        infoplane_grid([[], []])
    with pytest.raises(ConfigError, match="band"):
        infoplane_grid([[("a", results, 0)]], band="wide")


# ------------------------------------------------------------ layer labels
def label_boxes(fig, ax):
    """The layer labels of ``ax`` and their boxes in display coordinates, once drawn."""
    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    labels = [t for t in ax.texts if t.get_visible() and not t.get_text().startswith("epoch")]
    return labels, [t.get_window_extent(renderer) for t in labels]


def test_layer_names_join_consecutive_layers():
    assert layer_names([3, 1, 2]) == "1–3"
    assert layer_names([1, 2]) == "1, 2"
    assert layer_names([1, 2, 3, 5]) == "1–3, 5"
    assert layer_names([4]) == "4"


def test_place_labels_merges_only_what_collides():
    size = (360.0, 300.0)  # points
    far = place_labels([(1, 2.0, 0.5), (2, 6.0, 0.7), (3, 10.0, 0.9)], (0, 12), (0, 1), size)
    assert [text for text, *_ in far] == ["1", "2", "3"]
    assert [(x, y) for _, x, y, _ in far] == [(2.0, 0.5), (6.0, 0.7), (10.0, 0.9)]
    close = place_labels([(1, 12.0, 1.0), (2, 12.0, 1.0), (3, 11.97, 0.995), (4, 6.0, 0.8)], (0, 12.5), (0, 1.05),
                         size)
    assert [(text, members) for text, _, _, members in close] == [("1–3", [1, 2, 3]), ("4", [4])]
    assert close[0][1] == pytest.approx(11.99) and close[0][2] == pytest.approx(0.99833, abs=1e-4)
    assert place_labels(list(reversed([(1, 12.0, 1.0), (2, 12.0, 1.0)])), (0, 12.5), (0, 1.05), size) == \
        place_labels([(1, 12.0, 1.0), (2, 12.0, 1.0)], (0, 12.5), (0, 1.05), size)


@pytest.mark.parametrize("spread", [0.0, 0.02])
def test_labels_of_coinciding_endpoints_do_not_overlap(spread):
    ds = end_together(synthetic_dataset(n_runs=3, widths=WIDTHS5, stop={}))
    if spread:  # nearly, not exactly, the same point
        last = int(ds["epoch"].values[-1])
        ds["I_XT"].loc[{"layer": 2, "epoch": last}] = 12.0 - spread * 10
        ds["I_TY"].loc[{"layer": 3, "epoch": last}] = 1.0 - spread
    fig = make_plot("infoplane").figure(Results(ds))
    labels, boxes = label_boxes(fig, fig.axes[0])
    assert sorted(t.get_text() for t in labels) == ["1–3", "4", "5"]
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)
    # one label for layers 1 to 3, at the mean of their end points
    one = labels[[t.get_text() for t in labels].index("1–3")]
    assert one.xy == pytest.approx((12.0 - spread * 10 / 3, 1.0 - spread / 3))


def test_grid_and_movie_merge_the_labels_too():
    results = Results(end_together(synthetic_dataset(n_runs=3, widths=WIDTHS5, stop={})))
    fig = infoplane_grid([[("a", results, 0), ("b", results, 1)]], band="none")
    for ax in fig.axes[:2]:
        labels, boxes = label_boxes(fig, ax)
        assert sorted(t.get_text() for t in labels) == ["1–3", "4", "5"]
        assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
    fig = make_plot("movie").figure(results)
    labels, boxes = label_boxes(fig, fig.axes[0])
    assert sorted(t.get_text() for t in labels) == ["1–3", "4", "5"]
    assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))


# ------------------------------------------------------------------ movie
def test_movie_frames_show_the_accuracy_at_their_epoch():
    ds = synthetic_dataset()  # run 1 stops at epoch 20
    fig, draw_frame, n_frames = make_plot("movie").scene(Results(ds))
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # the plane and the colour bar; the strip is the plane's child
    (strip,) = ax.child_axes
    assert strip.get_gid() == "accuracy" and strip.get_ylabel() == "accuracy" and strip.get_xlabel() == "epoch"
    mean = np.nanmean(ds["accuracy"].values, axis=0)  # (epoch, split)
    for k in (2, n_frames - 1):
        draw_frame(k)
        legend = [t.get_text() for t in strip.get_legend().get_texts()]
        assert legend == [f"training {mean[k, 0]:.3f}", f"test {mean[k, 1]:.3f}"]
        marker = [line for line in strip.lines if line.get_marker() == "o"]
        assert [(line.get_xdata()[0], line.get_ydata()[0]) for line in marker] == \
            [(EPOCHS[k], pytest.approx(mean[k, 0])), (EPOCHS[k], pytest.approx(mean[k, 1]))]
        now = [line for line in strip.lines if list(line.get_xdata()) == [EPOCHS[k]] * 2]
        assert now, "no line at the frame's epoch"
        solid = [line for line in strip.lines if line.get_label() == "training"][0]
        assert len(solid.get_xdata()) == k + 1
    # the last frame after run 1 stopped: the mean of run 0 alone
    assert mean[-1, 0] == pytest.approx(ds["accuracy"].values[0, -1, 0])


def test_movie_without_a_finite_accuracy_has_no_strip():
    ds = synthetic_dataset()
    ds["accuracy"].values[:] = np.nan
    fig = make_plot("movie").figure(Results(ds))
    assert fig.axes[0].child_axes == []
    assert "epoch 100" in [t.get_text() for t in fig.axes[0].texts]
    assert tuple(fig.get_size_inches()) == (7, 5.2)


def test_movie_gif_frames_show_the_strip(tmp_path):
    from PIL import Image

    path = tmp_path / "movie.gif"
    make_plot("movie").draw(Results(synthetic_dataset()), path)
    with Image.open(path) as image:
        assert image.n_frames == len(EPOCHS)
        assert image.size == (700, 640)
