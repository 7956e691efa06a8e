"""Env-model pretraining on Keras's machinery: memory-mapped data, PyDataset order, exact resume
after SIGKILL, and the same run dir trained under the TensorFlow and JAX backends."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import i2a_keras  # noqa: F401
from i2a_keras.models.env_model import frame_classes, load_env_model, reward_classes
from i2a_keras.train import main
from i2a_keras.training.checkpoint import read_training_state
from i2a_keras.training.collect import (ARRAY_KEYS, TransitionStore, load_transitions, open_transitions,
                                        read_metadata, upgrade_data_set)
from i2a_keras.training.env_model_data import TransitionBatches

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _subprocess_env(backend):
    path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": path}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("em_fit") / "train")
    main(["collect", "--preset", "tiny", "--out", out])  # 1000 transitions in shards of 600 and 400
    return out


def test_shards_are_memory_mapped_compact_npy(data_dir):
    meta = read_metadata(data_dir)
    assert meta["format_version"] == 2 and meta["frame_encoding"] == "classes"
    assert [s["num_transitions"] for s in meta["shards"]] == [600, 400]
    obs = np.load(os.path.join(data_dir, meta["shards"][0]["dir"], "obs.npy"), mmap_mode="r")
    assert isinstance(obs, np.memmap) and obs.dtype == np.uint8 and obs.shape == (600, 5, 5)  # 7x smaller
    store = TransitionStore(data_dir)
    assert all(isinstance(m, np.memmap) for m in store._frames["obs"] + store._frames["next_obs"])
    data, _ = load_transitions(data_dir)
    lazy, _ = open_transitions(data_dir)
    rows = np.array([[999, 0], [600, 599]])
    np.testing.assert_array_equal(lazy["next_obs"][rows], data["next_obs"][rows])
    np.testing.assert_array_equal(lazy["obs"][-3:], data["obs"][-3:])
    np.testing.assert_array_equal(frame_classes(data["obs"], "one_hot"), store.frame_classes("obs", np.arange(1000)))
    assert len(TransitionStore(data_dir, max_transitions=700)) == 700


def test_version_1_data_is_rejected_clearly_and_upgradable(data_dir, tmp_path):
    data, meta = load_transitions(data_dir)
    old = tmp_path / "v1"
    old.mkdir()
    np.savez_compressed(old / "shard_00000.npz", **data)
    v1 = {k: v for k, v in meta.items() if k not in ("frame_shape", "frame_encoding", "shards")}
    v1.update(format_version=1, shards=[{"file": "shard_00000.npz", "num_transitions": 1000, "num_boxes": 1}])
    (old / "metadata.json").write_text(json.dumps(v1))
    with pytest.raises(ValueError, match="version-1 .* cannot be memory-mapped.*upgrade_data_set"):
        TransitionStore(str(old))
    upgrade_data_set(str(old), str(tmp_path / "v2"))
    again, _ = load_transitions(str(tmp_path / "v2"))
    for key in ARRAY_KEYS:
        np.testing.assert_array_equal(again[key], data[key])


def test_batches_see_every_transition_once_per_epoch_in_a_seeded_resumable_order(data_dir):
    store = TransitionStore(data_dir)
    n, batch = len(store), 48  # 1000 rows: batches straddle data epochs
    steps = -(-3 * n // batch)
    full = TransitionBatches(store, batch, steps, seed=5)
    stream = np.concatenate([full.batch_rows(s) for s in range(steps)])
    assert len(stream) == steps * batch and all(len(full[i][1]["reward"]) == batch for i in (0, 20, steps - 1))
    epochs = [stream[e * n:(e + 1) * n] for e in range(3)]
    for order in epochs:
        np.testing.assert_array_equal(np.sort(order), np.arange(n))  # each transition exactly once
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[0], np.arange(n))
    same = TransitionBatches(store, batch, steps, seed=5)
    np.testing.assert_array_equal(np.concatenate([same.batch_rows(s) for s in range(steps)]), stream)
    assert not np.array_equal(TransitionBatches(store, batch, steps, seed=6).batch_rows(0), stream[:batch])
    # A resumed dataset (start_step) yields exactly the batches of the uninterrupted one.
    resumed = TransitionBatches(store, batch, steps - 25, seed=5, start_step=25)
    for i in (0, 1, len(resumed) - 1):
        (x, y), (x_full, y_full) = resumed[i], full[25 + i]
        for a, b in ((x, x_full), (y, y_full)):
            for key in a:
                np.testing.assert_array_equal(a[key], b[key])
    # Batch contents are the rows of the data set.
    data, _ = load_transitions(data_dir)
    rows = full.batch_rows(7)
    x, y = full[7]
    np.testing.assert_array_equal(x["obs"], data["obs"][rows])
    np.testing.assert_array_equal(x["actions"], data["actions"][rows])
    np.testing.assert_array_equal(y["frame"], frame_classes(data["next_obs"][rows], "one_hot"))
    np.testing.assert_array_equal(y["reward"], reward_classes(data["rewards"][rows]))
    with pytest.raises(IndexError):
        resumed[len(resumed)]


def _rows(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as fh:
        return [json.loads(line) for line in fh]


def _assert_interval_means(fine, coarse):
    """Each coarse row (interval 2L) is the mean of the two fine rows (interval L) it covers."""
    assert [r["frames"] for r in coarse] == [r["frames"] for r in fine][1::2]
    for key in ("losses/total", "losses/frame_nll", "losses/reward_nll", "train/cell_acc", "train/reward_acc"):
        pairs = np.array([r[key] for r in fine]).reshape(-1, 2)
        np.testing.assert_allclose([r[key] for r in coarse], pairs.mean(axis=1), rtol=1e-5, err_msg=key)


def test_logged_scalars_average_each_log_interval(data_dir, tmp_path):
    """The log callback resets the model's metrics, so a row covers its own interval only."""
    for every in (64, 128):
        main(["env-model", "--preset", "tiny", "--data", data_dir, "--run-dir", str(tmp_path / str(every)),
              "--total-frames", "640", "--set", f"run.log_interval_frames={every}"])
    fine, coarse = _rows(tmp_path / "64"), _rows(tmp_path / "128")
    assert {"losses/total", "losses/frame_nll", "losses/reward_nll", "charts/SPS", "charts/learning_rate",
            "train/cell_acc", "train/frame_acc", "train/reward_acc", "train/reward_acc_nonstep"} <= set(fine[0])
    _assert_interval_means(fine, coarse)


