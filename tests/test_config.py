"""Config validation: one message shape naming the key and where it came from."""
from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ibsim import Config, ConfigError, Experiment, Network, Recorder
from ibsim import spec as spec_module
from ibsim.toml_text import dumps, parse_value
from tests.conftest import CONFIGS


def test_defaults_are_the_tishby_setup():
    cfg = Config.from_dict({})
    assert cfg.architecture == [10, 7, 5, 4, 3]
    assert cfg.activation_fn == "tanh" and cfg.optimizer == "adam"
    assert cfg.estimator == ["binning(bin_size=0.07)"]


def test_unknown_key_is_named_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"unknown config key 'epoch'\. Did you mean 'epochs'\?"):
        Config.from_dict({"epoch": 3})


def test_wrong_type_names_key_and_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('learning_rate = "fast"\n')
    with pytest.raises(ConfigError) as info:
        Config.from_toml(path)
    message = str(info.value)
    assert "'learning_rate'" in message and str(path) in message and "'fast'" in message
    assert "must be a float in the range (0, inf)" in message


@pytest.mark.parametrize(
    "key,value",
    [
        ("epochs", 0), ("epochs", -5), ("epochs", 2.5), ("learning_rate", 0), ("learning_rate", -1e-3),
        ("architecture", []), ("architecture", [10, 0]), ("architecture", "10"), ("batch_size", True),
        ("calculate_mi_for", "validation"), ("activation_fn", "tanhh"), ("optimizer", "rmsprop"),
        ("discretization_range", -0.1), ("n_runs", 0), ("train_fraction", 1.0), ("record_schedule", "often"),
        ("dataset", "cifar"), ("estimator", "binnning"), ("estimator", "binning(bin_size=-1)"),
        ("max_norm_weights", True), ("runs", [0, 0]), ("seed", -1),
    ],
)
def test_bad_values_are_refused(key, value):
    with pytest.raises(ConfigError, match=key if key not in ("dataset", "estimator") else "config key"):
        Config.from_dict({key: value})


def test_runs_must_lie_inside_n_runs():
    with pytest.raises(ConfigError, match=r"runs \[5\] are outside 0\.\.2"):
        Config.from_dict({"n_runs": 3, "runs": [0, 5]})


def test_set_overrides_are_toml_typed():
    cfg = Config.from_toml(
        CONFIGS / "smoke.toml",
        ["epochs=7", "architecture=[6,4]", "estimator=binning", "discretization_range=0.1", "activation_fn=relu"],
    )
    assert cfg.epochs == 7 and cfg.architecture == [6, 4] and cfg.activation_fn == "relu"
    assert cfg.estimator == ["binning(bin_size=0.1)"]


def test_set_errors_name_the_key():
    with pytest.raises(ConfigError, match="'epochs'"):
        Config.from_toml(CONFIGS / "smoke.toml", ["epochs=many"])
    with pytest.raises(ConfigError, match="key=value"):
        Config.from_toml(CONFIGS / "smoke.toml", ["epochs"])


def test_seed_names_are_accepted():
    cfg = Config.from_dict(
        {"dataset": "datasets.harmonics", "estimator": "mi_estimator.binning", "model": "models.feedforward"}
    )
    assert cfg.dataset == "harmonics" and cfg.model == "feedforward"


def test_python_and_toml_paths_meet_in_one_config():
    from_toml = Config.from_toml(CONFIGS / "smoke.toml")
    exp = Experiment(
        dataset="harmonics",
        network=Network(architecture=[10, 7, 5, 4, 3], activation_fn="tanh", optimizer="adam",
                        learning_rate=0.0004, batch_size=256, epochs=40),
        recorder=Recorder(calculate_mi_for="full_dataset", record_schedule="seed"),
        estimators=["binning"],
        n_runs=3,
        seed=0,
        discretization_range=0.07,
        name="smoke",
    )
    assert exp.config.raw() == from_toml.raw()


def test_stored_config_round_trips():
    cfg = Config.from_toml(CONFIGS / "smoke.toml")
    again = Config.from_dict(tomllib.loads(cfg.to_toml()))
    assert again.raw() == cfg.raw()


def test_missing_file_and_bad_toml_are_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        Config.from_toml(tmp_path / "nope.toml")
    bad = tmp_path / "broken.toml"
    bad.write_text("epochs = = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Config.from_toml(bad)


def test_network_parameters_are_validated_in_python():
    with pytest.raises(ConfigError, match=r"The 'learning_rate' parameter of Network must be"):
        Network(learning_rate=-1)
    with pytest.raises(ConfigError, match="Network has no parameter 'lr'"):
        Network(lr=0.1)


def test_every_config_in_the_repository_validates():
    from ibsim.config import load_configs

    counts = {path.stem: len(load_configs(path)) for path in sorted(Path(CONFIGS).rglob("*.toml"))}
    assert counts["cohort_5"] == 11 and counts["cohort_2"] == 6 and counts["tishby_tanh"] == 1


scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)
values = st.one_of(scalars, st.lists(scalars, max_size=4))
keys = st.text(alphabet=st.characters(categories=["L", "N"], include_characters="_-."), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, values, max_size=6))
def test_toml_writer_round_trips(document):
    assert tomllib.loads(dumps(document)) == document


@settings(max_examples=200, deadline=None)
@given(values)
def test_single_values_parse_back(value):
    from ibsim.toml_text import format_value

    assert parse_value(format_value(value)) == value


def test_each_estimator_spec_is_parsed_once(monkeypatch):
    """The config reads each estimator spec it is given once (one parse for the discretization check, the
    network's noise and the estimator's parameters), wherever a module imported the parser."""
    original, texts = spec_module.parse_spec, []

    def counting(text):
        texts.append(text)
        return original(text)

    for module in list(sys.modules.values()):
        if getattr(module, "parse_spec", None) is original:
            monkeypatch.setattr(module, "parse_spec", counting)
    given = ["knn", "kde_upper(variance=0.01)", "sp(samples=3)"]
    cfg = Config.from_dict({"estimator": given, "noise_std": 0.1, "discretization_range": 0.002})
    assert [texts.count(text) for text in given] == [1, 1, 1], texts
    assert cfg.estimator[2].startswith("sp(") and "noise_std=0.1" in cfg.estimator[2]
