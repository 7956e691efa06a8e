"""MiniPacman (Sec. 5) through the training CLI: config checks, the multi-task env model (frames +
events, reward = events . task weights), and the agents (model-free, I2A, copy-model) per task."""
import json
import os

import keras
import numpy as np
import pytest

from i2a_keras import train
from i2a_keras.envs.minipacman import RENDER_PIXELS, make_vec
from i2a_keras.envs.minipacman_core import EVENTS, TASKS, task_rewards
from i2a_keras.models.env_model import load_env_model
from i2a_keras.models.minipacman_env_model import (EVENT_COUNT_VALUES, MiniPacmanEnvModel,
                                                   minipacman_env_model_config)
from i2a_keras.training.checkpoint import load_checkpoint
from i2a_keras.training.collect import TransitionStore
from i2a_keras.training.config import EnvConfig
from i2a_keras.training.env_model_data import TransitionBatches
from i2a_keras.training.run_dir import read_jsonl
from i2a_testing import assert_same_arrays, curve, latest_arrays, load_script

TINY = ["--preset", "minipacman_tiny"]


def _model(task="regular"):
    return MiniPacmanEnvModel.from_env_model_config(minipacman_env_model_config("tiny"), task=task)


def _batch(n=4, seed=0):
    env = make_vec(n, task="regular", seed=seed)
    obs, _ = env.reset()
    return obs, np.arange(n) % 5


# --- config -----------------------------------------------------------------------------------

def test_env_config_checks_minipacman_settings():
    assert EnvConfig(game="minipacman", task="hunt", observation="rgb").task == "hunt"
    with pytest.raises(ValueError, match="MiniPacman task"):
        EnvConfig(game="minipacman", task="chase", observation="rgb")
    with pytest.raises(ValueError, match="env.dim_room, env.num_boxes: Sokoban"):
        EnvConfig(game="minipacman", task="hunt", observation="rgb", dim_room=(5, 5), num_boxes=1)
    with pytest.raises(ValueError, match="observation must be 'rgb'"):
        EnvConfig(game="minipacman", task="hunt", observation="one_hot")
    with pytest.raises(ValueError, match="Sokoban has no tasks"):
        EnvConfig(task="hunt")
    with pytest.raises(ValueError, match="env.game"):
        EnvConfig(game="pong")


# --- env model --------------------------------------------------------------------------------

def test_expected_frames_weight_the_palette_by_the_cell_probabilities():
    """``predict_next(..., soft=True)``: each cell is the probability-weighted palette colour, so
    an uncertain ghost stays partly visible; soft frames need a float input."""
    obs, actions = _batch()
    model = _model()
    soft, reward = model.predict_next(obs.astype(np.float32), actions, soft=True)
    probs = np.asarray(keras.ops.softmax(model(obs, actions)["frame_logits"], axis=-1))
    expected = probs @ np.asarray(model.palette, np.float32)
    np.testing.assert_allclose(np.asarray(soft), expected, rtol=1e-4, atol=1e-3)
    hard, hard_reward = model.predict_next(obs, actions)
    np.testing.assert_allclose(np.asarray(reward), np.asarray(hard_reward))
    assert not np.allclose(np.asarray(soft), np.asarray(hard, np.float32))
    with pytest.raises(ValueError, match="float dtype"):
        model.predict_next(obs, actions, soft=True)  # uint8 frames cannot hold expectations


def test_env_model_shapes():
    obs, actions = _batch()
    out = _model()(obs, actions)
    assert tuple(out["frame_logits"].shape) == (4, 15, 19, 26)
    assert tuple(out["event_logits"].shape) == (4, len(EVENTS), len(EVENT_COUNT_VALUES))
    next_obs, reward = _model().predict_next(obs, actions)
    assert tuple(next_obs.shape) == obs.shape and keras.backend.standardize_dtype(next_obs.dtype) == "uint8"
    assert tuple(reward.shape) == (4,)


@pytest.mark.parametrize("task", list(TASKS))
def test_events_to_reward_is_exact_per_task(task):
    """Force the event heads to predict the counts (1, 1, 1, 1, 2): the imagined reward must be
    exactly events . weights of the model's task."""
    model = _model(task)
    counts = np.array([1, 1, 1, 1, 2])
    kernel, bias = model.reward_head.get_weights()
    bias = np.full_like(bias, -50.0).reshape(len(EVENTS), -1)
    bias[np.arange(len(EVENTS)), counts] = 50.0
    model.reward_head.set_weights([np.zeros_like(kernel), bias.reshape(-1)])
    obs, actions = _batch()
    _, events = model.predict_events(obs, actions)
    np.testing.assert_array_equal(np.asarray(events), np.tile(counts, (4, 1)))
    _, reward = model.predict_next(obs, actions)
    np.testing.assert_allclose(np.asarray(reward), task_rewards(counts, task), rtol=0, atol=1e-5)
    other = "avoid" if task != "avoid" else "rush"
    model.set_task(other)
    assert not np.allclose(np.asarray(model.predict_next(obs, actions)[1]), task_rewards(counts, task))


