"""A2C training throughput (env frames/s) on the batched Sokoban env, measured side by side.

Reports, in one run on the same machine: (1) the vector env alone with random actions, (2) the
rollout (env + one compiled acting call per step + numpy action sampling), (3) full A2C
training (rollout + compiled update), under the Keras backend in use. Goal (issue 3): >= 5k frames/s for training on
10x10 one-hot Sokoban on the 2-core CPU machine.

    python benchmarks/bench_a2c.py                        # 10x10, 4 boxes, one-hot, 5 actions
    python benchmarks/bench_a2c.py --dim 7 --boxes 2 --num-envs 32 --seconds 10
    python benchmarks/bench_a2c.py --preset boxoban --mixed-precision off bfloat16   # side by side
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def _timed(fn, frames_per_call, seconds, warmup=3):
    for _ in range(warmup):
        fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n * frames_per_call / (time.perf_counter() - start)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, default=10)
    p.add_argument("--boxes", type=int, default=4)
    p.add_argument("--observation", default="one_hot")
    p.add_argument("--action-set", default="compact")
    p.add_argument("--num-envs", type=int, default=64)
    p.add_argument("--num-steps", type=int, default=5)
    p.add_argument("--agent", default="model-free")
    p.add_argument("--preset", default=None, choices=("small", "boxoban"),
                   help="take env, network and A2C settings from this model-free preset (the "
                        "flags above are then ignored except --num-envs/--num-steps if given)")
    p.add_argument("--network", default="preset", choices=("preset", "standard"),
                   help="with --preset: the preset's network, or the standard 2-conv grid network")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                   help="with --preset: config overrides, e.g. model.residual=true "
                        "model.conv_filters=32,32,32,32,32,32 model.strides=1,1,1,1,1,1")
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--threads", type=int, default=0, help="TF intra/inter-op threads (0 = default)")
    p.add_argument("--mixed-precision", nargs="+", default=["off"],
                   choices=("off", "float16", "bfloat16"),  # run.mixed_precision's values
                   help="dtype settings (run.mixed_precision) to time side by side, alternating")
    p.add_argument("--rounds", type=int, default=1,
                   help="with several --mixed-precision settings: alternations of the timings")
    args = p.parse_args(argv)

    if args.threads:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras
    from i2a_keras.algos.a2c import A2CConfig, A2CLearner, RolloutRunner, make_optimizer
    from i2a_keras.models import build_agent
    from i2a_keras.training.actor_critic import make_env
    from i2a_keras.training.config import MIXED_PRECISION_POLICIES, EnvConfig

    model_cfg = None
    if args.preset:
        import dataclasses
        from i2a_keras.training.config import apply_overrides, model_free_preset
        preset = apply_overrides(model_free_preset(args.preset), args.set)
        env_cfg = preset.env
        model_cfg = preset.model if args.network == "preset" else None
        explicit = {k: v for k, v in (("num_envs", args.num_envs), ("num_steps", args.num_steps))
                    if f"--{k.replace('_', '-')}" in (argv if argv is not None else sys.argv)}
        cfg = dataclasses.replace(preset.a2c, **explicit)
        args.dim, args.boxes, args.observation = env_cfg.dim_room[0], env_cfg.num_boxes, env_cfg.observation
    elif args.set:
        p.error("--set needs --preset")
    else:
        env_cfg = EnvConfig(dim_room=(args.dim, args.dim), num_boxes=args.boxes,
                            max_steps=120 if args.dim >= 10 else 50, observation=args.observation,
                            action_set=args.action_set)
        cfg = A2CConfig(num_envs=args.num_envs, num_steps=args.num_steps)
    env = make_env(env_cfg, cfg.num_envs, "train", 0)
    env.reset(seed=0)
    obs_shape = env.single_observation_space.shape
    n_actions = env.single_action_space.n
    rng = np.random.default_rng(1)

    def build(precision):
        """Agent, learner and runner whose layers compute under ``precision``'s dtype policy."""
        keras.mixed_precision.set_global_policy(MIXED_PRECISION_POLICIES[precision])
        try:
            agent = build_agent(args.agent, obs_shape, n_actions, model_cfg)
            opt = make_optimizer(cfg, total_updates=10**6, mixed_precision=precision)
            agent.compile(optimizer=opt)
            learner = A2CLearner(agent, opt, cfg, obs_shape)
        finally:
            keras.mixed_precision.set_global_policy("float32")
        runner = RolloutRunner(make_env(env_cfg, cfg.num_envs, "train", 0), learner, cfg.num_steps,
                               np.random.default_rng(0))
        runner.reset(seed=0)
        return agent, learner, runner

    setups = {precision: build(precision) for precision in args.mixed_precision}
    params = next(iter(setups.values()))[0].count_params()
    print(f"backend: {keras.backend.backend()}, os.cpu_count()={os.cpu_count()}, "
          f"load avg {os.getloadavg()[0]:.2f}")
    print(f"setting: {args.dim}x{args.dim}, {args.boxes} boxes, {args.observation} {obs_shape}, "
          f"{n_actions} actions, agent {args.agent} ({params:,} params), "
          f"{cfg.num_envs} envs x {cfg.num_steps} steps, levels: {env_cfg.levels}")
    env_fps = _timed(lambda: env.step(rng.integers(0, n_actions, cfg.num_envs)), cfg.num_envs,
                     args.seconds / 2)
    print(f"{'env only (random actions):':<37}{env_fps:10.0f} frames/s")
    frames = cfg.num_envs * cfg.num_steps
    timings = {precision: {"rollout": [], "train": []} for precision in setups}
    for _ in range(args.rounds):
        for precision, (_, learner, runner) in setups.items():
            timings[precision]["rollout"].append(_timed(runner.collect, frames, args.seconds / 2))
            timings[precision]["train"].append(
                _timed(lambda: learner.update(runner.collect()), frames, args.seconds))
    results = {"env": env_fps}
    base = None
    for precision, t in timings.items():
        roll_fps, train_fps = float(np.median(t["rollout"])), float(np.median(t["train"]))
        base = base or train_fps
        tag = "" if len(setups) == 1 else f" [{precision}]"
        print(f"{'rollout (env + policy)' + tag + ':':<37}{roll_fps:10.0f} frames/s  "
              f"({roll_fps / env_fps:.2f}x env)")
        print(f"{'A2C training' + tag + ':':<37}{train_fps:10.0f} frames/s  ({train_fps / base:.2f}x "
              f"the first setting; goal 5000: {'met' if train_fps >= 5000 else 'NOT met'})")
        results[precision] = {"rollout": roll_fps, "train": train_fps}
    if len(setups) == 1:
        results.update(results.pop(args.mixed_precision[0]))
    return results


if __name__ == "__main__":
    main()
