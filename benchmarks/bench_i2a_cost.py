"""Cost per environment step of the I2A relative to the model-free baseline (Sec. 5, Discussion).

The paper reports the I2A as "less than an order of magnitude slower per interaction than the
model-free baseline". This script measures, side by side in one process on this machine (round
robin over the agents, minimum over repeats), the agent-side cost of one environment step in A2C
training: the acting forward pass (``policy`` on ``num_envs`` observations, once per step) plus
the training update's share (one ``update`` per ``num_steps`` steps), divided by the number of
env steps. The env's own stepping is timed
separately and reported but not included in the ratio. Weights do not change the cost, so an
untrained env model of the same architecture is used unless ``--env-model`` is given.

    python benchmarks/bench_i2a_cost.py --taus 1 3 5 --repeats 7 --copy-model \
        --env-model assets/pretrained/env_model_small.keras --num-boxes 1
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import i2a_keras  # noqa: E402,F401
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from i2a_keras.algos.a2c import A2CLearner, Rollout, make_optimizer  # noqa: E402
from i2a_keras.models import build_agent  # noqa: E402
from i2a_keras.models.env_model import EnvModel, EnvModelConfig, load_env_model  # noqa: E402
from i2a_keras.models.i2a import I2AAgent, I2AConfig  # noqa: E402
from i2a_keras.training.actor_critic import make_env  # noqa: E402
from i2a_keras.training.config import model_free_preset  # noqa: E402


def _collect_batch(env, num_steps, rng):
    """A real rollout of random actions: obs (T, N, ...), last obs, and step timing of the env."""
    obs, _ = env.reset(seed=0)
    buf, t0 = [], time.perf_counter()
    for _ in range(num_steps):
        buf.append(np.asarray(obs))
        obs, *_ = env.step(rng.integers(0, env.single_action_space.n, env.num_envs).astype(np.int32))
    env_time = (time.perf_counter() - t0) / (num_steps * env.num_envs)
    return np.stack(buf), np.asarray(obs), env_time


class _Timer:
    """Times one agent's acting passes and A2C update on a fixed real rollout."""

    def __init__(self, agent, a2c, obs_shape, obs_batch, last_obs):
        T, N = obs_batch.shape[:2]
        self.obs_batch, self.frames = obs_batch, T * N
        self.learner = A2CLearner(agent, make_optimizer(a2c), a2c, obs_shape)
        self.rollout = Rollout(obs_batch, last_obs, np.zeros((T, N), np.int32),
                               np.zeros((T, N), np.float32), np.zeros((T, N), bool),
                               np.zeros((T, N), bool), np.zeros((T, N), np.float32))
        self.act, self.upd = [], []
        self.once()  # trace the tf.functions

    def once(self):
        t0 = time.perf_counter()
        for obs in self.obs_batch:
            self.learner.policy(obs)[0].numpy()
        t1 = time.perf_counter()
        self.learner.update(self.rollout)  # returns python floats: the step has finished
        t2 = time.perf_counter()
        self.act.append((t1 - t0) / self.frames)
        self.upd.append((t2 - t1) / self.frames)

    def result(self):
        # min over repeats: the least disturbed measurement on a shared machine
        act, upd = min(self.act[1:]), min(self.upd[1:])
        return {"act_us": act * 1e6, "update_us": upd * 1e6, "total_us": (act + upd) * 1e6,
                "repeats": len(self.act) - 1}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small", choices=("tiny", "small", "paper"))
    parser.add_argument("--taus", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--env-model", default=None, help=".keras env model (default: untrained, same arch)")
    parser.add_argument("--num-boxes", type=int, default=None)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--copy-model", action="store_true",
                        help="also time the copy-model I2A at the largest tau (env model share)")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    keras.utils.set_random_seed(0)
    base = model_free_preset(args.preset)
    env_cfg = base.env if args.num_boxes is None else dataclasses.replace(base.env, num_boxes=args.num_boxes)
    a2c = base.a2c
    env = make_env(env_cfg, a2c.num_envs, "train", 0)
    obs_batch, last_obs, env_step_s = _collect_batch(env, a2c.num_steps, np.random.default_rng(0))
    obs_shape = tuple(obs_batch.shape[2:])
    n_actions = int(env.single_action_space.n)
    if args.env_model:
        env_model_factory = lambda: load_env_model(args.env_model)  # noqa: E731
    else:
        em_preset = {"tiny": "tiny", "small": "small", "paper": "paper"}[args.preset]
        kwargs = dict(obs_shape=obs_shape, num_actions=n_actions)
        if args.preset == "paper":
            from i2a_keras.envs.observations import RGB_PALETTE
            kwargs["palette"] = tuple(map(tuple, RGB_PALETTE.tolist()))
        env_model_factory = lambda: EnvModel.from_env_model_config(  # noqa: E731
            EnvModelConfig.preset(em_preset, **kwargs))
    timers = {"model-free": _Timer(build_agent("model-free", obs_shape, n_actions, base.model),
                                   a2c, obs_shape, obs_batch, last_obs)}
    for tau in args.taus:
        agent = I2AAgent(obs_shape, n_actions, env_model_factory(),
                         I2AConfig.preset(args.preset, rollout_length=tau), name="i2a_agent")
        agent.build((None,) + obs_shape)
        timers[f"i2a tau={tau}"] = _Timer(agent, a2c, obs_shape, obs_batch, last_obs)
    if args.copy_model:
        from i2a_keras.models.env_model import CopyModel
        tau = max(args.taus)
        agent = I2AAgent(obs_shape, n_actions, CopyModel(obs_shape=obs_shape, num_actions=n_actions),
                         I2AConfig.preset(args.preset, rollout_length=tau), name="i2a_agent")
        agent.build((None,) + obs_shape)
        timers[f"copy tau={tau}"] = _Timer(agent, a2c, obs_shape, obs_batch, last_obs)
    for _ in range(args.repeats):  # round robin: load changes hit every agent alike
        for timer in timers.values():
            timer.once()
    results = {name: timer.result() for name, timer in timers.items()}
    mf = results["model-free"]["total_us"]
    print(f"preset={args.preset} obs={obs_shape} actions={n_actions} num_envs={a2c.num_envs} "
          f"num_steps={a2c.num_steps} env step={env_step_s * 1e6:.1f} us/step (not included)")
    print(f"{'agent':<14}{'act us/step':>13}{'update us/step':>16}{'total us/step':>15}{'x model-free':>14}")
    for name, r in results.items():
        r["ratio"] = r["total_us"] / mf
        print(f"{name:<14}{r['act_us']:>13.1f}{r['update_us']:>16.1f}{r['total_us']:>15.1f}{r['ratio']:>14.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"preset": args.preset, "env_step_us": env_step_s * 1e6, "results": results}, fh, indent=2)
    return results


if __name__ == "__main__":
    main()
