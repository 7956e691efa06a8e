"""Paper-scale cost of the I2A vs the model-free baseline, on any Keras backend (Sec. 4.1, Sec. 5).

The paper's setting: 80x80 RGB frames of 10x10 rooms, 4 boxes, rollout length tau = 5, one rollout
per action. This script builds the ``paper`` architectures (model-free agent, I2A with the paper-size
environment model and with the copy model) and times, side by side in one process, per environment
step with ``--num-envs`` environments and ``--num-steps``-step A2C updates:

* acting: one forward pass on ``num_envs`` observations;
* training: one forward + backward pass on the ``num_envs * num_steps`` batch of a real rollout of
  our env (the A2C update's cost; the surrogate loss has the same graph as the A2C loss's inputs:
  logits, value and the distillation term).

The library's trainer uses TensorFlow. This benchmark is backend-agnostic so that the models can be
measured on a GPU machine that has JAX but no TensorFlow::

    python benchmarks/bench_paper_scale.py                          # TensorFlow, here (CPU)
    KERAS_BACKEND=jax python benchmarks/bench_paper_scale.py        # JAX (e.g. on a GPU)

Weights do not change the cost, so the environment model is untrained. The ratio printed is
``I2A time / model-free time`` for the same batch on the same device in the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import i2a_keras  # noqa: E402,F401  (sets KERAS_BACKEND=tensorflow unless already set)
import keras  # noqa: E402
from keras import ops  # noqa: E402

from i2a_keras.envs import SokobanConfig, make_vec  # noqa: E402
from i2a_keras.envs.observations import RGB_PALETTE  # noqa: E402
from i2a_keras.models import build_agent  # noqa: E402
from i2a_keras.models.env_model import CopyModel, EnvModel, EnvModelConfig  # noqa: E402
from i2a_keras.models.i2a import I2AAgent, I2AConfig  # noqa: E402


def surrogate_loss(out):
    """A scalar touching every output the A2C loss uses (timing only)."""
    logp = ops.log_softmax(out["logits"], axis=-1)
    loss = -ops.mean(ops.sum(ops.exp(logp) * logp, axis=-1)) + ops.mean(ops.square(out["value"]))
    if "aux_loss" in out:
        loss = loss + out["aux_loss"]
    return loss


def make_steps(model):
    """(act, train) callables compiled for the active backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=False)
        def act(x):
            return model(x, training=False)["logits"]

        @tf.function(jit_compile=False)
        def train(x):
            with tf.GradientTape() as tape:
                loss = surrogate_loss(model(x, training=True))
            return tape.gradient(loss, model.trainable_variables)

        return act, train
    if backend == "jax":
        import jax

        tv = [v.value for v in model.trainable_variables]
        ntv = [v.value for v in model.non_trainable_variables]

        @jax.jit
        def act_fn(ntv_, tv_, x):
            out, _ = model.stateless_call(tv_, ntv_, x, training=False)
            return out["logits"]

        def loss_fn(tv_, ntv_, x):
            out, _ = model.stateless_call(tv_, ntv_, x, training=True)
            return surrogate_loss(out)

        grad_fn = jax.jit(jax.grad(loss_fn))
        return (lambda x: act_fn(ntv, tv, x)), (lambda x: grad_fn(tv, ntv, x))
    raise SystemExit(f"backend {backend!r} is not supported by this benchmark (tensorflow or jax)")


def block(x):
    """Wait for the result (JAX dispatches asynchronously)."""
    leaves = x if isinstance(x, (list, tuple)) else [x]
    for leaf in leaves:
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
        else:
            np.asarray(leaf)
    return x


def time_call(fn, x, repeats):
    block(fn(x))  # compile / warm up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        block(fn(x))
        best = min(best, time.perf_counter() - t0)
    return best


def real_batch(num_envs, num_steps, seed=0):
    """Observations of a random-action rollout of our env at the paper's setting."""
    env = make_vec(num_envs, SokobanConfig.preset("paper", action_set="compact"), seed=seed)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    frames = []
    for _ in range(num_steps):
        frames.append(np.asarray(obs))
        obs, *_ = env.step(rng.integers(0, env.single_action_space.n, num_envs))
    env.close()
    return np.stack(frames).reshape((-1,) + frames[0].shape[1:])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-envs", type=int, default=32)
    parser.add_argument("--num-steps", type=int, default=5)
    parser.add_argument("--taus", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.num_envs < 1 or args.num_steps < 1 or args.repeats < 1 or min(args.taus) < 1:
        parser.error("--num-envs, --num-steps, --repeats and --taus must be >= 1")

    num_actions = 5
    train_x = real_batch(args.num_envs, args.num_steps)
    act_x = train_x[: args.num_envs]
    shape = tuple(train_x.shape[1:])
    palette = tuple(tuple(int(c) for c in rgb) for rgb in np.asarray(RGB_PALETTE))
    em_config = EnvModelConfig.preset("paper", palette=palette, num_actions=num_actions)

    agents = {"model-free": build_agent("model-free", shape, num_actions)}
    for tau in args.taus:
        env_model = EnvModel.from_env_model_config(em_config)
        agents[f"i2a tau={tau}"] = I2AAgent(shape, num_actions, env_model,
                                            I2AConfig.preset("paper", rollout_length=tau))
    copy = CopyModel(obs_shape=shape, num_actions=num_actions, observation="rgb", palette=palette)
    agents["i2a-copy-model tau=5"] = I2AAgent(shape, num_actions, copy, I2AConfig.preset("paper"))
    for agent in agents.values():
        agent.build((None,) + shape)

    results = {}
    for name, agent in agents.items():
        act, train = make_steps(agent)
        t_act = time_call(act, act_x, args.repeats)
        t_train = time_call(train, train_x, args.repeats)
        steps = args.num_envs * args.num_steps
        per_step = (t_act * args.num_steps + t_train) / steps
        results[name] = {"act_s": t_act, "train_s": t_train, "per_env_step_us": per_step * 1e6}

    base = results["model-free"]["per_env_step_us"]
    try:
        import jax
        device = str(jax.devices()[0]) if keras.backend.backend() == "jax" else "tensorflow default"
    except ImportError:
        device = "tensorflow default"
    print(f"backend={keras.backend.backend()} device={device} obs={shape} num_envs={args.num_envs} "
          f"num_steps={args.num_steps} repeats={args.repeats} (min over repeats)")
    print(f"{'agent':<24}{'act ms':>10}{'train ms':>10}{'us/env step':>14}{'x model-free':>14}")
    for name, r in results.items():
        r["ratio"] = r["per_env_step_us"] / base
        print(f"{name:<24}{r['act_s'] * 1e3:>10.2f}{r['train_s'] * 1e3:>10.2f}"
              f"{r['per_env_step_us']:>14.1f}{r['ratio']:>14.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"backend": keras.backend.backend(), "device": device, "args": vars(args),
                       "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
