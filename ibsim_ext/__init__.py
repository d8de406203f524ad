"""Compiled kernels of ibsim (private: call them through ibsim.estimators.kernels)."""
