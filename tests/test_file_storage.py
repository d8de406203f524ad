"""How results files store activation cubes: activation_dtype, activation_compressor and activation_compression_level."""
from __future__ import annotations

import shutil
import subprocess
import sys

import netCDF4
import numpy as np
import pytest
import xarray as xr

from ibsim import Config, ConfigError, Experiment, Results, ResultsFileError
from ibsim.cli import main
from ibsim.pipeline import budget
from ibsim.pipeline.plan import plan_shape
from ibsim.recording.recorder import ACTIVATION_COMPRESSORS, ACTIVATION_DTYPES
from ibsim.resultsfile.reader import open_dataset
from ibsim.resultsfile.schema import STORED_TYPES
from ibsim.resultsfile.writer import CubeStorage
from tests.conftest import CONFIGS

#: Tiny runs; binning_adaptive over a layer's epochs is estimated after training (deferred).
SMALL = ["epochs=6", "n_runs=2", "architecture=[6,4]", 'estimator=["binning", "binning_adaptive(scope=\\"layer\\")"]']
STORAGES = {"float32": [], "float16": ['activation_dtype="float16"'],
            "uncompressed": ["activation_compression_level=0"], "zlib": ['activation_compressor="zlib"']}
LAYERS = range(1, 4)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("storage")
    paths = {}
    for name, overrides in STORAGES.items():
        paths[name] = folder / f"{name}.nc"
        Experiment.from_toml(CONFIGS / "smoke.toml", SMALL + overrides).run(paths[name]).close()
    return paths


def cube(path, layer: int) -> np.ndarray:
    with open_dataset(path) as ds:
        return ds[f"activations_{layer}"].values


@pytest.mark.parametrize("key, value, shown", [
    ("activation_dtype", "int8", "'activation_dtype' must be one of 'float32', 'float16'"),
    ("activation_dtype", 16, "'activation_dtype' must be one of"),
    ("activation_compression_level", 10, "'activation_compression_level' must be an int in the range [0, 9]"),
    ("activation_compression_level", -1, "'activation_compression_level' must be an int"),
    ("activation_compression_level", 1.5, "'activation_compression_level' must be an int"),
    ("activation_compression_level", True, "'activation_compression_level' must be an int"),
    ("activation_compressor", "gzip", "'activation_compressor' must be one of 'zstd', 'zlib'"),
    ("activation_compressor", 1, "'activation_compressor' must be one of"),
])
def test_bad_values_are_refused_naming_the_key(key, value, shown):
    with pytest.raises(ConfigError) as error:
        Config.from_dict({key: value})
    assert shown in str(error.value)


def test_defaults_keep_float32_zstd1():
    assert list(STORED_TYPES) == ACTIVATION_DTYPES  # the writer stores every dtype the config offers
    config = Config.from_dict({})
    assert (config.activation_dtype, config.activation_compression_level, config.activation_compressor) == (
        "float32", 1, "zstd")
    assert CubeStorage() == CubeStorage(config.activation_dtype, config.activation_compression_level,
                                        config.activation_compressor)
    for compressor in ACTIVATION_COMPRESSORS:  # the writer writes every compressor the config offers
        assert CubeStorage(compressor=compressor).encoding((2, 3, 4, 5))["compression"] == compressor


@pytest.mark.parametrize("dtype, level, compressor", [("float64", 1, "zstd"), ("float32", 10, "zstd"),
                                                      ("float32", True, "zlib"), ("float16", "1", "zstd"),
                                                      ("float32", 1, "gzip"), ("float32", 1, None)])
def test_cube_storage_refuses_what_it_cannot_write(dtype, level, compressor):
    with pytest.raises(ValueError, match="float32 or float16|0..9|zstd or zlib"):
        CubeStorage(dtype, level, compressor)


def test_storage_is_read_back_from_the_files(files):
    expected = {"float32": CubeStorage(), "float16": CubeStorage("float16"),
                "uncompressed": CubeStorage(compression_level=0), "zlib": CubeStorage(compressor="zlib")}
    for name, storage in expected.items():
        with xr.open_dataset(files[name]) as ds:
            var = ds["activations_2"]
            assert CubeStorage.of(var.attrs, var.encoding) == storage, name


