"""A2C/A3C training throughput (env frames/s) with K Ray rollout workers vs single-process A2C.

One run, same machine, same network and per-worker envs: (1) single-process A2C (rollout +
update in this process), (2) synchronous Ray A2C (one update on the K rollouts) and (3)
asynchronous Ray A3C (one update per rollout, policy lag <= K - 1), for each K in ``--workers``
(:mod:`i2a_keras.algos.ray_workers`). Each line prints the 1-minute load average beside the
figure: on a shared machine the figures are only comparable within one run.

    python benchmarks/bench_ray.py --workers 1 2 --seconds 20        # local 2-CPU Ray
    python benchmarks/bench_ray.py --workers 8 16 32 --ray-address auto   # an existing cluster
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def _rate(step, seconds, warmup=2):
    """Frames/s of ``step() -> frames`` over ``seconds`` after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    frames, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        frames += step()
    return frames / (time.perf_counter() - start)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--dim", type=int, default=7)
    p.add_argument("--boxes", type=int, default=2)
    p.add_argument("--num-envs", type=int, default=32, help="envs per worker")
    p.add_argument("--num-steps", type=int, default=5)
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds per point")
    p.add_argument("--ray-address", default="", help="existing cluster (default: local Ray)")
    args = p.parse_args(argv)

    import ray

    from i2a_keras.algos.a2c import A2CConfig, A2CLearner, RolloutRunner, make_optimizer
    from i2a_keras.algos.ray_workers import RayWorkers
    from i2a_keras.models import ModelFreeConfig, build_agent
    from i2a_keras.training.actor_critic import derived_seed, make_env, setup_runtime
    from i2a_keras.training.config import EnvConfig

    device = setup_runtime(0)
    env = EnvConfig(dim_room=(args.dim, args.dim), num_boxes=args.boxes, max_steps=50)
    cfg = A2CConfig(num_envs=args.num_envs, num_steps=args.num_steps)
    obs_shape = (args.dim, args.dim, 7)

    def learner():
        agent = build_agent("model-free", obs_shape, 5, ModelFreeConfig())
        return A2CLearner(agent, make_optimizer(cfg), cfg, obs_shape)

    def report(mode, workers, fps):
        print(json.dumps({"mode": mode, "workers": workers, "frames_per_s": round(fps),
                          "envs_per_worker": args.num_envs, "dim": args.dim, "device": device,
                          "load_1min": os.getloadavg()[0]}), flush=True)

    local = learner()
    runner = RolloutRunner(make_env(env, args.num_envs, "train", 0), local, args.num_steps,
                           np.random.default_rng(0))
    runner.reset(seed=0)

    def local_step():
        local.update(runner.collect())
        return cfg.num_envs * cfg.num_steps

    report("local-a2c", 1, _rate(local_step, args.seconds))

    ray.init(address=args.ray_address or None, include_dashboard=False, log_to_driver=False,
             **({} if args.ray_address else {"num_cpus": max(max(args.workers), os.cpu_count())}))
    make = functools.partial(make_env, env, args.num_envs, "train")
    for k in args.workers:
        for synchronous in (True, False):
            pool = RayWorkers(learner(), make, [np.random.default_rng(w) for w in range(k)],
                              lambda frames, w, *r: derived_seed(0, frames, w, *r), synchronous)
            pool.reset(0)
            # 8 rollouts per worker per run_until: the async pipeline drains at its end, as at
            # the trainer's log points
            chunk = 8 * k * pool.frames_per_rollout

            def step():
                before = pool.frames
                pool.run_until(pool.frames + chunk)
                return pool.frames - before

            report("ray-a2c-sync" if synchronous else "ray-a3c-async", k, _rate(step, args.seconds))
            pool.close()
    ray.shutdown()


if __name__ == "__main__":
    main()
