"""Test-session settings: the tests' own JAX compilation cache (not the user's ~/.cache).

Set before ``i2a_keras`` is imported; xdist workers inherit it from the controller, so the
workers and their subprocesses (JAX trainers, Ray workers) share the programs they compile. The
folder, ``.pytest_cache/i2a_keras_jax`` in the repository (git ignores it), outlives the run, so
the CI command's second pytest run (the Ray tests) and later local runs reuse what the first
compiled. JAX keys every entry by the program and by JAX's own version, so an entry is never
reused for a changed program; delete the folder to reclaim its space.
"""
import os

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".pytest_cache", "i2a_keras_jax")
