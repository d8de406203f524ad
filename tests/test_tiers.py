"""The test tiers (tests/conftest.py): the fast tier imports every module; the slow table is sound."""
from __future__ import annotations

import importlib
import os
import pkgutil
import re
import runpy
import sys

import pytest

import ibsim
from tests import conftest
from tests.conftest import REPO


def ibsim_modules() -> list[str]:
    return sorted(info.name for info in pkgutil.walk_packages(ibsim.__path__, "ibsim."))


def test_every_module_of_the_package_imports(monkeypatch, capsys):
    if os.environ.get("IBSIM_MODULE_REPORT"):
        pytest.skip("IBSIM_MODULE_REPORT measures what the other tests import")
    names = ibsim_modules()
    assert len(names) > 50 and "ibsim.progress" in names
    for name in names:
        if name == "ibsim.__main__":  # runs the command line when imported: run it the way python -m does
            monkeypatch.setattr(sys, "argv", ["ibsim", "--help"])
            with pytest.raises(SystemExit) as stopped:
                runpy.run_module("ibsim", run_name="__main__")
            assert stopped.value.code == 0
            assert "run" in capsys.readouterr().out
        else:
            assert importlib.import_module(name).__name__ == name


def test_the_slow_table_names_tests_that_exist():
    for entry in list(conftest.SLOW) + sorted(conftest.FULL_SIZE_ONLY):
        path, _, rest = entry.partition("::")
        assert (REPO / path).is_file(), entry
        if rest:
            name = re.split(r"[\[:]", rest)[-1] if "::" in rest else rest.split("[", 1)[0]
            assert re.search(rf"def {re.escape(name)}\b", (REPO / path).read_text()), entry


def test_the_tier_sizes_the_property_tests(request):
    from hypothesis import settings

    tier = conftest.selected_tier(request.config)
    if request.config.getoption("hypothesis_profile", None):
        pytest.skip("a Hypothesis profile was chosen on the command line")
    assert settings.get_current_profile_name() == tier
    if tier == "fast":
        assert settings.default.max_examples == conftest.FAST_EXAMPLES
    # a test's own @settings(max_examples=1200) is capped in the fast tier, kept in the full one
    for item in request.session.items:
        if item.nodeid == "tests/faults/test_validation.py::test_random_configs_are_accepted_or_refused_cleanly":
            own = item.obj._hypothesis_internal_use_settings
            assert own.max_examples == (conftest.FAST_EXAMPLES if tier == "fast" else 1200)
