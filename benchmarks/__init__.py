"""Speed benchmarks: ibsim against the peers' methods, measured in the same run.

Run ``python -m benchmarks --help``. Results are ratios (baseline time / ibsim
time), because the machines are shared and absolute times are noisy; nothing
here is a timed assertion.
"""
