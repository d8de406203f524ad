"""Stable experiment ids in the catalog, and --where on list-valued keys and specs."""
from __future__ import annotations

import argparse
import dataclasses
import re
import shutil

import netCDF4
import pytest
import xarray as xr

from ibsim import Catalog, ConfigError, Experiment
from ibsim.catalog.cli import add_ls_command
from ibsim.catalog.query import canonical_spec, spec_matches, value_matches
from tests.conftest import CONFIGS

TINY = ["epochs=3", "n_runs=1", "architecture=[4,3]", "save_activations=false",
        'estimator=["binning(bin_size=0.07)", "kde_upper"]']
SAME_A, SAME_B, OTHER_SEED = "a/exp.nc", "b/deeper/exp_again.nc", "c/seed1.nc"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The same experiment written twice into different folders, and once with another seed."""
    root = tmp_path_factory.mktemp("ids")
    for relative, extra in ((SAME_A, []), (SAME_B, []), (OTHER_SEED, ["seed=1"])):
        Experiment.from_toml(CONFIGS / "smoke.toml", [*TINY, *extra]).run(root / relative).close()
    return root


def stored_id(path) -> str:
    with xr.open_dataset(path) as ds:
        return ds.attrs["experiment_id"]


def ls(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="ibsim")
    add_ls_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["ls", *argv])
    return args.handler(args)


# ----------------------------------------------------------------- the ids
def test_same_config_seed_and_data_give_the_same_id_anywhere(folder):
    catalog = Catalog(folder)
    assert catalog.relpaths == [SAME_A, SAME_B, OTHER_SEED]
    a, b, other = catalog.ids
    assert re.fullmatch(r"[0-9a-f]{12}", a)
    assert a == b == stored_id(folder / SAME_A) == stored_id(folder / SAME_B)  # written separately
    assert other != a and other == stored_id(folder / OTHER_SEED)  # only the seed differs


def test_ids_stay_when_files_move_and_the_folder_gains_files(folder, tmp_path):
    before = {p: i for p, i in zip(Catalog(folder).relpaths, Catalog(folder).ids)}
    root = tmp_path / "moved"
    shutil.copytree(folder, root)
    (root / "z").mkdir()
    shutil.move(root / OTHER_SEED, root / "z" / "renamed.nc")  # moved and renamed
    shutil.copyfile(root / SAME_A, root / "0_first.nc")  # a new first file in the listing
    (root / "00_junk.nc").write_bytes(b"not NetCDF\n")  # and an unreadable one
    catalog = Catalog(root)
    assert catalog.relpaths == ["00_junk.nc", "0_first.nc", SAME_A, SAME_B, "z/renamed.nc"]
    assert catalog["z/renamed.nc"].id == before[OTHER_SEED]
    assert catalog[SAME_A].id == catalog[SAME_B].id == catalog["0_first.nc"].id == before[SAME_A]
    junk = catalog["00_junk.nc"]
    assert junk.status == "unreadable" and re.fullmatch(r"[0-9a-f]{12}", junk.id)
    assert junk.id not in before.values()
    (root / "00_junk.nc").rename(root / "z" / "junk_moved.nc")
    assert Catalog(root)["z/junk_moved.nc"].id == junk.id  # a hash of its bytes, not of its place


def test_a_file_without_the_attribute_gets_its_id_from_the_stored_config(folder, tmp_path):
    old = tmp_path / "old.nc"
    shutil.copyfile(folder / OTHER_SEED, old)
    with netCDF4.Dataset(old, "a") as nc:
        nc.delncattr("experiment_id")
    with xr.open_dataset(old) as ds:
        assert "experiment_id" not in ds.attrs
    assert Catalog(tmp_path)["old.nc"].id == stored_id(folder / OTHER_SEED)


# ----------------------------------------------------------- by_id, [ ]
def test_by_id_takes_ids_prefixes_and_paths(folder):
    catalog = Catalog(folder)
    same, other = catalog[SAME_A].id, catalog[OTHER_SEED].id
    assert catalog.by_id(other).relpaths == [OTHER_SEED]
    assert catalog.by_id(other[:6]).relpaths == [OTHER_SEED]  # a unique prefix
    assert catalog.by_id(other.upper()[:8], same).relpaths == [OTHER_SEED, SAME_A, SAME_B]  # order given
    assert catalog.by_id([same[:4]]).relpaths == [SAME_A, SAME_B]  # both copies of the experiment
    assert catalog.by_id(SAME_B).relpaths == [SAME_B]  # by path
    assert catalog[other[:5]].relpath.as_posix() == OTHER_SEED
    with pytest.raises(ConfigError, match=r"shared by 2 files .*a/exp\.nc, b/deeper/exp_again\.nc"):
        catalog[same]
    assert catalog[SAME_A].name == "smoke"
    with catalog.results(other[:7]) as results:
        assert results.dataset.attrs["experiment_id"] == other
    with pytest.raises(ConfigError, match="ids are text"):
        catalog.by_id(0)
    with pytest.raises(ConfigError, match="no experiment with id"):
        catalog.by_id("g" * 12)
    with pytest.raises(ConfigError, match="no experiment at"):
        catalog["nowhere.nc"]


def test_an_ambiguous_prefix_is_refused(folder):
    catalog = Catalog(folder)
    entries = [dataclasses.replace(e, id=new) for e, new in zip(catalog, ("abc123000000", "abc999000000", "def0"))]
    fake = catalog._subset(entries, "test")
    with pytest.raises(ConfigError, match=r"prefix 'abc' is ambiguous.*abc123000000, abc999000000"):
        fake.by_id("abc")
    assert fake.by_id("abc1").ids == ["abc123000000"] and fake["abc9"].id == "abc999000000"


# ------------------------------------------------------------------ --where
def test_ls_shows_the_ids(folder, capsys):
    catalog = Catalog(folder)
    assert ls(str(folder)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["id", "name"]
    rows = {line.split()[0]: line for line in lines[1:4]}
    assert set(rows) == set(catalog.ids)
    assert OTHER_SEED in rows[catalog[OTHER_SEED].id]


def test_where_estimator_means_contains_and_compares_specs(folder, capsys):
    def listed(*where: str) -> list[str]:
        """The paths ls lists (the column before the last, the config's seed)."""
        ls(str(folder), "-q", "--keys", "seed", *[f"--where={w}" for w in where])
        out = capsys.readouterr().out
        return [] if out.startswith("no experiments") else [line.split()[-2] for line in out.splitlines()[1:]]

    everything = listed()
    assert everything == [SAME_A, SAME_B, OTHER_SEED]
    assert listed("estimator=binning(bin_size=0.07)") == everything  # one of two estimators
    assert listed("estimator=binning(bin_size = 7e-2)") == everything  # written otherwise
    assert listed("estimator=kde_upper(variance=0.07)") == everything
    assert listed("estimator=kde_upper") == everything  # a spec without parameters: any kde_upper
    assert listed("estimator=binning(bin_size=0.5)") == []
    assert listed("estimator=kde_lower") == []
    assert listed("estimator=binning(bin_size=0.07)", "seed=1") == [OTHER_SEED]
    assert listed('estimator=["kde_upper(variance=0.07)", "binning(bin_size=0.07)"]') == everything  # as a list
    assert listed('estimator=["binning(bin_size=0.07)"]') == []  # a list is compared as a whole


def test_estimates_added_to_a_file_count_for_estimator(folder):
    catalog = Catalog(folder)
    extended = dataclasses.replace(catalog[OTHER_SEED], estimators=(*catalog[OTHER_SEED].estimators,
                                                                    "binning(bin_size=0.5)"))
    fake = catalog._subset([catalog[SAME_A], extended], "test")
    assert fake.find(estimator="binning(bin_size=0.5)").ids == [extended.id]
    assert len(fake.find(estimator="binning(bin_size=0.07)")) == 2


def test_spec_matching_rules():
    stored = ["binning(bin_size=0.07)", "kde_upper(variance=0.001)"]
    assert value_matches(stored, "binning(bin_size=0.07)", "estimator")
    assert value_matches(stored, "binning( bin_size=7e-2 )", "estimator")
    assert value_matches(stored, "binning", "estimator")
    assert not value_matches(stored, "binning(bin_size=0.1)", "estimator")
    assert not value_matches(stored, "binning(bins=0.07)", "estimator")
    assert not value_matches(["binning(bin_size=0.07)"], "binning(bin_size = 7e-2)")  # not a spec key: text rules
    assert value_matches("harmonics", "var_u", "dataset")  # an alias of the same dataset
    assert value_matches('mnist(subset="all")', "mnist", "dataset")
    assert not value_matches('mnist(subset="all")', 'mnist(subset="test")', "dataset")
    assert value_matches([10, 7, 5], 7) and not value_matches([10, 7, 5], 4)  # lists contain
    assert not value_matches([10, 7, 5], [10, 7])
    assert spec_matches(stored, list(reversed(stored)), "estimator")
    assert canonical_spec("binning( bin_size = 7e-2 )", "estimator") == "binning(bin_size=0.07)"