def test_float16_file_is_marked_and_smaller(files):
    with netCDF4.Dataset(files["float16"]) as nc:
        variable = nc["activations_1"]
        assert variable.dtype == np.uint16 and variable.getncattr("stored_dtype") == "float16"
        assert "view('float16')" in variable.getncattr("comment")
        assert variable.chunking() == [1, 1, 4096, 6] and variable.filters()["zstd"]
    with netCDF4.Dataset(files["float32"]) as nc:
        assert nc["activations_1"].dtype == np.float32 and "stored_dtype" not in nc["activations_1"].ncattrs()
    assert files["float16"].stat().st_size < 0.7 * files["float32"].stat().st_size


def test_float16_activations_are_the_float32_ones_rounded(files):
    for layer in LAYERS:
        exact, rounded = cube(files["float32"], layer), cube(files["float16"], layer)
        assert rounded.dtype == np.float32
        assert np.array_equal(exact.astype(np.float16).astype(np.float32), rounded, equal_nan=True)
        assert not np.array_equal(exact, rounded)  # something was rounded: the test can fail
    # plain xarray sees the bit patterns; viewed as float16 they are the same values
    with xr.open_dataset(files["float16"]) as ds:
        codes = ds["activations_1"].values
    assert codes.dtype == np.uint16
    assert np.array_equal(codes.view(np.float16).astype(np.float32), cube(files["float16"], 1), equal_nan=True)


def test_estimates_do_not_depend_on_the_storage(files):
    """Inline (binning) and deferred (binning_adaptive) estimates come from the
    float32 activations of the part files, whatever the file keeps."""
    with xr.open_dataset(files["float32"]) as reference:
        for name in ("float16", "uncompressed", "zlib"):
            with xr.open_dataset(files[name]) as ds:
                assert ds.sizes["estimator"] == 2
                for variable in ("I_XT", "I_TY", "activation_min", "activation_max", "loss"):
                    assert np.array_equal(reference[variable].values, ds[variable].values, equal_nan=True), variable


def test_compression_keeps_the_data_bitwise(files):
    with netCDF4.Dataset(files["uncompressed"]) as nc:
        filters = nc["activations_1"].filters()
        assert not filters["zlib"] and not filters["zstd"] and nc["activations_1"].chunking() == [1, 1, 4096, 6]
    for name, compressor in (("float32", "zstd"), ("zlib", "zlib")):
        with netCDF4.Dataset(files[name]) as nc:
            filters = nc["activations_1"].filters()
            other = "zlib" if compressor == "zstd" else "zstd"
            assert filters[compressor] and not filters[other] and filters["complevel"] == 1
            assert filters["shuffle"] == (compressor == "zlib")  # netCDF4 shuffles only before zlib
        for layer in LAYERS:
            plain, packed = cube(files["uncompressed"], layer), cube(files[name], layer)
            assert plain.dtype == packed.dtype == np.float32
            assert np.array_equal(plain.view(np.uint32), packed.view(np.uint32))  # bit for bit, NaN payloads too
        assert files["uncompressed"].stat().st_size > files[name].stat().st_size


