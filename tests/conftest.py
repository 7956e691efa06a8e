"""Test-session settings: one JAX compilation cache per test run (not the user's ~/.cache).

Set before ``i2a_keras`` is imported; xdist workers inherit it from the controller, so the
workers and their subprocesses (JAX trainers, Ray workers) share the programs they compile.
"""
import os
import shutil
import tempfile

_CREATED = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _CREATED = os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="i2a_keras_jax_cache_")


def pytest_unconfigure(config):
    if _CREATED:
        shutil.rmtree(_CREATED, ignore_errors=True)
