"""The A2C/A3C learner (Sec. 3.3) with exact imagination, per-group clipping, both backends."""
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from i2a_keras.algos.a2c import A2CConfig, A2CLearner, RolloutRunner, clip_by_group, make_optimizer
from i2a_keras.models.i2a import I2AAgent, I2AConfig
from i2a_keras.training.actor_critic import make_env
from i2a_keras.training.config import EnvConfig
from i2a_testing import NUM_ACTIONS, tiny_env_model

ENV = EnvConfig(dim_room=(5, 5), num_boxes=1, max_steps=3)  # short episodes: truncations happen
OBS_SHAPE = (5, 5, 7)


def _i2a_learner(tau=3, seed=0, max_grad_norm=0.5, frame_decoding="argmax"):
    keras.utils.set_random_seed(seed)
    agent = I2AAgent(OBS_SHAPE, NUM_ACTIONS, tiny_env_model(),
                     I2AConfig.preset("tiny", rollout_length=tau, rollout_sampling="sample",
                                      frame_decoding=frame_decoding))
    agent.build((None,) + OBS_SHAPE)
    cfg = A2CConfig(num_envs=6, num_steps=4, learning_rate=1e-3, max_grad_norm=max_grad_norm)
    optimizer = make_optimizer(cfg)
    agent.compile(optimizer=optimizer)
    return A2CLearner(agent, optimizer, cfg, OBS_SHAPE), cfg


@pytest.mark.parametrize("frame_decoding", ["argmax", "probs"])
def test_update_differentiates_the_policy_that_acted(frame_decoding):
    """The logits stored while acting equal the logits of the update's forward pass (replayed
    imagination, same weights), and the update's rows are the acting rows only; also with
    expected (soft) imagined frames, stored as float16."""
    learner, cfg = _i2a_learner(frame_decoding=frame_decoding)
    runner = RolloutRunner(make_env(ENV, cfg.num_envs, "train", 0), learner, cfg.num_steps,
                           np.random.default_rng(0))
    runner.reset(seed=0)
    rollout = runner.collect()
    assert rollout.truncated.any()
    obs, actions, returns, logits, replay = learner.batch(rollout)
    assert obs.shape[0] == actions.shape[0] == cfg.num_steps * cfg.num_envs
    stored = keras.backend.standardize_dtype(replay["imagined"]["frames"].dtype)
    assert stored == {"argmax": "uint8", "probs": "float16"}[frame_decoding]
    out = learner.agent(obs, training=True, **replay)
    np.testing.assert_allclose(np.asarray(out["logits"]), logits, rtol=1e-5, atol=1e-5)
    # a fresh imagination (other rollout-policy samples) gives another policy
    fresh = learner.agent(obs, training=True)
    assert np.abs(np.asarray(fresh["logits"]) - logits).max() > 1e-4
    metrics = learner.update(rollout)
    assert abs(metrics["behaviour_kl"]) < 1e-6
    values = np.asarray(out["value"])
    expected = 1 - np.var(returns - values) / np.var(returns)
    assert metrics["explained_variance"] == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_runs_are_reproducible_from_the_acting_generator():
    """All acting randomness (imagination noise, actions) comes from the runner's generator."""
    def collect(seed):
        learner, cfg = _i2a_learner(seed=0)
        runner = RolloutRunner(make_env(ENV, cfg.num_envs, "train", 0), learner, cfg.num_steps,
                               np.random.default_rng(seed))
        runner.reset(seed=0)
        return runner.collect()

    a, b, c = collect(1), collect(1), collect(2)
    np.testing.assert_array_equal(a.actions, b.actions)
    np.testing.assert_array_equal(a.logits, b.logits)
    assert (a.logits != c.logits).any()


def test_clipping_per_group_keeps_the_rl_gradient():
    """A large distillation gradient must not shrink the RL gradient (it would under one
    global norm); each group is clipped to the norm on its own."""
    rl, distill = np.full(4, 0.1, np.float32), np.full(4, 5.0, np.float32)  # norms 0.2 and 10
    clipped, metrics = clip_by_group([rl, distill], {"policy": [0], "rollout_policy": [1]}, 0.5)
    np.testing.assert_allclose(np.asarray(clipped[0]), rl, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(clipped[1])), 0.5, rtol=1e-4)
    np.testing.assert_allclose(float(metrics["grad_norm"]), np.sqrt(0.04 + 100), rtol=1e-5)
    np.testing.assert_allclose(float(metrics["grad_norm_rollout_policy"]), 10.0, rtol=1e-5)
    learner, _ = _i2a_learner()
    groups = learner.agent.parameter_groups()
    rollout_ids = {id(v) for v in learner.agent.rollout_policy.trainable_variables}
    assert {id(v) for v in groups["rollout_policy"]} == rollout_ids
    assert sorted(learner.groups["rollout_policy"] + learner.groups["policy"]) == \
        list(range(len(learner.agent.trainable_variables)))


