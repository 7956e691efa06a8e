"""JAX's persistent compilation cache, on by default for i2a_keras (KERAS_BACKEND=jax).

Under JAX, Keras initialises every weight and runs every eager op through its own XLA program.
Building even a tiny I2A compiles ~300 of them (half a minute on a 2-core CPU), in every process:
the trainer, each Ray rollout worker, a resume, a notebook kernel. JAX can keep compiled programs
on disk and reuse them across processes: a cache hit runs the program a fresh compile would have
built. This module points JAX at ``$XDG_CACHE_HOME/i2a_keras/jax`` (``~/.cache/i2a_keras/jax``)
and caches every program, however quick to compile. A user's own ``JAX_COMPILATION_CACHE_DIR`` (or
``JAX_PERSISTENT_CACHE_*`` setting) wins; ``JAX_COMPILATION_CACHE_DIR=`` (empty) turns the cache
off. The folder is safe to delete at any time.

Imports nothing heavy: :func:`configure` runs on ``import i2a_keras``, before JAX is imported when
it can (JAX reads these settings from the environment), and updates JAX's config when JAX was
imported first.
"""
from __future__ import annotations

import os
import sys

__all__ = ["DIR_VAR", "SETTINGS", "default_dir", "configure", "environment"]

DIR_VAR = "JAX_COMPILATION_CACHE_DIR"
# JAX's names (each also a ``JAX_...`` environment variable): cache every compiled program.
SETTINGS = {"jax_persistent_cache_min_compile_time_secs": "0",
            "jax_persistent_cache_min_entry_size_bytes": "0"}


def default_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "i2a_keras", "jax")


def configure() -> str:
    """Turn the cache on unless the user turned it off; returns the directory in use ('' = off).

    Sets the ``JAX_...`` environment variables that the user has not set (read by JAX when it is
    imported, here and in child processes such as Ray workers); if JAX is already imported and
    has no cache directory, updates its config too, which takes effect unless JAX has already
    compiled a program.
    """
    directory = os.environ.setdefault(DIR_VAR, default_dir())
    if not directory:
        return ""
    ours = {name: value for name, value in SETTINGS.items() if name.upper() not in os.environ}
    for name, value in ours.items():
        os.environ[name.upper()] = value
    if "jax" in sys.modules:
        import jax

        if not jax.config.values["jax_compilation_cache_dir"]:
            jax.config.update("jax_compilation_cache_dir", directory)
        for name, value in ours.items():
            jax.config.update(name, type(jax.config.values[name])(value))
    return directory


def environment() -> dict:
    """The cache's ``JAX_...`` variables as this process has them, for a child process's
    environment (e.g. a Ray worker's ``runtime_env``)."""
    names = (DIR_VAR,) + tuple(name.upper() for name in SETTINGS)
    return {name: os.environ[name] for name in names if name in os.environ}
