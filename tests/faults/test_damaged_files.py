"""Damaged results files: every reader names the file and the damage, in one line, and changes nothing.

A small valid results file is made once; each case derives a damaged copy
(a variable dropped, a newer ``format_version``, dimensions that disagree, a
coordinate missing) in a folder of its own. ``ibsim estimate``, ``ibsim plot``
and ``ibsim tensorboard`` must exit 2 with one ``ibsim: error:`` line naming
the file and what is wrong; ``ibsim ls`` and :class:`Catalog` list the file as
unreadable with that reason; :meth:`Results.open` raises a one-line
:class:`ResultsFileError`. The file's sha256 is the same afterwards. Malformed
``ibsim tensorboard`` options are refused like config values.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Callable

import netCDF4
import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

from ibsim import Experiment
from ibsim.catalog import Catalog
from ibsim.cli import main
from ibsim.errors import ConfigError, ResultsFileError
from ibsim.plots.base import Plot
from ibsim.results import Results
from tests.conftest import CONFIGS

#: 2 runs, 3 recorded epochs, layers 1 (4 neurons) and 2 (the read-out, 2 neurons), activation cubes kept.
SMALL = ["epochs=2", "n_runs=2", "architecture=[4]"]
GRADIENTS = ["grad_mean", "grad_std", "grad_snr", "weight_norm"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rewrite(change: Callable[[xr.Dataset], xr.Dataset]) -> Callable[[Path, Path], None]:
    """A damage: the reference file rewritten by xarray after ``change``."""

    def damage(reference: Path, target: Path) -> None:
        with xr.open_dataset(reference) as ds:
            changed = change(ds.load())
        changed.to_netcdf(target)

    return damage


def set_attribute(name: str, value: str | None) -> Callable[[Path, Path], None]:
    """A damage: the reference file with one global attribute set (None: deleted)."""

    def damage(reference: Path, target: Path) -> None:
        shutil.copyfile(reference, target)
        with netCDF4.Dataset(target, "a") as nc:
            if value is None:
                nc.delncattr(name)
            else:
                nc.setncattr(name, value)

    return damage


def one_layer_fewer(ds: xr.Dataset) -> xr.Dataset:
    """I_XT & co. for layer 1 only, both activation cubes kept."""
    layered = [name for name in ds.data_vars if "layer" in ds[name].dims]
    return xr.merge([ds[layered].isel(layer=[0]), ds.drop_vars(layered).drop_dims("layer")],
                    combine_attrs="override")


def run_status_of_three_runs(ds: xr.Dataset) -> xr.Dataset:
    """run_status over its own run dimension of size 3 (the file has 2 runs)."""
    return ds.drop_vars("run_status").assign(run_status=(("runs",), np.zeros(3, dtype=np.int8)))


def wider_layer_width(ds: xr.Dataset) -> xr.Dataset:
    """layer_width says layer 1 has 5 neurons; its cube has 4."""
    return ds.assign(layer_width=ds["layer_width"] + np.array([1, 0]))


#: case → (damage, fragments the one-line error must contain besides the file name)
CASES: dict[str, tuple[Callable[[Path, Path], None], tuple[str, ...]]] = {
    "no_I_XT": (rewrite(lambda ds: ds.drop_vars("I_XT")), ("no variable I_XT",)),
    "no_I_TY": (rewrite(lambda ds: ds.drop_vars("I_TY")), ("no variable I_TY",)),
    "no_run_status": (rewrite(lambda ds: ds.drop_vars("run_status")), ("no variable run_status",)),
    "no_y": (rewrite(lambda ds: ds.drop_vars("y")), ("no variable y,",)),
    "no_activations_2": (rewrite(lambda ds: ds.drop_vars("activations_2")),
                         ("activation cube(s) activations_1 for 2 layer(s)", "activations_1..activations_2")),
    "format_2.0": (set_attribute("format_version", "2.0"), ("format_version 2.0", "newer", "1.x")),
    "format_9.0": (set_attribute("format_version", "9.0"), ("format_version 9.0", "newer")),
    "format_garbage": (set_attribute("format_version", "one"), ("invalid format_version 'one'",)),
    "format_absent": (set_attribute("format_version", None), ("no format_version",)),
    "layers_disagree": (rewrite(one_layer_fewer), ("activations_1, activations_2 for 1 layer(s)",)),
    "runs_disagree": (rewrite(run_status_of_three_runs), ("run_status has dimensions (runs: 3)", "(run: 2)")),
    "no_estimator_coordinate": (rewrite(lambda ds: ds.drop_vars("estimator")),
                                ("dimension 'estimator' has no coordinate",)),
    "no_layer_coordinate": (rewrite(lambda ds: ds.drop_vars("layer")), ("dimension 'layer' has no coordinate",)),
    "widths_disagree": (rewrite(wider_layer_width), ("activations_1 has 4 neuron(s)", "layer_width", "has 5")),
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """A small valid results file (about 5 s to make)."""
    path = tmp_path_factory.mktemp("reference") / "reference.nc"
    Experiment.from_toml(CONFIGS / "smoke.toml", SMALL).run(path).close()
    return path


@pytest.fixture(scope="module")
def damaged(reference, tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """case → (the damaged file, alone in its folder; its sha256 when made)."""
    root = tmp_path_factory.mktemp("damaged")
    files = {}
    for case, (damage, _) in CASES.items():
        path = root / case / f"{case}.nc"
        path.parent.mkdir()
        damage(reference, path)
        files[case] = (path, sha256(path))
    return files


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """``ibsim ARGV`` in this process: (exit status, stdout, stderr)."""
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def error_line(status: int, err: str) -> str:
    """The one stderr line of a refused command (asserted), without its prefix."""
    lines = err.splitlines()
    assert status == 2, err
    assert len(lines) == 1 and lines[0].startswith("ibsim: error: "), err
    return lines[0][len("ibsim: error: "):]


def refusal(command: str, path: Path, scratch: Path, capsys) -> str:
    """What ``command`` says about a damaged file: one line (the shape of the answer asserted)."""
    if command == "estimate":
        message = error_line(*cli(["estimate", str(path), "-e", "binning", "-q"], capsys)[::2])
        assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file left
        return message
    if command == "plot":
        image = scratch / "plot.png"
        message = error_line(*cli(["plot", str(path), "-o", str(image)], capsys)[::2])
        assert not image.exists()
        return message
    if command == "tensorboard":
        log_dir = scratch / "tb"
        message = error_line(*cli(["tensorboard", str(path), "--log-dir", str(log_dir)], capsys)[::2])
        assert not log_dir.exists()
        return message
    if command == "ls":
        status, out, err = cli(["ls", str(path.parent)], capsys)
        assert status == 0 and err == ""
        lines = [line for line in out.splitlines() if line.startswith("unreadable ")]
        assert len(lines) == 1 and "1 unreadable" in out, out
        return lines[0]
    if command == "Results.open":
        with pytest.raises(ResultsFileError) as error:
            Results.open(path)
        return str(error.value)
    if command == "Catalog":
        catalog = Catalog(path.parent)
        (entry,) = list(catalog)
        assert entry.status == "unreadable" and not entry.readable
        with pytest.raises(ResultsFileError) as error:
            catalog.results(entry.id)
        assert str(error.value) == entry.error
        return entry.error
    raise AssertionError(command)


COMMANDS = ["estimate", "plot", "tensorboard", "ls", "Results.open", "Catalog"]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", list(CASES))
def test_damaged_file_is_named_in_one_line_and_left_untouched(damaged, case, command, tmp_path, capsys):
    path, digest = damaged[case]
    message = refusal(command, path, tmp_path, capsys)
    assert "\n" not in message and "Traceback" not in message
    assert str(path) in message
    for fragment in CASES[case][1]:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert sha256(path) == digest


def test_a_newer_minor_version_still_reads(reference, tmp_path, capsys):
    path = tmp_path / "minor.nc"
    set_attribute("format_version", "1.7")(reference, path)
    with Results.open(path) as results:
        assert results.dataset.sizes["layer"] == 2
    assert cli(["plot", str(path), "-o", str(tmp_path / "plot.png")], capsys)[0] == 0
    assert [entry.status for entry in Catalog(tmp_path)] == ["completed"]


# ------------------------------------------------ optional variables: only who needs them refuses
@pytest.fixture(scope="module")
def thin(reference, tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """Valid files lacking optional variables: no activation cubes; no gradient statistics."""
    root = tmp_path_factory.mktemp("thin")
    files = {}
    for name, dropped in {"no_cubes": ["activations_1", "activations_2"], "no_gradients": GRADIENTS}.items():
        path = root / name / f"{name}.nc"
        path.parent.mkdir()
        rewrite(lambda ds, dropped=dropped: ds.drop_vars(dropped))(reference, path)
        files[name] = (path, sha256(path))
    return files


@pytest.mark.parametrize("name,argv,fragments", [
    ("no_cubes", ["estimate", "{path}", "-e", "binning"],
     ("no variables activations_1, activations_2, which ibsim estimate needs", "save_activations = true")),
    ("no_cubes", ["tensorboard", "{path}", "--log-dir", "{tmp}/tb"],
     ("no variables activations_1, activations_2, which the TensorBoard export needs", "save_activations = true")),
    ("no_cubes", ["plot", "{path}", "--kind", "activations", "-o", "{tmp}/a.png"], ("activations_1",)),
    ("no_gradients", ["plot", "{path}", "--kind", "snr", "-o", "{tmp}/s.png"],
     ("grad_mean, grad_std, grad_snr, weight_norm",)),
])
def test_a_command_needing_an_optional_variable_names_the_file(thin, name, argv, fragments, tmp_path, capsys):
    path, digest = thin[name]
    argv = [item.format(path=path, tmp=tmp_path) for item in argv]
    message = error_line(*cli(argv, capsys)[::2])
    assert str(path) in message and all(fragment in message for fragment in fragments), message
    assert sha256(path) == digest and list(tmp_path.iterdir()) == []


def test_files_lacking_optional_variables_are_not_damaged(thin, tmp_path, capsys):
    for path, digest in thin.values():
        assert [entry.status for entry in Catalog(path.parent)] == ["completed"]
        assert cli(["plot", str(path), "-o", str(tmp_path / f"{path.stem}.png")], capsys)[0] == 0
        assert sha256(path) == digest


class _Probe(Plot):
    """A plot reading a variable straight from the dataset, as plot files do."""

    name = "probe"
    variable = "grad_snr"

    def figure(self, results: Results) -> Figure:
        results.dataset[self.variable]
        return Figure()


def test_plot_draw_names_the_file_and_the_variable_a_plot_lacks(thin):
    path, _ = thin["no_gradients"]
    with Results.open(path) as results:
        with pytest.raises(ResultsFileError) as error:
            _Probe().draw(results)
    assert str(error.value) == f"{path} has no variable grad_snr, which the plot 'probe' needs"


def test_plot_draw_lets_a_bug_keyerror_through(thin):
    class Buggy(_Probe):
        def figure(self, results: Results) -> Figure:
            raise KeyError("not_a_variable")

    with Results.open(thin["no_gradients"][0]) as results, pytest.raises(KeyError, match="not_a_variable"):
        Buggy().draw(results)


def test_results_check_estimate_positions(reference):
    with Results.open(reference) as results:
        with pytest.raises(ConfigError, match=r"estimate position 3 is outside 0\.\.0"):
            results.information(3)


# ---------------------------------------------------------- malformed tensorboard options
@pytest.fixture
def reference_copy(reference, tmp_path) -> Path:
    path = tmp_path / "results.nc"
    shutil.copyfile(reference, path)
    return path


@pytest.mark.parametrize("options,fragments", [
    (["--layers", "a,b"], ("--layers must be comma-separated layers 1..2", "got 'a,b'")),
    (["--layers", "0"], ("--layers must be comma-separated layers 1..2", "got '0'")),
    (["--layers", "3"], ("--layers", "1..2", "has 2 layer(s)", "got '3'")),
    (["--layers", "1,,2"], ("--layers", "1..2")),
    (["--run", "2"], ("--run must be a run position 0..1", "has 2 run(s)", "got '2'")),
    (["--run", "-1"], ("--run", "0..1", "got '-1'")),
    (["--run", "first"], ("--run", "0..1", "got 'first'")),
    (["--every", "0"], ("--every must be an integer >= 1", "got '0'")),
    (["--every", "1.5"], ("--every must be an integer >= 1", "got '1.5'")),
])
def test_malformed_tensorboard_options_are_refused_in_one_line(reference_copy, options, fragments, tmp_path,
                                                              capsys):
    digest = sha256(reference_copy)
    log_dir = tmp_path / "tb"
    message = error_line(*cli(["tensorboard", str(reference_copy), "--log-dir", str(log_dir), *options],
                              capsys)[::2])
    assert all(fragment in message for fragment in fragments), message
    assert not log_dir.exists() and sha256(reference_copy) == digest


def test_valid_tensorboard_options_export(reference_copy, tmp_path, capsys):
    log_dir = tmp_path / "tb"
    argv = ["tensorboard", str(reference_copy), "--log-dir", str(log_dir), "--run", "1", "--every", "2",
            "--layers", "2"]
    assert cli(argv, capsys)[0] == 0
    assert sorted(p.name for p in log_dir.iterdir()) == [
        "layer2_epoch000000.tsv", "layer2_epoch000002.tsv", "metadata.tsv", "projector_config.pbtxt",
    ]