def test_clipping_unscales_loss_scaled_gradients():
    """Under float16 loss scaling the gradients carry the scale S: clipping S * g with ``scale=S``
    is S times clipping g (each group to 0.5), and the reported norms are g's."""
    grads = [np.full(4, 0.1, np.float32), np.full(4, 5.0, np.float32)]  # norms 0.2 and 10
    groups, scale = {"policy": [0], "rollout_policy": [1]}, 1024.0
    plain, plain_metrics = clip_by_group(grads, groups, 0.5)
    scaled, metrics = clip_by_group([scale * g for g in grads], groups, 0.5, scale=scale)
    for a, b in zip(scaled, plain):
        np.testing.assert_allclose(np.asarray(a), scale * np.asarray(b), rtol=1e-5)
    for key in ("grad_norm", "grad_norm_policy", "grad_norm_rollout_policy"):
        np.testing.assert_allclose(float(metrics[key]), float(plain_metrics[key]), rtol=1e-5)
    np.testing.assert_allclose(float(metrics["grad_norm_policy"]), 0.2, rtol=1e-5)


def test_a3c_workers_differentiate_their_own_snapshot(tmp_path):
    from i2a_keras.training.actor_critic import train_actor_critic
    from i2a_keras.training.config import model_free_preset
    import dataclasses

    cfg = model_free_preset("tiny")
    cfg = dataclasses.replace(cfg, algo="a3c", a2c=dataclasses.replace(cfg.a2c, num_workers=2),
                              run=dataclasses.replace(cfg.run, run_dir=str(tmp_path / "a3c"),
                                                      total_frames=800, log_interval_frames=40),
                              eval=dataclasses.replace(cfg.eval, num_levels=2, gif=False))
    train_actor_critic(cfg)
    with open(tmp_path / "a3c" / "metrics.jsonl") as fh:
        rows = [json.loads(line) for line in fh]
    # with the shared live weights, the other worker's updates land between acting and the
    # gradient and the two policies differ; a worker's own snapshot keeps them equal
    assert len(rows) >= 10 and max(abs(r["losses/behaviour_kl"]) for r in rows) < 1e-6


_JAX_SCRIPT = textwrap.dedent('''
    import json, sys
    from i2a_keras.train import main
    import keras
    assert keras.backend.backend() == "jax"
    tiny = ["--preset", "tiny", "--set", "run.total_frames=200", "eval.num_levels=2",
            "eval.num_envs=2", "eval.gif=false", "run.progress=false"]
    mf = main(["model-free", "--run-dir", sys.argv[1] + "/mf"] + tiny
              + ["a2c.vtrace=true", "a2c.num_minibatches=2", "a2c.gae_lambda=0.5"])  # V-trace under jit
    i2a = main(["i2a", "--agent", "i2a", "--env-model", sys.argv[2], "--run-dir",  # bfloat16 under jit
                sys.argv[1] + "/i2a", "--mixed-precision", "bfloat16", "--set", "i2a.rollout_length=3"]
               + tiny)
    print(json.dumps({"mf": mf["device"], "i2a": i2a["frames"]}))
''')


@pytest.mark.skipif(not __import__("importlib").util.find_spec("jax"), reason="jax not installed")
def test_jax_backend_trains_and_checkpoints_move_between_backends(tmp_path):
    """Model-free and I2A (in bfloat16) train under KERAS_BACKEND=jax from a TensorFlow-saved env
    model, and the JAX run's checkpoint resumes under TensorFlow (this process)."""
    from i2a_keras.train import main

    env_model = str(tmp_path / "em.keras")
    tiny_env_model().save(env_model)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", _JAX_SCRIPT, str(tmp_path), env_model], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["mf"].startswith("jax") and result["i2a"] == 200
    summary = main(["i2a", "--resume", str(tmp_path / "i2a"), "--set", "run.total_frames=400"])
    assert summary["frames"] == 400 and summary["device"].startswith("tensorflow")
    with open(tmp_path / "i2a" / "metrics.jsonl") as fh:
        rows = [json.loads(line) for line in fh]
    assert [r["frames"] for r in rows] == sorted(r["frames"] for r in rows)
    assert all(np.isfinite(r["losses/total"]) for r in rows)
