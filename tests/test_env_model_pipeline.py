"""Environment-model pipeline: collect -> train (tiny) via the CLI, data format, metrics."""
import json
import os

import numpy as np
import pytest

import i2a_keras  # noqa: F401
from i2a_keras.models.env_model import CopyModel, load_env_model
from i2a_keras.train import main
from i2a_keras.training.collect import load_transitions, read_metadata
from i2a_keras.training.env_model_eval import evaluate_env_model, rollout_windows, save_rollout_figure


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("em_data")
    train, held_out = str(root / "train"), str(root / "eval")
    main(["collect", "--preset", "tiny", "--out", train])
    main(["collect", "--preset", "tiny", "--out", held_out, "--split", "eval", "--num-transitions", "400"])
    return train, held_out


def test_collected_format(datasets):
    train, held_out = datasets
    meta = read_metadata(train)
    assert meta["num_transitions"] == 1000 and meta["split"] == "train"
    assert read_metadata(held_out)["split"] == "eval"
    data, _ = load_transitions(train)
    assert data["obs"].dtype == np.uint8 and data["obs"].shape == (1000, 5, 5, 7)
    ep, step = data["episode"], data["step"]
    follow = (ep[1:] == ep[:-1]) & (step[1:] == step[:-1] + 1)
    assert follow.sum() > 800
    # Inside an episode the next frame is the following row's frame.
    np.testing.assert_array_equal(data["next_obs"][:-1][follow], data["obs"][1:][follow])
    done = data["terminated"] | data["truncated"]
    assert done.any() and not (data["terminated"] & data["truncated"]).any()
    # A final step's next frame is the real last frame: solved levels have no box off target.
    last = data["next_obs"][data["terminated"]]
    assert last[..., 4].sum() == 0
    assert np.isin(data["rewards"], np.float32([-1.1, -0.1, 0.9, 9.9, 10.9])).all()
    with pytest.raises(ValueError, match="already holds a data set"):
        main(["collect", "--preset", "tiny", "--out", train])


def test_collect_then_train_tiny_via_cli(datasets, tmp_path):
    train, held_out = datasets
    run = str(tmp_path / "run")
    result = main(["env-model", "--preset", "tiny", "--data", train, "--eval-data", held_out,
                   "--run-dir", run])
    rows = [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl"))]
    assert rows[-1]["losses/total"] < 0.75 * rows[0]["losses/total"]
    assert result["rollout_windows"] > 0 and len(result["rollout_cell_acc"]) == 3
    model = load_env_model(os.path.join(run, "checkpoints", "latest.keras"))
    assert model.obs_shape == (5, 5, 7) and model.num_actions == 5
    with pytest.raises(FileExistsError):
        main(["env-model", "--preset", "tiny", "--data", train, "--run-dir", run])
    resumed = main(["env-model", "--resume", run, "--total-frames", "4800"])
    assert resumed["frames"] == 4800


def test_copy_model_metrics_and_figure(datasets, tmp_path):
    _, held_out = datasets
    data, _ = load_transitions(held_out)
    copy = CopyModel(obs_shape=(5, 5, 7))
    m = evaluate_env_model(copy, data, rollout_k=3, max_samples=200, max_windows=50)
    assert m["changed_cell_acc"] == 0.0 and m["cell_acc"] > 0.8
    assert len(rollout_windows(data, 3)) > 0
    path = save_rollout_figure(copy, data, str(tmp_path / "r.png"), k=3, num_rows=2)
    assert os.path.getsize(path) > 1000


def test_no_reward_variant_via_cli(datasets, tmp_path):
    train, held_out = datasets
    run = str(tmp_path / "run_nr")
    result = main(["env-model", "--preset", "tiny", "--model-preset", "tiny", "--data", train,
                   "--eval-data", held_out, "--run-dir", run, "--set", "model.predict_reward=false"])
    assert "reward_acc" not in result and "rollout_reward_acc" not in result
    model = load_env_model(os.path.join(run, "checkpoints", "final.keras"))
    assert not model.predict_reward
    data, _ = load_transitions(held_out)
    _, reward = model.predict_next(data["obs"][:4], data["actions"][:4].astype(np.int32))
    np.testing.assert_array_equal(np.asarray(reward), 0.0)


def test_sigint_checkpoints_and_resume_finishes(datasets, tmp_path):
    """Ctrl-C (SIGINT) stops env-model training cleanly with a checkpoint; --resume finishes it."""
    import signal
    import subprocess
    import sys
    import time

    train, _ = datasets
    run = str(tmp_path / "run_int")
    metrics = os.path.join(run, "metrics.jsonl")
    proc = subprocess.Popen([sys.executable, "-m", "i2a_keras.train", "env-model", "--preset", "tiny",
                             "--data", train, "--run-dir", run, "--total-frames", "100000000",
                             "--set", "run.log_interval_frames=64"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline and proc.poll() is None and not (
                os.path.exists(metrics) and os.path.getsize(metrics) > 0):
            time.sleep(0.05)
        assert proc.poll() is None, "training ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130  # 128 + SIGINT, after the checkpoint
    assert '"stopped_early": true' in out and '"signal": "SIGINT"' in out
    latest = os.path.join(run, "checkpoints", "latest.keras")
    assert os.path.exists(latest) and not os.path.exists(os.path.join(run, "checkpoints", "final.keras"))
    from i2a_keras.training.checkpoint import read_training_state
    stopped_at = read_training_state(latest)[0]["frames"]
    assert 0 < stopped_at < 100000000
    resumed = main(["env-model", "--resume", run, "--total-frames", str(stopped_at + 640)])
    assert resumed["frames"] == stopped_at + 640
    assert os.path.exists(os.path.join(run, "checkpoints", "final.keras"))


@pytest.mark.parametrize("subcommand,flags", [
    ("env-model", ["--preset", "--set", "--run-dir", "--total-frames", "--seed", "--resume", "--print-config",
                   "--data", "--eval-data", "--model-preset"]),
    ("collect", ["--preset", "--set", "--seed", "--num-envs", "--print-config", "--out", "--split", "--policy",
                 "--agent-checkpoint", "--epsilon", "--num-transitions"]),
])
def test_cli_help_lists_the_flags(subcommand, flags, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([subcommand, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(flag in out for flag in flags)


def test_collect_with_the_pretrained_agent_policy(tmp_path):
    """The paper collects with a partially trained model-free agent (Sec. 3.2)."""
    agent = os.path.join(os.path.dirname(__file__), "..", "assets", "pretrained", "model_free_small_1box.keras")
    out = str(tmp_path / "agent")
    result = main(["collect", "--preset", "small", "--out", out, "--agent-checkpoint", agent, "--epsilon", "0.1",
                   "--num-transitions", "320", "--set", "box_counts=1", "progress=false"])
    meta = read_metadata(out)
    assert meta["policy"]["kind"] == "agent" and result["num_transitions"] == 320
    assert sum(n for r, n in meta["reward_counts"].items() if r != "-0.1") > 0  # the agent solves levels
