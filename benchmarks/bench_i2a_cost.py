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
from i2a_keras.algos.a2c import (A2CLearner, Rollout, stack_replay, draw_noise,  # noqa: E402
                                 make_optimizer)
from i2a_keras.models import build_agent  # noqa: E402
from i2a_keras.models.env_model import EnvModel, EnvModelConfig, load_env_model  # noqa: E402
from i2a_keras.models.i2a import I2AAgent, I2AConfig  # noqa: E402
from i2a_keras.training.actor_critic import make_env  # noqa: E402
from i2a_keras.training.config import MIXED_PRECISION_POLICIES, model_free_preset  # noqa: E402


def _collect_batch(env, num_steps, rng):
    """A real rollout of random actions: obs (T, N, ...), last obs, and step timing of the env."""
    obs, _ = env.reset(seed=0)
    buf, t0 = [], time.perf_counter()
    for _ in range(num_steps):
        buf.append(np.asarray(obs))
        obs, *_ = env.step(rng.integers(0, env.single_action_space.n, env.num_envs).astype(np.int32))
    env_time = (time.perf_counter() - t0) / (num_steps * env.num_envs)
    return np.stack(buf), np.asarray(obs), env_time


def _cost_flops(jitted, *args) -> float:
    analysis = jitted.lower(*args).compile().cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    return float(analysis["flops"])


def agent_flops(learner, obs_batch, last_obs) -> dict:
    """XLA's FLOP count (``cost_analysis``; JAX backend only) of one env step of A2C training:
    the acting pass per observation (plus the bootstrap pass, 1/T of it) and the update's
    forward + backward per acting row."""
    import jax
    from i2a_keras.algos.a2c import _acting

    agent, (T, N) = learner.agent, obs_batch.shape[:2]
    tv = [v.value for v in agent.trainable_variables]
    ntv = [v.value for v in agent.non_trainable_variables]
    call = lambda tv_: (lambda *x, **k: agent.stateless_call(tv_, ntv, *x, **k)[0])  # noqa: E731
    rng = np.random.default_rng(0)
    noise = draw_noise(agent, N, rng)
    args = (obs_batch[0],) if noise is None else (obs_batch[0], noise)
    act = _cost_flops(jax.jit(lambda tv_, *a: _acting(call(tv_), *a)), tv, *args)
    logits, replay = [], []
    for obs in obs_batch:
        step_logits, _, step_replay = learner.act(obs, draw_noise(agent, N, rng))
        logits.append(step_logits)
        replay.append(step_replay)
    rollout = Rollout(obs_batch, np.zeros((T, N), np.int32), np.zeros((T, N), np.float32),
                      np.zeros((T, N), bool), np.zeros((T, N), bool), np.zeros((T, N), np.float32),
                      np.zeros(N, np.float32), np.stack(logits), stack_replay(replay))
    batch = learner.batch(rollout)
    grad = jax.jit(jax.grad(lambda tv_: learner._loss(call(tv_), *batch)[0]))
    update = _cost_flops(grad, tv)
    return {"act_flops": act / N * (1 + 1 / T), "update_flops": update / (T * N),
            "total_flops": act / N * (1 + 1 / T) + update / (T * N)}


def machine_gflops(seconds: float = 1.0) -> dict:
    """Achievable rate on this machine in this process: a 3x3 conv (256 x 10x10x32 -> 32, the
    size of the agents' layers) and a 1024^3 GEMM, each timed for ``seconds``."""
    import keras.ops as kops

    rng = np.random.default_rng(0)
    cases = {
        "conv3x3": (lambda x, w: kops.conv(x, w, padding="same"),
                    rng.random((256, 10, 10, 32), np.float32), rng.random((3, 3, 32, 32), np.float32),
                    2 * 256 * 100 * 32 * 32 * 9),
        "gemm1024": (lambda x, w: kops.matmul(x, w), rng.random((1024, 1024), np.float32),
                     rng.random((1024, 1024), np.float32), 2 * 1024 ** 3),
    }
    from i2a_keras import backends
    out = {}
    for name, (fn, x, w, flops) in cases.items():
        compiled = backends.get().forward_fn(keras.layers.Identity(), lambda call, a, b: fn(a, b))
        np.asarray(compiled(x, w))
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            np.asarray(compiled(x, w))
            n += 1
        out[name] = n * flops / (time.perf_counter() - start) / 1e9
    return out


