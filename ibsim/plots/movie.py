"""The information plane as a movie: frame k shows every layer's trajectory
(mean over runs) up to the k-th recorded epoch."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import matplotlib
import numpy as np
from matplotlib import animation, colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure

from ibsim.params import AnyOf, Constant, Interval, Param, String
from ibsim.paths import check_output_file
from ibsim.plots.base import PLOTS, Plot, epoch_norm, label
from ibsim.plots.accuracy import SPLIT_COLOURS, SPLIT_STYLES, set_epoch_scale
from ibsim.plots.infoplane import LABEL_OFFSET, LABEL_SIZE, axes_size, finite_mean, kept_runs, place_labels

if TYPE_CHECKING:
    from ibsim.results import Results

#: Resolution of the frames (the figure is 7 x 6.4 inches with the accuracy strip, 7 x 5.2 without:
#: 700 x 640 or 700 x 520 pixels).
DPI = 100


def ffmpeg_executable() -> str | None:
    """The ffmpeg binary shipped with the imageio-ffmpeg wheel, or None."""
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # not installed, or no binary for this platform
        return None
    return exe if exe and Path(exe).is_file() else None


def mean_accuracy(results: "Results") -> dict[str, np.ndarray] | None:
    """Mean accuracy over the runs that did not diverge, per split (epoch,), or
    None when the file has no finite accuracy."""
    if "accuracy" not in results.dataset:
        return None
    accuracy = kept_runs(results.dataset["accuracy"], results)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN epochs after early stops
        mean = accuracy.mean("run", skipna=True)
    curves = {str(split): mean.sel(split=split).values for split in mean["split"].values}
    if not any(np.isfinite(curve).any() for curve in curves.values()):
        return None
    return curves


def accuracy_strip(ax, epochs: np.ndarray, accuracy: dict[str, np.ndarray]) -> Callable[[int], None]:
    """A strip under the plane ``ax`` (a child axes, so the figure keeps its
    plane and colour bar as its axes) with the mean accuracy per split over
    the epochs: the whole curve faint, the part up to the frame's epoch solid,
    a dot and a vertical line at the frame's epoch, the values in the legend.

    Returns:
        A function drawing frame k (the k-th recorded epoch) into the strip.
    """
    strip = ax.inset_axes([0.0, -0.45, 1.0, 0.25])
    strip.set_gid("accuracy")
    finite = np.concatenate([curve[np.isfinite(curve)] for curve in accuracy.values()])
    low, high = finite.min(), finite.max()
    pad = max(high - low, 0.02) * 0.08
    strip.set_ylim(low - pad, high + pad)
    strip.margins(x=0.02)
    set_epoch_scale(strip, epochs)
    strip.set_xlabel("epoch", fontsize=9)
    strip.set_ylabel("accuracy", fontsize=9)
    strip.tick_params(labelsize=8)
    strip.grid(alpha=0.3)
    now = strip.axvline(epochs[0], color="0.4", lw=0.8)
    progress, dots = {}, {}
    for split, curve in accuracy.items():
        colour, style = SPLIT_COLOURS.get(split), SPLIT_STYLES.get(split, "-")
        ok = np.isfinite(curve)
        strip.plot(epochs[ok], curve[ok], color=colour, ls=style, lw=0.8, alpha=0.3)
        progress[split] = strip.plot([], [], color=colour, ls=style, lw=1.6, label=split)[0]
        dots[split] = strip.plot([], [], "o", color=colour, ms=4, clip_on=False)[0]
    legend = strip.legend(loc="lower right", fontsize=8, ncols=len(accuracy), framealpha=0.8)

    def show(k: int) -> None:
        now.set_xdata([epochs[k], epochs[k]])
        for (split, curve), text in zip(accuracy.items(), legend.get_texts()):
            ok = np.isfinite(curve[: k + 1])
            progress[split].set_data(epochs[: k + 1][ok], curve[: k + 1][ok])
            value = curve[k]
            dots[split].set_data([epochs[k]], [value] if np.isfinite(value) else [np.nan])
            text.set_text(f"{split} {value:.3f}" if np.isfinite(value) else f"{split} –")

    return show


@PLOTS.register("movie", "informationplane_movie", "plotter.informationplane_movie")
class Movie(Plot):
    """The information plane as an animation over epochs (MP4, or GIF without ffmpeg), mean over runs."""

    name = "movie"
    suffix = ".mp4"
    PARAMS = {
        "estimator": Param(AnyOf(Constant(None), String(), Interval(int, 0, None)), None,
                           "which estimate (default: the first)"),
        "fps": Param(Interval(int, 1, 120), 10, "frames (recorded epochs) per second"),
    }

    def scene(self, results: "Results") -> tuple[Figure, Callable[[int], None], int]:
        """The figure, a function drawing frame k into it, and the number of frames."""
        info = results.information(self.estimator)
        estimator = str(info["estimator"].values)
        epochs = info["epoch"].values
        layers = info["layer"].values
        mean = finite_mean(info[["I_XT", "I_TY"]], results, f"{estimator} estimate")
        ixt, ity = mean["I_XT"].values, mean["I_TY"].values  # (epoch, layer)
        norm = epoch_norm(epochs)
        cmap = colormaps["viridis"]
        accuracy = mean_accuracy(results)
        fig = Figure(figsize=(7, 5.2 if accuracy is None else 6.4), layout="constrained")
        ax = fig.add_subplot()
        ax.set_xlabel(label(info["I_XT"]))
        ax.set_ylabel(label(info["I_TY"]))
        ax.set_title(f"{results.dataset.attrs.get('name', '')}: {estimator}, mean of {info.sizes['run']} run(s)",
                     fontsize=10)
        fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="epoch")
        ax.grid(alpha=0.3)
        finite_x, finite_y = ixt[np.isfinite(ixt)], ity[np.isfinite(ity)]
        if finite_x.size and finite_y.size:  # fixed limits: the whole trajectory fits every frame
            (x0, x1), (y0, y1) = (finite_x.min(), finite_x.max()), (finite_y.min(), finite_y.max())
            dx, dy = max(x1 - x0, 0.1) * 0.06, max(y1 - y0, 0.05) * 0.06
            ax.set_xlim(min(0.0, x0 - dx), x1 + dx)
            ax.set_ylim(min(0.0, y0 - dy), y1 + dy)
        lines, dots, names = [], [], []
        for layer in layers:
            lines.append(ax.plot([], [], color="0.6", lw=0.8, zorder=1)[0])
            dots.append(ax.scatter(np.empty(0), np.empty(0), c=np.empty(0), cmap=cmap, norm=norm, s=14,
                                   edgecolors="none", zorder=2))
            # one label per layer; a frame shows the labels of place_labels (colliding ones merged)
            names.append(ax.annotate(f"{layer}", (0, 0), xytext=LABEL_OFFSET, textcoords="offset points",
                                     fontsize=LABEL_SIZE, visible=False))
        clock = ax.text(0.02, 0.97, "", transform=ax.transAxes, ha="left", va="top", fontsize=11,
                        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.7", "alpha": 0.85})
        show_accuracy = accuracy_strip(ax, epochs, accuracy) if accuracy is not None else None
        fig.get_layout_engine().execute(fig)  # the axes' final size, for the label placement
        size = axes_size(ax)
        position = {int(layer): j for j, layer in enumerate(layers)}

        def draw_frame(k: int) -> None:
            anchors = []
            for j, layer in enumerate(layers):
                x, y = ixt[: k + 1, j], ity[: k + 1, j]
                ok = np.isfinite(x) & np.isfinite(y)
                lines[j].set_data(x[ok], y[ok])
                dots[j].set_offsets(np.column_stack([x[ok], y[ok]]))
                dots[j].set_array(np.maximum(epochs[: k + 1][ok], norm.vmin))
                if ok.any():
                    last = np.flatnonzero(ok)[-1]
                    anchors.append((int(layer), float(x[last]), float(y[last])))
                names[j].set_visible(False)
            for text, x, y, members in place_labels(anchors, ax.get_xlim(), ax.get_ylim(), size):
                name = names[position[members[0]]]
                name.set_text(text)
                name.xy = (x, y)
                name.set_visible(True)
            clock.set_text(f"epoch {int(epochs[k])}")
            if show_accuracy is not None:
                show_accuracy(k)

        return fig, draw_frame, len(epochs)

    def figure(self, results: "Results") -> Figure:
        """The last frame."""
        fig, draw_frame, n_frames = self.scene(results)
        draw_frame(n_frames - 1)
        return fig

    def draw(self, results: "Results", path: str | Path | None = None) -> Figure:
        """Write the movie to ``path`` (MP4 through ffmpeg; a GIF when the path
        ends in .gif, or beside it as ``<stem>.gif`` when ffmpeg is missing).

        Returns:
            The figure, showing the last frame.
        """
        fig, draw_frame, n_frames = self.scene(results)
        if path is None:
            draw_frame(n_frames - 1)
            return fig
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        exe = None if path.suffix.lower() == ".gif" else ffmpeg_executable()
        if exe is None:
            if path.suffix.lower() != ".gif":
                gif = path.with_suffix(".gif")
                warnings.warn(f"ffmpeg is not available (it comes with the imageio-ffmpeg package), so the movie "
                              f"is written as a GIF to {gif} instead of {path}", stacklevel=2)
                path = gif
            writer: animation.AbstractMovieWriter = animation.PillowWriter(fps=self.fps)
            settings = {}
        else:
            # yuv420p: the pixel format every player decodes
            writer = animation.FFMpegWriter(fps=self.fps, codec="h264", extra_args=["-pix_fmt", "yuv420p"],
                                            metadata={"title": f"{results.dataset.attrs.get('name', '')} "
                                                               "information plane"})
            settings = {"animation.ffmpeg_path": exe}
        check_output_file(path, "movie")
        with matplotlib.rc_context(settings), writer.saving(fig, str(path), DPI):
            for k in range(n_frames):
                draw_frame(k)
                writer.grab_frame()
        return fig
