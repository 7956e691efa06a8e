"""What JAX's persistent compilation cache (``backends/jax_compilation_cache.py``) saves a process
that loads a checkpoint and acts: the start of every resume, Ray rollout worker and notebook
kernel under ``KERAS_BACKEND=jax``.

Three fresh processes, one after another on the same machine: (1) the cache off
(``JAX_COMPILATION_CACHE_DIR=``), (2) an empty cache, which it fills, (3) the cache that (2)
filled. Each times its imports, ``load_checkpoint`` (Keras builds the agent and initialises its
weights, one XLA program per op and weight shape) and the first compiled acting pass, and checks
that the three compute the same logits. The ratios are (1) over (3); the 1-minute load average
is printed beside them.

    python benchmarks/bench_jax_compile_cache.py                        # the shipped Boxoban I2A
    python benchmarks/bench_jax_compile_cache.py --checkpoint assets/pretrained/model_free_boxoban.keras
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CHILD = textwrap.dedent('''
    import json, sys, time
    t0 = time.perf_counter()
    import numpy as np
    import i2a_keras, keras
    from i2a_keras.algos.a2c import draw_noise, make_acting_fn
    from i2a_keras.training.checkpoint import load_checkpoint
    t1 = time.perf_counter()
    agent = load_checkpoint(sys.argv[1], compile=False)[0]
    t2 = time.perf_counter()
    rng = np.random.default_rng(0)
    obs = np.eye(agent.observation_shape[-1], dtype=np.uint8)[
        rng.integers(0, agent.observation_shape[-1], (int(sys.argv[2]),) + agent.observation_shape[:2])]
    logits = make_acting_fn(agent)(obs, draw_noise(agent, len(obs), rng))[0]
    logits = np.asarray(logits)
    t3 = time.perf_counter()
    print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_act_s": t3 - t2,
                      "total_s": t3 - t0, "logits": logits.round(5).tolist()}))
''')


def _child(checkpoint: str, batch: int, cache_dir: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    env.update(KERAS_BACKEND="jax", JAX_COMPILATION_CACHE_DIR=cache_dir, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-c", _CHILD, checkpoint, str(batch)], env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=os.path.join(ROOT, "assets", "pretrained", "i2a_boxoban.keras"))
    p.add_argument("--batch", type=int, default=64, help="observations in the acting pass")
    args = p.parse_args(argv)
    if not os.path.exists(args.checkpoint):
        p.error(f"no checkpoint at {args.checkpoint}")
    with tempfile.TemporaryDirectory(prefix="jax_cache_bench_") as cache:
        runs = {"cache off": _child(args.checkpoint, args.batch, ""),
                "empty cache": _child(args.checkpoint, args.batch, cache),
                "warm cache": _child(args.checkpoint, args.batch, cache)}
        entries = len(os.listdir(cache))
    if not runs["cache off"]["logits"] == runs["empty cache"]["logits"] == runs["warm cache"]["logits"]:
        raise SystemExit("the three processes computed different logits")
    print(f"{os.path.basename(args.checkpoint)}, batch {args.batch}, {entries} cached programs, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'':12s} {'import':>8s} {'load':>8s} {'first act':>10s} {'total':>8s}")
    for name, r in runs.items():
        print(f"{name:12s} {r['import_s']:7.1f}s {r['load_s']:7.1f}s {r['first_act_s']:9.1f}s {r['total_s']:7.1f}s")
    off, warm = runs["cache off"], runs["warm cache"]
    print(f"off / warm: load {off['load_s'] / warm['load_s']:.1f}x, first act "
          f"{off['first_act_s'] / warm['first_act_s']:.1f}x, total {off['total_s'] / warm['total_s']:.1f}x")


if __name__ == "__main__":
    main()
