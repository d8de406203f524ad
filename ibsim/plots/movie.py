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
from ibsim.plots.infoplane import finite_mean

if TYPE_CHECKING:
    from ibsim.results import Results

#: Resolution of the frames (the figure is 7 x 5.2 inches: 700 x 520 pixels).
DPI = 100


def ffmpeg_executable() -> str | None:
    """The ffmpeg binary shipped with the imageio-ffmpeg wheel, or None."""
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # not installed, or no binary for this platform
        return None
    return exe if exe and Path(exe).is_file() else None


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
        fig = Figure(figsize=(7, 5.2), layout="constrained")
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
            names.append(ax.annotate(f"{layer}", (0, 0), xytext=(4, 4), textcoords="offset points", fontsize=9,
                                     visible=False))
        clock = ax.text(0.02, 0.97, "", transform=ax.transAxes, ha="left", va="top", fontsize=11,
                        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.7", "alpha": 0.85})

        def draw_frame(k: int) -> None:
            for j in range(len(layers)):
                x, y = ixt[: k + 1, j], ity[: k + 1, j]
                ok = np.isfinite(x) & np.isfinite(y)
                lines[j].set_data(x[ok], y[ok])
                dots[j].set_offsets(np.column_stack([x[ok], y[ok]]))
                dots[j].set_array(np.maximum(epochs[: k + 1][ok], norm.vmin))
                if ok.any():
                    last = np.flatnonzero(ok)[-1]
                    names[j].xy = (x[last], y[last])
                names[j].set_visible(bool(ok.any()))
            clock.set_text(f"epoch {int(epochs[k])}")

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