def test_env_model_save_load_safe_mode_keeps_task(tmp_path):
    model = _model("ambush")
    obs, actions = _batch()
    path = str(tmp_path / "em.keras")
    model.save(path)
    loaded = load_env_model(path)
    assert isinstance(loaded, MiniPacmanEnvModel) and loaded.task == "ambush"
    for a, b in zip(model.predict_events(obs, actions), loaded.predict_events(obs, actions)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    train_dir, eval_dir = str(root / "train"), str(root / "eval")
    train.main(["collect"] + TINY + ["--out", train_dir])
    train.main(["collect"] + TINY + ["--out", eval_dir, "--split", "eval", "--num-transitions", "400"])
    return train_dir, eval_dir


def test_collect_covers_every_task_and_stores_events(data):
    store = TransitionStore([data[0]])
    assert store.meta["tasks"] == list(TASKS) and store.meta["events"] == list(EVENTS)
    assert sorted({s["task"] for s in store.meta["shards"]}) == sorted(TASKS)
    events = store.columns["events"]
    assert events.shape == (len(store), 5) and np.all(events[:, 0] == 1)
    # the stored rewards are each part's task reward of the stored events
    rows = 0
    for part in store.meta["parts"]:
        n = part["num_transitions"]
        np.testing.assert_allclose(store.columns["rewards"][rows:rows + n],
                                   task_rewards(events[rows:rows + n], part["task"]), atol=1e-5)
        rows += n


def test_tiny_fit_lowers_the_loss(data):
    store = TransitionStore([data[0]])
    keras.utils.set_random_seed(0)
    model = _model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    batches = TransitionBatches(store, 32, 60, seed=0, reward_values=model.reward_values)
    x, y = batches[0]
    before = float(model.compute_loss(x, y, model(x)))
    model.fit(batches, epochs=1, shuffle=False, verbose=0)
    after = float(model.compute_loss(x, y, model(x)))
    assert after < 0.7 * before
    # Sokoban-style targets (a reward class instead of the event counts) are refused by name
    with pytest.raises(ValueError, match="MiniPacmanEnvModel.fit needs targets.*'events'"):
        model.compute_loss(x, {"frame": y["frame"], "reward": y["events"][:, 0]}, model(x))


@pytest.fixture(scope="module")
def env_model_run(data, tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("runs") / "env_model")
    result = train.main(["env-model"] + TINY + ["--data", data[0], "--eval-data", data[1],
                                                "--run-dir", run_dir])
    return run_dir, result


def test_env_model_run_reports_accuracy_per_event(env_model_run):
    run_dir, result = env_model_run
    saved = json.load(open(os.path.join(run_dir, "env_model_eval.json")))
    for name in EVENTS:
        assert 0.0 <= saved[f"event_acc/{name}"] <= 1.0
        assert f"event_acc_when/{name}" in saved and f"event_steps/{name}" in saved
    assert saved["event_steps/step"] == saved["samples"]
    assert len(saved["rollout_events_acc"]) == 3 and 0.0 <= saved["frame_acc"] <= 1.0
    assert isinstance(load_env_model(os.path.join(run_dir, "checkpoints", "final.keras")),
                      MiniPacmanEnvModel)


# --- agents -----------------------------------------------------------------------------------

def _resume_check(args, run_dir):
    """Stopped at 400 frames and resumed to 800, the run equals an uninterrupted one: the same
    curve (games, returns, losses), weights and optimizer state."""
    train.main(args + ["--run-dir", run_dir, "--total-frames", "400"])
    summary = train.main(["--resume", run_dir, "--total-frames", "800"])
    assert summary["frames"] == 800
    rows = read_jsonl(os.path.join(run_dir, "metrics.jsonl"))
    assert [r["frames"] for r in rows] == [200, 400, 600, 800]
    assert all("charts/solve_rate" not in r for r in rows)  # MiniPacman has no "solved"
    straight = run_dir + "_straight"
    train.main(args + ["--run-dir", straight, "--total-frames", "800"])
    assert curve(run_dir) == curve(straight)
    (sa, wa), (sb, wb) = latest_arrays(run_dir), latest_arrays(straight)
    assert sa["frames"] == sb["frames"] == 800
    assert_same_arrays(wa, wb)
    return summary


def test_model_free_runs_and_resumes_on_a_task(tmp_path):
    summary = _resume_check(["model-free"] + TINY + ["--set", "env.task=avoid"], str(tmp_path / "mf"))
    assert summary["eval"]["task"] == "avoid" and "solve_rate" not in summary["eval"]
    assert set(summary["eval"]["mean_events"]) == set(EVENTS)
    events = summary["eval"]["mean_events"]
    assert summary["eval"]["mean_return"] == pytest.approx(
        float(task_rewards([events[e] for e in EVENTS], "avoid")), abs=1e-3)


def test_i2a_runs_and_resumes_with_the_task_of_the_env(env_model_run, tmp_path):
    model_path = os.path.join(env_model_run[0], "checkpoints", "final.keras")
    run_dir = str(tmp_path / "i2a")
    summary = _resume_check(["i2a"] + TINY + ["--env-model", model_path, "--set", "env.task=hunt"],
                            run_dir)
    assert summary["eval"]["task"] == "hunt"
    agent, _, _ = load_checkpoint(os.path.join(run_dir, "checkpoints", "final.keras"), compile=False)
    assert isinstance(agent.env_model, MiniPacmanEnvModel) and agent.env_model.task == "hunt"
    assert json.load(open(os.path.join(run_dir, "config.json")))["model"]["reward_task"] == "hunt"


def test_copy_model_i2a_runs_and_resumes(tmp_path):
    summary = _resume_check(["i2a", "--agent", "i2a-copy-model"] + TINY + ["--set", "env.task=rush"],
                            str(tmp_path / "copy"))
    assert summary["eval"]["task"] == "rush"


def test_i2a_refuses_a_sokoban_env_model_on_minipacman(tmp_path):
    from i2a_keras.models.env_model import EnvModel

    path = str(tmp_path / "sokoban_em.keras")
    EnvModel(obs_shape=(15, 19, 3), observation="tiny_rgb", channels=4, num_blocks=1,
             branch_channels=(0, 4), reward_hidden=4,
             palette=minipacman_env_model_config().palette).save(path)
    with pytest.raises(ValueError, match="MiniPacman events"):
        train.main(["i2a"] + TINY + ["--env-model", path, "--run-dir", str(tmp_path / "r")])


def test_fig6_script_passes_i2a_settings_to_the_i2a_agents_only(tmp_path):
    """benchmarks/run_minipacman_experiments.py: --i2a-set reaches the I2A agents' configs, the
    model-free run (whose config has no such key) still runs, and the table has both columns."""
    script = load_script("run_minipacman_experiments")
    out = tmp_path / "fig6"
    results = script.main(["--preset", "minipacman_tiny", "--frames", "400", "--tasks", "hunt",
                           "--agents", "model-free", "copy-model I2A", "--threads", "1",
                           "--set", "eval.num_levels=2", "eval.num_envs=2", "eval.gif=false",
                           "--i2a-set", "model.frame_decoding=probs", "--out", str(out)])
    assert set(results["hunt"]) == {"model-free", "copy-model I2A"}
    config = json.load(open(out / "hunt_i2a-copy-model" / "config.json"))
    assert config["model"]["frame_decoding"] == "probs" and config["env"]["task"] == "hunt"
    assert "frame_decoding" not in json.load(open(out / "hunt_model-free" / "config.json"))["model"]
    table = (out / "minipacman_results.md").read_text()
    (row,) = [line for line in table.splitlines() if line.startswith("| hunt |")]
    cells = [c.strip() for c in row.strip("|").split("|")[1:]]
    # each cell is its run's final mean return, as that run logged it in eval.jsonl
    logged = [read_jsonl(out / f"hunt_{kind}" / "eval.jsonl")[-1]["eval/mean_return"]
              for kind in ("model-free", "i2a-copy-model")]
    assert cells == [f"{r:.2f}" for r in logged]
    script.main(["--preset", "minipacman_tiny", "--frames", "400", "--tasks", "hunt", "avoid",
                 "--agents", "model-free", "copy-model I2A", "--out", str(out), "--report-only",
                 "--gif"])
    import imageio.v3 as iio

    gif = iio.imread(out / "minipacman_episodes.gif", index=None)
    height, width = gif.shape[1:3]
    cell_h, cell_w = 15 * RENDER_PIXELS, 19 * RENDER_PIXELS
    assert (height, width) == (2 * cell_h + 3 * 4, 2 * cell_w + 3 * 4)  # rows hunt, avoid (not run)
    assert (gif[:, 4 + cell_h + 4:-4, 4:-4] >= 250).all()                # avoid's row is empty
    for col in range(2):                                                # hunt's games are drawn
        x = 4 + col * (cell_w + 4)
        assert (gif[0, 4:4 + cell_h, x:x + cell_w] < 250).any()
