"""Every bad input is refused up front, clearly, and with no output file.

The property tests throw random configs and random ``--set`` strings at the
validator: each is accepted or refused with a ConfigError, never another
exception. Counts are reported in docs/reliability.md.
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ibsim import ConfigError, DataError
from ibsim.cli import main
from ibsim.config import Config, schema
from tests.conftest import CONFIGS, REPO

KEYS = list(schema())
NAMES = ["tanh", "relu", "binning", "kde_upper", "harmonics", "mnist", "training", "seed", "log", "sgd",
         "feedforward", "binning(bin_size=0.1)", "kde_upper(variance=-1)", "binning(", "harmonics_generated(seed=2)",
         "knn(k=0)", "infoplane", "every", "", " ", "nan", "binning(bin_size=0.07, extra=1)"]
scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(NAMES), st.text(max_size=12),
)
value = st.one_of(scalar, st.lists(scalar, max_size=4), st.lists(st.lists(scalar, max_size=3), max_size=3),
                  st.dictionaries(st.text(max_size=5), scalar, max_size=2))
key = st.one_of(st.sampled_from(KEYS), st.sampled_from(KEYS).map(lambda k: k[:-1]), st.text(min_size=1, max_size=10))
config_dict = st.dictionaries(key, value, max_size=6)

#: counted by the tests below (reported in docs/reliability.md)
TRIED = {"configs": 0, "set strings": 0}


@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config_dict)
def test_random_configs_are_accepted_or_refused_cleanly(data):
    TRIED["configs"] += 1
    try:
        Config.from_dict(data)
    except ConfigError:
        pass


set_text = st.one_of(
    st.text(max_size=30),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), st.text(max_size=20)),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS),
              st.sampled_from(["[1,2", "[]", "[0]", "1e999", "-1", "0", "true", '"x"', "{a=1}", "[[1]]", "nan",
                               "inf", "1979-05-27", "0x10", "'tanh'", "kde_upper(variance=0)", "relu6", "-0.0"])),
)


@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(set_text, min_size=1, max_size=3))
def test_random_set_strings_are_accepted_or_refused_cleanly(strings):
    TRIED["set strings"] += 1
    try:
        Config.from_toml(CONFIGS / "smoke.toml", strings)
    except ConfigError:
        pass


def test_enough_inputs_were_tried():
    assert TRIED["configs"] + TRIED["set strings"] >= 1000 or TRIED == {"configs": 0, "set strings": 0}


@pytest.mark.parametrize(
    "override,message",
    [
        ("epochs=0", "'epochs' must be an int in the range [1, inf)"),
        ("learning_rate=0", "'learning_rate' must be a float in the range (0, inf)"),
        ("architecture=[]", "'architecture' must be a non-empty list"),
        ("discretization_range=-0.1", "'discretization_range'"),
        ('estimator="kde_upper(variance=-0.001)"', "'variance' parameter of estimator 'kde_upper'"),
        ('calculate_mi_for="validation"', "'calculate_mi_for' must be one of 'training', 'test', 'full_dataset'"),
        ('activation_fn="tanhh"', "Did you mean 'tanh'"),
        ('dataset="cifar"', "unknown dataset 'cifar'; valid:"),
        ('estimator="kde_middle"', "unknown estimator 'kde_middle'; valid:"),
        ('plots=["infoplan"]', "Unknown plot 'infoplan'; valid:"),
        ("n_run=3", "unknown config key 'n_run'. Did you mean 'n_runs'?"),
    ],
)
def test_bad_values_fail_at_once_with_one_line_and_no_file(tmp_path, capsys, override, message):
    out = tmp_path / "never.nc"
    status = main(["run", str(CONFIGS / "smoke.toml"), "-o", str(out), "--set", override])
    err = capsys.readouterr().err
    assert status == 2 and message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_debug_shows_the_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "ibsim", "run", str(CONFIGS / "smoke.toml"), "--set", "epochs=0",
                           "--debug"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode != 0 and "Traceback" in done.stderr and "ConfigError" in done.stderr


def test_missing_config_file_and_bad_toml(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = [1,\n")
    assert main(["run", str(bad)]) == 2
    assert "not valid TOML" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_unwritable_output_folder(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert main(["run", str(CONFIGS / "smoke.toml"), "-o", str(locked / "r.nc"), "--set", "epochs=1"]) == 2
        assert "cannot write to the output folder" in capsys.readouterr().err
    finally:
        locked.chmod(stat.S_IRWXU)


def test_output_path_under_a_file_is_refused(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["run", str(CONFIGS / "smoke.toml"), "-o", str(blocker / "r.nc"), "--set", "epochs=1", "-q"]) == 2
    assert "cannot write to the output folder" in capsys.readouterr().err


def test_missing_data_file_fails_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IBSIM_OFFLINE", "1")
    status = main(["run", str(CONFIGS / "smoke.toml"), "-o", str(tmp_path / "r.nc"), "--data-dir", str(tmp_path),
                   "--set", 'dataset="mushroom"', "-q"])
    err = capsys.readouterr().err
    assert status == 2 and "mushroom.csv" in err and str(tmp_path) in err
    assert not (tmp_path / "r.nc").exists() and not (tmp_path / "r.nc.parts").exists()


def test_corrupt_data_file_is_named(tmp_path):
    (tmp_path / "mushroom").mkdir()
    (tmp_path / "mushroom" / "mushroom.csv").write_text("class=e,class=p\n1,0\n")
    from ibsim.datasets import Mushroom

    with pytest.raises(DataError, match=r"mushroom\.csv is corrupt: sha256"):
        Mushroom().splits(0, 0.8, tmp_path)
