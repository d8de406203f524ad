"""Shared fixtures: the read-only datasets folder, small configs, temp outputs."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


def shared_datasets() -> Path | None:
    """The read-only shared datasets folder (``../shared/datasets`` beside the
    repository, or ``$IBSIM_SHARED_DATASETS``), or None when absent."""
    candidates = [os.environ.get("IBSIM_SHARED_DATASETS"), REPO.parent / "shared" / "datasets"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.fixture
def shared_data() -> Path:
    path = shared_datasets()
    if path is None:
        pytest.skip("the shared datasets folder (../shared/datasets) is not available")
    return path


@pytest.fixture(autouse=True)
def _quiet_tensorflow(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")


# --------------------------------------------------------------------------------------------------
# Test tiers. ``python -m pytest`` runs everything (what CI runs); ``python -m pytest -m "not slow"``
# is the fast tier (under 90 s on 2 cores). Tests are marked slow here, in one table, by measuring
# (``python -m pytest --durations=0``), rather than in the test files.
# --------------------------------------------------------------------------------------------------

#: Marked ``slow``: a test file, a test (``path::name``, all its parameters) or one case
#: (``path::name[params]``), relative to the repository. Seconds: setup + call, measured on 2 busy cores. When
#: a test leaves, its fixture's cost (or TensorFlow's tracing of a network shape) may move to
#: the next test that shares it: measure again after a change.
SLOW: dict[str, str] = {
    # whole files
    "tests/reproductions/test_reproductions.py": "306 s: the reproductions, with confidence intervals",
    "tests/reproductions/test_wickstrom.py": "25 s (digits) + 200 s (MNIST, with the shared data): conv nets, Rényi",
    "tests/reproductions/test_goldfeld.py": "the noisy-network reproduction --quick",
    "tests/reproductions/test_chelombiev.py": "the adaptive-estimator reproduction --quick",
    "tests/reproductions/test_dispute.py": "the dispute table --quick (every estimator)",
    "tests/test_compiled_trainer.py::test_a_compiled_job_never_imports_tensorflow": "15-30 s: a job in a subprocess",
    "tests/test_file_storage.py::test_zstd_survives_tensorflow_imported_first": "10-30 s: TensorFlow's import",
    "tests/faults/test_parallel_faults.py": "75 s: kills a joblib worker and an MPI rank, then resumes",
    "tests/faults/test_early_stop_parts.py": "4 s: early-stopped runs, then a resumed group",
    # training and resuming, in several processes
    "tests/faults/test_resume.py::test_killed_run_resumes_bitwise_identical": "71 s",
    "tests/faults/test_resume.py::test_resume_keeps_completed_groups": "27 s",
    "tests/faults/test_resume.py::test_a_fresh_run_clears_an_interrupted_one": "23 s",
    "tests/faults/test_resume.py::test_resume_with_another_config_is_refused": "22 s",
    "tests/parallel/test_sweeps.py::test_a_sweep_runs_as_one_pool_and_matches_each_point_alone": "57 s",
    "tests/parallel/test_sweeps.py::test_a_seed_cohort_runs": "55 s",
    "tests/parallel/test_sweeps.py::test_a_folder_runs_every_config_below_it": "4 s",
    "tests/parallel/test_backends.py::test_mpi_estimate_matches_serial": "44 s",
    "tests/test_own_data.py::test_joblib_writes_the_same_numbers": "42 s: the first joblib pool",
    "tests/test_own_data.py::test_mpi_writes_the_same_numbers": "30 s: mpiexec -n 2 of a script",
    "tests/test_plugins.py::test_the_plugins_key_runs_the_example_bitwise_equal_under_joblib": "68 s: serial + joblib",
    "tests/test_plugins.py::test_own_estimator_and_plot_on_the_command_line": "shares the plug-in runs",
    "tests/test_plugins.py::test_results_config_does_not_import_plugins": "shares the plug-in runs",
    "tests/test_keras_model.py::test_two_jobs_equal_serial": "42 s: starting the joblib workers",
    "tests/test_noisy_network.py::test_two_workers_write_the_numbers_of_a_serial_noisy_run": "40 s: joblib workers",
    "tests/test_noisy_network.py::test_a_noisy_run_does_not_depend_on_its_group": "20 s: two programs compiled",
    "tests/test_keras_model.py::test_resume_equals_an_uninterrupted_run": "10-15 s: two Keras runs",
    "tests/parallel/test_backends.py::test_joblib_writes_the_same_numbers": "37 s with the serial run",
    "tests/parallel/test_backends.py::test_mpi_writes_the_same_numbers": "7 s (2 and 3 ranks)",
    "tests/test_catalog.py::test_catalog_lists_runs_without_a_finished_file": "26 s: a run killed by SIGKILL",
    "tests/test_catalog.py::test_ls_says_what_to_do_about_unfinished_runs": "shares the killed run",
    "tests/test_progress.py::test_a_run_logged_to_a_file_writes_a_few_plain_lines": "15-25 s: ibsim run, 200 epochs",
    # resources and faults
    "tests/faults/test_resources.py::test_memory_does_not_grow_with_recorded_epochs": "14 s",
    "tests/faults/test_resources.py::test_estimates_are_on_the_safe_side": "8 s",
    "tests/faults/test_sizes.py::test_under_a_memory_limit_the_refusal_is_clean": "13 s",
    "tests/faults/test_atomic.py::test_a_write_that_fails_half_way_leaves_no_file": "6 s",
    "tests/faults/test_atomic.py::test_a_failed_run_keeps_the_previous_file": "6 s",
    "tests/faults/test_disk_full.py::test_disk_full_during_training": "6 s",
    "tests/faults/test_disk_full.py::test_disk_full_while_writing_the_results_file": "6 s",
    "tests/faults/test_disk_full.py::test_the_resume_check_counts_what_is_on_disk": "4 s",
    "tests/faults/test_foreign_parts.py::test_an_interrupted_own_folder_is_still_cleared": "5 s, with the next",
    "tests/faults/test_paths.py::test_output_naming_an_existing_folder_writes_inside_it": "the same 1-run shape",
    **{f"tests/faults/test_divergence.py::{name}": "3-4 s each; the first four share a run that diverges"
       for name in ("test_diverged_runs_are_flagged_and_the_rest_complete",
                    "test_means_leave_diverged_runs_out_with_a_warning",
                    "test_estimators_refuse_nan_naming_run_epoch_and_layer",
                    "test_training_names_the_diverged_runs_in_one_line_per_group",
                    "test_the_others_are_exactly_what_they_would_be_alone",
                    "test_training_says_nothing_when_no_run_diverges",
                    "test_run_exits_3_naming_the_file_when_every_run_diverged",
                    "test_run_exits_0_when_some_runs_survive")},
    # experiments run end to end (each new network shape costs 2-3 s of TensorFlow tracing)
    **{f"tests/test_end_to_end.py::{name}": "10 s: ibsim run of the smoke config with plots, shared"
       for name in ("test_file_reopens_with_plain_xarray", "test_information_is_within_its_bounds",
                    "test_metrics_are_recorded", "test_plot_and_no_leftovers", "test_results_api")},
    **{f"tests/test_splits.py::{name}": "8 s: four runs, one per split choice, shared"
       for name in ("test_each_split_equals_a_run_of_that_split_alone", "test_the_file_says_which_sample_is_which",
                    "test_a_full_data_file_is_reestimated_on_either_split",
                    "test_reestimating_a_file_of_several_splits_fills_each",
                    "test_splits_a_file_did_not_record_are_refused", "test_results_select_a_split",
                    "test_loss_and_accuracy_after_every_epoch", "test_compression_of_each_split")},
    "tests/test_splits.py::test_the_training_metrics_are_the_mini_batch_means": "4 s",
    "tests/estimators/test_sp_error.py::test_two_jobs_deferred_equal_serial_inline_bitwise": "39 s: joblib workers",
    "tests/estimators/test_sp_error.py::test_mpi_equals_serial_bitwise": "40 s: mpiexec -n 2, run and estimate",
    "tests/estimators/test_binning_weighted.py::test_pipeline_inline_and_deferred_agree": "13 s, with the next two",
    "tests/estimators/test_binning_weighted.py::test_pipeline_uses_the_networks_own_edges": "their shared runs",
    "tests/estimators/test_binning_weighted.py::test_reestimating_a_file_is_refused_clearly": "their shared runs",
    "tests/analysis/test_compression.py::test_a_real_results_file": "12 s",
    "tests/plots/test_plots.py::test_plots_of_a_tiny_real_experiment": "12 s",
    "tests/test_provenance.py::test_cli_run_in_a_dirty_repository_records_everything": "10 s",
    "tests/test_provenance.py::test_run_in_a_clean_repository_records_warnings_and_diverged_runs": "2 s",
    "tests/test_estimate_command.py::test_estimates_live_side_by_side": "7 s",
    "tests/test_datasets.py::test_mnist_experiment_end_to_end": "5 s",
    "tests/test_ensemble.py::test_a_run_does_not_depend_on_its_group": "7 s",
    "tests/test_ensemble.py::test_the_same_experiment_gives_the_same_numbers": "4 s: three runs, with the next",
    "tests/test_ensemble.py::test_runs_differ_from_each_other": "shares the three runs",
    "tests/test_ensemble.py::test_training_follows_keras": "3 s per optimizer",
    "tests/test_ensemble.py::test_max_norm_bounds_every_neuron": "2 s",
    "tests/test_ensemble.py::test_frozen_runs_stop_changing": "1.5 s",
    "tests/test_model_options.py::test_every_activation_trains": "2-3 s per activation (11)",
    "tests/test_model_options.py::test_batchnorm_depends_on_the_group_size_only_in_the_last_digits": "10 s",
    "tests/test_model_options.py::test_early_stopping_stops_the_right_runs": "3.5 s",
    "tests/test_model_options.py::test_batchnorm_follows_keras": "3 s",
    "tests/test_model_options.py::test_tensorboard_export": "3-4 s",
    "tests/test_model_options.py::test_gradient_variables_in_results": "2.5 s",
    "tests/test_model_options.py::test_gradient_statistics_match_per_batch_gradients": "1.5 s",
    # conv nets: XLA compiles each network, group size and batch shape anew (10-40 s on 2 busy cores)
    "tests/test_conv.py::test_the_sizes_of_a_dry_run_are_what_is_recorded": "60 s: the tiny conv run (CLI), shared",
    "tests/test_conv.py::test_a_conv_run_on_digits_end_to_end": "shares the tiny conv run",
    "tests/test_conv.py::test_two_workers_write_the_numbers_of_a_serial_run": "25 s: two joblib workers",
    "tests/test_conv.py::test_two_mpi_ranks_write_the_numbers_of_a_serial_run": "40 s: two MPI ranks compile the net",
    "tests/test_conv.py::test_a_run_does_not_depend_on_its_group": "50 s: three groups compiled and trained",
    "tests/test_conv.py::test_dropout_is_per_run_and_only_in_training": "24 s",
    "tests/test_conv.py::test_training_follows_keras": "15 s per optimizer",
    "tests/test_conv.py::test_widths_and_parameters_are_keras": "7-30 s: imports Keras",
    "tests/test_conv.py::test_channel_summaries_are_the_full_recording_pooled": "5 s",
    # movies (GIF and MP4 encoding)
    "tests/plots/test_plots.py::test_movie_writes_a_gif_when_asked": "2 s",
    "tests/plots/test_plots.py::test_movie_falls_back_to_a_gif_without_ffmpeg": "2 s",
    "tests/plots/test_plots.py::test_movie_writes_an_mp4_with_a_frame_per_epoch": "2 s",
    "tests/plots/test_bands.py::test_movie_gif_frames_show_the_strip": "2 s",
}

#: Meaningful only at the full tier's sizes (they count what the full-size tests tried).
FULL_SIZE_ONLY = {
    "tests/faults/test_validation.py::test_enough_inputs_were_tried",
}

#: Hypothesis examples per property test in the fast tier (the full tier keeps each test's own count).
FAST_EXAMPLES = 100

try:
    from hypothesis import settings as _hypothesis_settings
except ImportError:  # pragma: no cover - hypothesis comes with the test extra
    _hypothesis_settings = None
else:
    _hypothesis_settings.register_profile("full")
    _hypothesis_settings.register_profile("fast", max_examples=FAST_EXAMPLES)


def selected_tier(config: pytest.Config) -> str:
    """``"fast"`` or ``"full"``: ``$IBSIM_TEST_TIER`` if set, else fast when ``-m`` deselects slow tests."""
    chosen = os.environ.get("IBSIM_TEST_TIER", "").strip().lower()
    if chosen in ("fast", "full"):
        return chosen
    markexpr = " ".join((config.getoption("markexpr", "") or "").split())
    return "fast" if "not slow" in markexpr else "full"


def _slow_entry(nodeid: str) -> str | None:
    """The entry of :data:`SLOW` that covers ``nodeid``, if any."""
    name = nodeid.split("[", 1)[0]
    for key in (nodeid, name, nodeid.split("::", 1)[0]):
        if key in SLOW:
            return key
    return None


def pytest_configure(config: pytest.Config) -> None:
    config._ibsim_tier = selected_tier(config)  # type: ignore[attr-defined]
    if _hypothesis_settings is not None and not config.getoption("hypothesis_profile", None):
        _hypothesis_settings.load_profile(config._ibsim_tier)  # type: ignore[attr-defined]
    if os.environ.get("IBSIM_MODULE_REPORT"):
        _ModuleReport.start(config)


@pytest.hookimpl(tryfirst=True)  # before -m deselects by the marks added here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    fast = getattr(config, "_ibsim_tier", "full") == "fast"
    cap = _hypothesis_settings.default.max_examples if _hypothesis_settings is not None else None
    for item in items:
        if _slow_entry(item.nodeid) is not None:
            item.add_marker(pytest.mark.slow)
        if not fast:
            continue
        if item.nodeid.split("[", 1)[0] in FULL_SIZE_ONLY:
            item.add_marker(pytest.mark.skip(reason="counts the full tier's examples"))
        # A property test's own @settings(max_examples=...) wins over any profile: cap it for the fast
        # tier on the wrapper Hypothesis reads it from (the full tier leaves it alone).
        function = getattr(item, "obj", None)
        own = getattr(function, "_hypothesis_internal_use_settings", None)
        if cap is not None and getattr(function, "is_hypothesis_test", False) and own is not None \
                and own.max_examples > cap:
            function._hypothesis_internal_use_settings = _hypothesis_settings(own, max_examples=cap)


def pytest_report_header(config: pytest.Config) -> str:
    tier = getattr(config, "_ibsim_tier", "full")
    return f"ibsim test tier: {tier} (hypothesis profile {_hypothesis_settings.get_current_profile_name()!r})" \
        if _hypothesis_settings is not None else f"ibsim test tier: {tier}"


class _ModuleReport:
    """``IBSIM_MODULE_REPORT=FILE``: which ibsim modules the tests import and run code of.

    Records, in this process, every ibsim function called (a global trace function, so the tests run
    slower); at the end writes one line per module to FILE and a summary to the terminal. Work done
    in subprocesses (the CLI tests, joblib workers, MPI ranks) is not seen. tests/test_tiers.py's
    import-everything test skips itself meanwhile, so that what is reported is what the other tests
    reach.
    """

    package = str(REPO / "ibsim")
    called: set[tuple[str, str]] = set()

    @classmethod
    def start(cls, config: pytest.Config) -> None:
        import sys
        import threading

        called, prefix = cls.called, cls.package

        def trace(frame, event, arg):  # noqa: ANN001
            code = frame.f_code
            if code.co_filename.startswith(prefix):
                called.add((code.co_filename, code.co_name))
            return None

        sys.settrace(trace)
        threading.settrace(trace)
        config._ibsim_module_report = cls  # type: ignore[attr-defined]

    @classmethod
    def rows(cls) -> list[tuple[str, bool, int, int]]:
        """``(module, imported, functions run, functions defined)`` for every ibsim module."""
        import pkgutil
        import sys

        import ibsim

        rows = []
        for info in sorted(pkgutil.walk_packages(ibsim.__path__, "ibsim."), key=lambda i: i.name):
            spec = info.module_finder.find_spec(info.name)  # type: ignore[union-attr]
            origin = spec.origin if spec else None
            defined = set()
            if origin and origin.endswith(".py"):
                stack = [compile(Path(origin).read_text(), origin, "exec")]
                while stack:
                    code = stack.pop()
                    stack.extend(c for c in code.co_consts if hasattr(c, "co_code"))
                    if code.co_name != "<module>":
                        defined.add(code.co_name)
            run = {name for file, name in cls.called if file == origin and name != "<module>"}
            rows.append((info.name, info.name in sys.modules, len(run), len(defined)))
        return rows

    @classmethod
    def finish(cls, terminal) -> None:  # noqa: ANN001
        import sys

        sys.settrace(None)
        rows = cls.rows()
        lines = [f"{name}\t{'imported' if imported else 'NOT IMPORTED'}\t{run}/{defined} functions run"
                 for name, imported, run, defined in rows]
        Path(os.environ["IBSIM_MODULE_REPORT"]).write_text("\n".join(lines) + "\n")
        missing = [name for name, imported, _, _ in rows if not imported]
        idle = [name for name, imported, run, defined in rows if imported and defined and not run]
        terminal.write_line(
            f"ibsim modules: {len(rows) - len(missing)}/{len(rows)} imported by the tests in this process, "
            f"{len(rows) - len(missing) - len(idle)} with code run beyond the import; "
            f"not imported: {', '.join(missing) or 'none'}; imported only: {', '.join(idle) or 'none'}"
        )


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    report = getattr(config, "_ibsim_module_report", None)
    if report is not None:
        report.finish(terminalreporter)
