"""Under KERAS_BACKEND=jax, importing i2a_keras turns on JAX's persistent compilation cache
(backends/jax_compilation_cache.py), so a second process reuses the programs the first compiled."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("jax")

_SCRIPT = textwrap.dedent('''
    import collections, json, os, sys
    if sys.argv[1] == "jax-first":
        import jax
    import i2a_keras
    import jax, keras
    from i2a_keras.backends import jax_compilation_cache
    events = collections.Counter()
    jax.monitoring.register_event_listener(lambda name, **kw: events.update([name]))
    keras.utils.set_random_seed(0)
    layer = keras.layers.Dense(3)
    out = layer(keras.ops.ones((2, 4)))
    print(json.dumps({"dir": jax.config.values["jax_compilation_cache_dir"],
                      "returned": jax_compilation_cache.configure(),
                      "out": keras.ops.convert_to_numpy(out).tolist(),
                      "hits": events["/jax/compilation_cache/cache_hits"],
                      "misses": events["/jax/compilation_cache/cache_misses"]}))
''')


def _run(tmp_path, order, **env):
    base = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    env = {**base, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "XDG_CACHE_HOME": str(tmp_path), **env}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, order], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_second_process_reuses_the_compiled_programs_and_the_user_can_turn_it_off(tmp_path):
    cache = tmp_path / "i2a_keras" / "jax"
    first = _run(tmp_path, "jax-first")  # JAX imported before i2a_keras: its config is updated
    assert first["dir"] == first["returned"] == str(cache)
    assert first["misses"] > 0 and first["hits"] == 0 and len(os.listdir(cache)) >= first["misses"]
    second = _run(tmp_path, "i2a-first")  # i2a_keras first: JAX reads the environment
    assert second["dir"] == str(cache) and second["misses"] == 0 and second["hits"] >= first["misses"]
    assert second["out"] == first["out"]
    entries = sorted(os.listdir(cache))
    off = _run(tmp_path / "off", "i2a-first", JAX_COMPILATION_CACHE_DIR="")
    assert not off["dir"] and off["returned"] == "" and off["hits"] == off["misses"] == 0
    assert not (tmp_path / "off" / "i2a_keras").exists() and sorted(os.listdir(cache)) == entries
    own = _run(tmp_path, "jax-first", JAX_COMPILATION_CACHE_DIR=str(tmp_path / "mine"))
    assert own["dir"] == str(tmp_path / "mine") and own["misses"] > 0


def test_ray_workers_get_the_trainers_cache_settings(monkeypatch, tmp_path):
    from i2a_keras.algos.ray_workers import _worker_env_vars

    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
    env = _worker_env_vars()
    assert env["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path)
    assert env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0.5"
    assert json.dumps(env)  # Ray's runtime_env takes strings only