def test_estimate_on_a_float16_file_warns_in_one_line(files, tmp_path, capsys):
    path = tmp_path / "f16.nc"
    shutil.copy(files["float16"], path)
    capsys.readouterr()
    assert main(["estimate", str(path), "-e", "binning_range", "-q"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(lines) == 1
    assert "as float16" in lines[0] and "binning_range" in lines[0] and "float32" in lines[0]
    with xr.open_dataset(path) as ds:
        assert "(from float16 activations)" in ds.attrs["history"]
        assert np.isfinite(ds["I_XT"].isel(estimator=-1)).all()
    # a float32 file: no warning
    copy = tmp_path / "f32.nc"
    shutil.copy(files["float32"], copy)
    assert main(["estimate", str(copy), "-e", "binning_range", "-q"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_reestimating_float16_stays_close(files, tmp_path):
    """Bins follow the rounded values (ranges rounded alike): the estimate is
    not the run's, but near it at a bin size far above float16's rounding."""
    out = tmp_path / "again.nc"
    from ibsim.pipeline.reestimate import estimate_file

    estimate_file(files["float16"], 'binning_adaptive(scope="layer")', out, backend="serial", quiet=True)
    with xr.open_dataset(files["float32"]) as run, xr.open_dataset(out) as again:
        spec = 'binning_adaptive(n_bins=30, scope="layer")'
        assert spec in list(again["estimator"].values), list(again["estimator"].values)
        assert np.allclose(run["I_XT"].sel(estimator=spec), again["I_XT"].sel(estimator=spec), atol=0.2)


def test_saving_a_float16_file_keeps_it_float16(files, tmp_path):
    out = tmp_path / "saved.nc"
    with Results.open(files["float16"]) as results:
        results.save(out)
    with netCDF4.Dataset(out) as nc:
        assert nc["activations_2"].dtype == np.uint16 and nc["activations_2"].getncattr("stored_dtype") == "float16"
        assert nc["activations_2"].chunking() == [1, 1, 4096, 4]
    assert np.array_equal(cube(out, 2), cube(files["float16"], 2), equal_nan=True)


def test_saving_a_file_keeps_its_compressor(files, tmp_path):
    for name, compressor in (("zlib", "zlib"), ("float32", "zstd")):
        out = tmp_path / f"saved_{name}.nc"
        with Results.open(files[name]) as results:
            results.save(out)
        with netCDF4.Dataset(out) as nc:
            assert nc["activations_2"].filters()[compressor]
        assert np.array_equal(cube(out, 2), cube(files[name], 2), equal_nan=True)


def test_files_without_the_attribute_read_as_float32(files, tmp_path):
    """Files written before activation_dtype (float32 cubes, no attribute) open as they did."""
    with Results.open(files["float32"]) as results:
        assert results.dataset["activations_3"].dtype == np.float32
        assert "stored_dtype" not in results.dataset["activations_3"].attrs
    damaged = tmp_path / "damaged.nc"
    shutil.copy(files["float32"], damaged)
    with netCDF4.Dataset(damaged, "a") as nc:
        nc["activations_2"].setncattr("stored_dtype", "int8")
    with pytest.raises(ResultsFileError, match="activations_2 has stored_dtype = 'int8'"):
        open_dataset(damaged)


def test_budget_counts_float16_at_half(files):
    sizes = {}
    for name in ("float32", "float16"):
        config = Experiment.from_toml(CONFIGS / "smoke.toml", SMALL + STORAGES[name]).config
        sizes[name] = budget.estimate(config, plan_shape(config), 4096, 12, 2, 4096).file_bytes
        assert files[name].stat().st_size <= sizes[name]
    cube_bytes = 2 * 7 * 4096 * (6 + 4 + 2) * 4  # runs, recorded epochs, samples, widths, float32
    assert sizes["float32"] - sizes["float16"] == cube_bytes // 2


def test_zstd_survives_tensorflow_imported_first():
    """TensorFlow's Keras sets HDF5_PLUGIN_PATH=disable at import; ibsim imports
    netCDF4 with netCDF4's own plugin folder then, and puts the variable back."""
    code = ("import os, tensorflow\n"
            "assert os.environ['HDF5_PLUGIN_PATH'] == 'disable'\n"
            "from ibsim.resultsfile.netcdf import zstd_works\n"
            "print(zstd_works(), os.environ['HDF5_PLUGIN_PATH'])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "disable"]


def test_without_zstd_the_cubes_are_written_with_zlib_and_a_warning(tmp_path, monkeypatch):
    from ibsim.resultsfile import writer

    monkeypatch.setattr(writer, "zstd_works", lambda: False)
    path = tmp_path / "nozstd.nc"
    with pytest.warns(UserWarning, match="cannot write zstd.*zlib instead"):
        Experiment.from_toml(CONFIGS / "smoke.toml", SMALL).run(path).close()
    with netCDF4.Dataset(path) as nc:
        filters = nc["activations_1"].filters()
        assert filters["zlib"] and not filters["zstd"]
    assert CubeStorage(compressor="zlib").writable() == CubeStorage(compressor="zlib")