class _Timer:
    """Times one agent's acting passes and A2C update on a fixed real rollout."""

    def __init__(self, agent, a2c, obs_shape, obs_batch, last_obs, precision="off"):
        T, N = obs_batch.shape[:2]
        self.obs_batch, self.last_obs, self.frames = obs_batch, last_obs, T * N
        self.precision = precision
        optimizer = make_optimizer(a2c, total_updates=10**6, mixed_precision=precision)
        self.learner = A2CLearner(agent, optimizer, a2c, obs_shape)
        self.rng = np.random.default_rng(0)
        self.act, self.upd = [], []
        self.once()  # compile the steps

    def once(self):
        """One acting pass per step (as the runner does: noise, policy, bootstrap value) and one
        update on the resulting rollout."""
        T, N = self.obs_batch.shape[:2]
        agent, learner = self.learner.agent, self.learner
        t0 = time.perf_counter()
        logits, replay = [], []
        for obs in self.obs_batch:
            step_logits, _, step_replay = learner.act(obs, draw_noise(agent, N, self.rng))
            logits.append(step_logits)
            replay.append(step_replay)
        bootstrap = learner.value(self.last_obs, draw_noise(agent, N, self.rng))
        t1 = time.perf_counter()
        rollout = Rollout(self.obs_batch, np.zeros((T, N), np.int32), np.zeros((T, N), np.float32),
                          np.zeros((T, N), bool), np.zeros((T, N), bool),
                          np.zeros((T, N), np.float32), bootstrap, np.stack(logits),
                          stack_replay(replay))
        learner.update(rollout)  # returns python floats: the step has finished
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
    parser.add_argument("--preset", default="small", choices=("tiny", "small", "boxoban", "paper"))
    parser.add_argument("--taus", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--env-model", default=None, help=".keras env model (default: untrained, same arch)")
    parser.add_argument("--num-boxes", type=int, default=None)
    parser.add_argument("--num-envs", type=int, default=None, help="default: the preset's")
    parser.add_argument("--num-steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--copy-model", action="store_true",
                        help="also time the copy-model I2A at the largest tau (env model share)")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--flops", action="store_true",
                        help="also count FLOPs per env step (XLA cost analysis in a JAX "
                             "subprocess) and report the fraction of this machine's conv/GEMM rate")
    parser.add_argument("--mixed-precision", nargs="+", default=["off"],
                        choices=tuple(MIXED_PRECISION_POLICIES),
                        help="dtype settings (run.mixed_precision) to time side by side; a loaded "
                             "--env-model keeps the dtype it was saved with (float32)")
    parser.add_argument("--flops-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    keras.utils.set_random_seed(0)
    base = model_free_preset(args.preset)
    env_cfg = base.env if args.num_boxes is None else dataclasses.replace(base.env, num_boxes=args.num_boxes)
    a2c = dataclasses.replace(base.a2c, **{k: v for k, v in (("num_envs", args.num_envs),
                                                            ("num_steps", args.num_steps)) if v})
    env = make_env(env_cfg, a2c.num_envs, "train", 0)
    obs_batch, last_obs, env_step_s = _collect_batch(env, a2c.num_steps, np.random.default_rng(0))
    obs_shape = tuple(obs_batch.shape[2:])
    n_actions = int(env.single_action_space.n)
    if args.env_model:
        env_model_factory = lambda: load_env_model(args.env_model)  # noqa: E731
    else:
        em_preset = {"tiny": "tiny", "small": "small", "boxoban": "small", "paper": "paper"}[args.preset]
        kwargs = dict(obs_shape=obs_shape, num_actions=n_actions)
        if args.preset == "paper":
            from i2a_keras.envs.observations import RGB_PALETTE
            kwargs["palette"] = tuple(map(tuple, RGB_PALETTE.tolist()))
        env_model_factory = lambda: EnvModel.from_env_model_config(  # noqa: E731
            EnvModelConfig.preset(em_preset, **kwargs), dtype="float32")  # frozen models are float32
    timers = {}
    try:
        for precision in args.mixed_precision:
            keras.mixed_precision.set_global_policy(MIXED_PRECISION_POLICIES[precision])
            tag = "" if len(args.mixed_precision) == 1 else f" [{precision}]"
            timers["model-free" + tag] = _Timer(build_agent("model-free", obs_shape, n_actions, base.model),
                                                a2c, obs_shape, obs_batch, last_obs, precision)
            for tau in args.taus:
                agent = I2AAgent(obs_shape, n_actions, env_model_factory(),
                                 I2AConfig.preset(args.preset, rollout_length=tau), name="i2a_agent")
                agent.build((None,) + obs_shape)
                timers[f"i2a tau={tau}{tag}"] = _Timer(agent, a2c, obs_shape, obs_batch, last_obs, precision)
            if args.copy_model:
                tau = max(args.taus)
                agent = build_agent("i2a-copy-model", obs_shape, n_actions,
                                    I2AConfig.preset(args.preset, rollout_length=tau))
                agent.build((None,) + obs_shape)
                timers[f"copy tau={tau}{tag}"] = _Timer(agent, a2c, obs_shape, obs_batch, last_obs,
                                                        precision)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    if args.flops_only:
        print(json.dumps({name: agent_flops(t.learner, obs_batch, last_obs)
                          for name, t in timers.items()}))
        return None
    flops = _flops_in_jax(argv) if args.flops else None
    limit = machine_gflops() if args.flops else None
    for _ in range(args.repeats):  # round robin: load changes hit every agent alike
        for timer in timers.values():
            timer.once()
    results = {name: timer.result() for name, timer in timers.items()}
    # each agent's ratio is to the model-free agent of its own dtype setting
    model_free_us = {t.precision: results[name]["total_us"] for name, t in timers.items()
                     if name.startswith("model-free")}
    print(f"backend={keras.backend.backend()} preset={args.preset} obs={obs_shape} "
          f"actions={n_actions} num_envs={a2c.num_envs} num_steps={a2c.num_steps} "
          f"env step={env_step_s * 1e6:.1f} us/step (not included), load avg "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    width = max(14, max(map(len, results)) + 1)
    header = f"{'agent':<{width}}{'act us/step':>13}{'update us/step':>16}{'total us/step':>15}{'x model-free':>14}"
    if flops:
        best = max(limit.values())
        print("machine limit: " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in limit.items()))
        header += f"{'MFLOP/step':>12}{'GFLOP/s':>9}{'of limit':>10}"
    print(header)
    for name, r in results.items():
        r["ratio"] = r["total_us"] / model_free_us[timers[name].precision]
        line = f"{name:<{width}}{r['act_us']:>13.1f}{r['update_us']:>16.1f}{r['total_us']:>15.1f}{r['ratio']:>14.2f}"
        if flops:
            r.update(flops[name])
            r["gflops"] = r["total_flops"] / r["total_us"] / 1e3
            r["fraction_of_limit"] = r["gflops"] / best
            line += f"{r['total_flops'] / 1e6:>12.2f}{r['gflops']:>9.1f}{r['fraction_of_limit']:>10.1%}"
        print(line)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"preset": args.preset, "mixed_precision": args.mixed_precision,
                       "env_step_us": env_step_s * 1e6, "results": results,
                       "machine_gflops": limit, "load_avg": os.getloadavg()[0]}, fh, indent=2)
    return results


def _flops_in_jax(argv) -> dict:
    """Run this script with ``--flops-only`` under ``KERAS_BACKEND=jax`` and read its JSON."""
    import subprocess

    argv = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--flops"]
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), *argv, "--flops-only"],
                          env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"FLOP counting under JAX failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