def _weights(path):
    return load_env_model(path).get_weights()


def test_resume_after_sigkill_matches_an_uninterrupted_run(data_dir, tmp_path):
    """SIGKILL mid-run, --resume from the last atomic checkpoint: bit-identical final weights."""
    args = ["--preset", "tiny", "--data", data_dir, "--total-frames", "9600",  # 300 steps
            "--set", "run.checkpoint_interval_frames=640"]
    ref, killed = str(tmp_path / "ref"), str(tmp_path / "killed")
    main(["env-model", "--run-dir", ref] + args)
    latest = os.path.join(killed, "checkpoints", "latest.keras")
    proc = subprocess.Popen([sys.executable, "-m", "i2a_keras.train", "env-model", "--run-dir", killed] + args,
                            cwd=ROOT, env=_subprocess_env("tensorflow"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 180
        while time.time() < deadline and proc.poll() is None and not os.path.exists(latest):
            time.sleep(0.01)
        assert proc.poll() is None, "training ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed_at = read_training_state(latest)[0]["frames"]
    assert 0 < killed_at < 9600 and not os.path.exists(os.path.join(killed, "checkpoints", "final.keras"))
    with pytest.raises(ValueError, match=r"cannot change run.seed \(0 -> 3\)"):
        main(["env-model", "--resume", killed, "--seed", "3"])
    assert main(["env-model", "--resume", killed])["frames"] == 9600
    for a, b in zip(_weights(os.path.join(ref, "checkpoints", "final.keras")),
                    _weights(os.path.join(killed, "checkpoints", "final.keras"))):
        np.testing.assert_array_equal(a, b)
    assert [r["frames"] for r in _rows(killed)] == list(range(640, 9601, 640))  # no rows lost or repeated


_JAX_SCRIPT = """
import json, sys
import numpy as np
from i2a_keras.models.env_model import load_env_model
from i2a_keras.train import main
from i2a_keras.training.collect import load_transitions
data_dir, from_tf, fresh = sys.argv[1:4]
resumed = main(["env-model", "--resume", from_tf, "--total-frames", "1280"])
for run_dir, every in ((fresh, 320), (fresh + "_coarse", 640)):
    trained = main(["env-model", "--preset", "tiny", "--data", data_dir, "--run-dir", run_dir,
                    "--total-frames", "1280", "--set", f"run.log_interval_frames={every}"])
data, _ = load_transitions(data_dir, max_transitions=16)
out = load_env_model(fresh + "/checkpoints/final.keras")(data["obs"], data["actions"].astype(np.int32))
np.save(fresh + "/logits.npy", np.asarray(out["frame_logits"]))
import keras
print(json.dumps({"backend": keras.backend.backend(), "resumed": resumed["frames"], "trained": trained["frames"]}))
"""


def test_tensorflow_and_jax_train_the_same_run_dirs(data_dir, tmp_path):
    """A tiny run under each backend; checkpoints written by one continue under the other."""
    from_tf, fresh = str(tmp_path / "from_tf"), str(tmp_path / "from_jax")
    main(["env-model", "--preset", "tiny", "--data", data_dir, "--run-dir", from_tf, "--total-frames", "640"])
    done = subprocess.run([sys.executable, "-c", _JAX_SCRIPT, data_dir, from_tf, fresh], cwd=ROOT,
                          env=_subprocess_env("jax"), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"backend": "jax", "resumed": 1280, "trained": 1280}
    assert read_training_state(os.path.join(from_tf, "checkpoints", "final.keras"))[0]["frames"] == 1280
    rows = _rows(fresh)
    assert rows[-1]["losses/total"] < 0.9 * rows[0]["losses/total"]  # JAX training learns
    _assert_interval_means(rows, _rows(fresh + "_coarse"))
    # The JAX-written model computes the same function under TensorFlow and keeps training.
    data, _ = load_transitions(data_dir, max_transitions=16)
    model = load_env_model(os.path.join(fresh, "checkpoints", "final.keras"))
    np.testing.assert_allclose(np.asarray(model(data["obs"], data["actions"].astype(np.int32))["frame_logits"]),
                               np.load(os.path.join(fresh, "logits.npy")), rtol=1e-4, atol=1e-4)
    assert main(["env-model", "--resume", fresh, "--total-frames", "1920"])["frames"] == 1920
