"""Cost per call and accuracy of environment-model variants, measured side by side in one run.

The environment model dominates the I2A's cost (paper Sec. 4.1: I2A is "less than an order of
magnitude slower per interaction" than the model-free baseline): every agent step runs
``rollout_length`` env-model calls on a batch of ``num_actions * num_envs`` imagined states. This
script times ``predict_next`` (inside ``tf.function``, float one-hot input as in the imagination
core) for each variant at that batch size, next to one forward pass of the model-free agent on
``num_envs`` observations, interleaving the variants round by round so that machine load hits
them alike. With ``--checkpoint NAME=PATH`` (trained models) and ``--eval-data DIR`` it also
reports held-out one-step and open-loop accuracies (``i2a_keras.training.env_model_eval``).

    python benchmarks/bench_env_model.py                        # cost only, 7x7 one-hot
    python benchmarks/bench_env_model.py --eval-data data/em_small_eval \\
        --checkpoint compact=runs/env_model_small/checkpoints/latest.keras \\
        --checkpoint paper_size=runs/env_model_small_paper_size/checkpoints/latest.keras
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

import i2a_keras  # noqa: E402,F401
import tensorflow as tf  # noqa: E402

from i2a_keras.models import build_agent  # noqa: E402
from i2a_keras.models.env_model import (CopyModel, EnvModel, EnvModelConfig, count_params,  # noqa: E402
                                        load_env_model)

VARIANTS = {name: EnvModelConfig.preset(name).to_dict() for name in ("small", "compact32", "paper_size")}


def _timeit(fn, args, rounds):
    fn(*args)  # trace
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        out = fn(*args)
        np.asarray(out[0] if isinstance(out, tuple) else out["logits"])
        times.append(time.perf_counter() - t)
    return times


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dim", type=int, default=7, help="room size (one-hot H = W)")
    p.add_argument("--num-envs", type=int, default=16)
    p.add_argument("--num-actions", type=int, default=5)
    p.add_argument("--rollout-length", type=int, default=5)
    p.add_argument("--rounds", type=int, default=30, help="timed calls per variant per repeat")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--checkpoint", action="append", default=[], metavar="NAME=PATH")
    p.add_argument("--eval-data", default=None, help="held-out transition data set(s), comma-separated")
    p.add_argument("--eval-samples", type=int, default=20000, help="one-step transitions evaluated")
    p.add_argument("--eval-windows", type=int, default=2000, help="open-loop windows evaluated")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)

    shape = (args.dim, args.dim, 7)
    batch = args.num_envs * args.num_actions
    rng = np.random.default_rng(0)
    obs = tf.constant(np.eye(7, dtype=np.float32)[rng.integers(0, 7, (batch, args.dim, args.dim))])
    actions = tf.constant(rng.integers(0, args.num_actions, batch), tf.int32)

    models = {}
    for name, over in VARIANTS.items():
        cfg = EnvModelConfig(**{**over, "obs_shape": shape, "num_actions": args.num_actions,
                                "branch_channels": tuple(over["branch_channels"])})
        models[name] = EnvModel.from_env_model_config(cfg)
    models["copy"] = CopyModel(obs_shape=shape, num_actions=args.num_actions)
    trained = dict(item.split("=", 1) for item in args.checkpoint)
    for name, path in trained.items():
        models[name] = load_env_model(path)

    agent = build_agent("model-free", shape, args.num_actions)
    agent_fn = tf.function(lambda o: agent(o, training=False))
    agent_obs = obs[: args.num_envs]
    fns = {name: tf.function(lambda o, a, m=m: m.predict_next(o, a)) for name, m in models.items()}

    times = {name: [] for name in list(fns) + ["model_free"]}
    for _ in range(args.repeats):  # interleave: every variant sees the same machine load
        for name, fn in fns.items():
            times[name] += _timeit(fn, (obs, actions), args.rounds)
        times["model_free"] += _timeit(agent_fn, (agent_obs,), args.rounds)
    mf = float(np.median(times["model_free"]))

    accuracy = {}
    if args.eval_data:
        from i2a_keras.training.collect import load_transitions
        from i2a_keras.training.env_model_eval import evaluate_env_model
        data, _ = load_transitions(args.eval_data)
        for name in trained:
            accuracy[name] = evaluate_env_model(models[name], data, args.rollout_length, args.eval_samples,
                                                args.eval_windows)
        accuracy["copy"] = evaluate_env_model(models["copy"], data, args.rollout_length, args.eval_samples,
                                              args.eval_windows)

    rows = []
    print(f"# env-model cost: batch {batch} (= {args.num_actions} actions x {args.num_envs} envs), "
          f"{args.dim}x{args.dim} one-hot, median of {args.rounds * args.repeats} calls; "
          f"model-free forward (batch {args.num_envs}) = {mf * 1e3:.2f} ms")
    print("| variant | params | ms / call | calls per I2A step | env-model ms / I2A step | "
          "/ model-free forward | 1-step cell acc | changed-cell acc | reward acc (non-step) | "
          f"{args.rollout_length}-step frame acc |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, m in models.items():
        t = float(np.median(times[name]))
        acc = accuracy.get(name, {})
        fmt = lambda key, i=None: ("-" if key not in acc else  # noqa: E731
                                   f"{(acc[key][i] if i is not None else acc[key]):.4f}")
        row = {"variant": name, "params": count_params(m), "ms_per_call": t * 1e3,
               "ms_per_i2a_step": t * 1e3 * args.rollout_length,
               "ratio_to_model_free_forward": t * args.rollout_length / mf, **acc}
        rows.append(row)
        print(f"| {name} | {row['params']} | {t * 1e3:.2f} | {args.rollout_length} | "
              f"{row['ms_per_i2a_step']:.1f} | {row['ratio_to_model_free_forward']:.1f}x | {fmt('cell_acc')} | "
              f"{fmt('changed_cell_acc')} | {fmt('reward_acc_nonstep')} | "
              f"{fmt('rollout_frame_acc', args.rollout_length - 1)} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"model_free_ms": mf * 1e3, "batch": batch, "rows": rows}, fh, indent=2)
    return rows


if __name__ == "__main__":
    main()
