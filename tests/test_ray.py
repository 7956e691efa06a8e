"""Ray rollout workers (``run.distributed=ray``, algos/ray_workers.py) on a 2-CPU local cluster."""
import functools
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from i2a_keras import train
from i2a_keras.training.run_dir import read_jsonl
from i2a_testing import assert_same_arrays, curve, latest_arrays, tiny_env_model

TINY = ["--preset", "tiny", "--set", "run.total_frames=800", "run.log_interval_frames=80",
        "run.checkpoint_interval_frames=320", "eval.num_levels=2", "eval.gif=false"]


# The tests that start a local Ray carry the marker `ray`: CI runs them on their own after the
# parallel suite (`-m "not ray"`, then `-m ray`), as Ray gives its raylet 30 s to start, which busy
# cores can exceed.
@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.ray
def test_sync_ray_with_one_worker_is_the_local_a2c_run(ray_cluster, tmp_path):
    """Same seeds, same env and action streams: one Ray worker reproduces single-process A2C,
    through two checkpoints (env re-seeding) and the final evaluation."""
    local, remote = str(tmp_path / "local"), str(tmp_path / "ray")
    train.main(TINY + ["--run-dir", local])
    summary = train.main(TINY + ["--run-dir", remote, "--distributed", "ray"])
    assert summary["frames"] == 800 and summary["updates"] == 20
    assert curve(remote) == curve(local)
    (sa, wa), (sb, wb) = latest_arrays(local), latest_arrays(remote)
    assert sa["action_rngs"] == sb["action_rngs"]
    assert_same_arrays(wa, wb)
    assert json.load(open(tmp_path / "ray" / "eval.json")) == json.load(open(tmp_path / "local" / "eval.json"))


@pytest.mark.ray
def test_async_ray_resume_is_exact_and_the_policy_lag_bounded(ray_cluster, tmp_path):
    """Two workers, one rollout per update in round-robin order: the lag is at most K - 1 = 1
    update (and 1 once the pipeline is full), and a resumed run equals an uninterrupted one."""
    args = TINY + ["--distributed", "ray", "--algo", "a3c", "--set", "a2c.num_workers=2"]
    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    summary = train.main(args + ["--run-dir", straight])
    assert summary["frames"] == 800 and summary["updates"] == 20
    train.main(args + ["--run-dir", resumed, "--total-frames", "320"])
    train.main(["--resume", resumed, "--total-frames", "800"])
    rows = curve(straight)
    assert rows == curve(resumed)
    assert {r["losses/policy_lag"] for r in rows} <= {0.5, 1.0}  # 2 updates per log: (0+1)/2, 1
    assert max(r["losses/behaviour_kl"] for r in rows) > 0.0  # off-policy by one update
    (sa, wa), (sb, wb) = latest_arrays(straight), latest_arrays(resumed)
    assert sa["frames"] == sb["frames"] == 800 and len(sa["action_rngs"]) == 2
    assert_same_arrays(wa, wb)


@pytest.mark.ray
@pytest.mark.parametrize("synchronous", [False, True], ids=["async", "sync"])
def test_killed_worker_is_replaced_and_no_rollout_is_lost(ray_cluster, synchronous):
    """SIGKILL a worker's process right after a rollout was sent to it: the worker is re-created
    with its last generator, the rollout is collected again, every update sees a complete
    ``T x N`` rollout per worker and the frame count is exact."""
    from i2a_keras.algos.a2c import A2CConfig, A2CLearner, make_optimizer
    from i2a_keras.algos.ray_workers import RayWorkers
    from i2a_keras.models import ModelFreeConfig, build_agent
    from i2a_keras.training.actor_critic import derived_seed, make_env
    from i2a_keras.training.config import EnvConfig

    env, cfg = EnvConfig(dim_room=(5, 5), num_boxes=1, max_steps=20), A2CConfig(num_envs=4, num_steps=20)
    agent = build_agent("model-free", (5, 5, 7), 5, ModelFreeConfig(conv_filters=(8,), fc_units=16))
    learner = A2CLearner(agent, make_optimizer(cfg), cfg, (5, 5, 7))
    seen = []
    update = learner.update
    learner.update = lambda rollout: seen.append(rollout.actions.shape) or update(rollout)
    rngs = [np.random.default_rng(w) for w in range(2)]
    workers = RayWorkers(learner, functools.partial(make_env, env, cfg.num_envs, "train"), rngs,
                         lambda frames, w, *r: derived_seed(0, frames, w, *r), synchronous)
    workers.reset(0)
    first_pids = list(workers.pids)

    def on_update(metrics, n):
        if workers.updates == 1:  # async: worker 0 has just been sent its next rollout
            os.kill(workers.pids[0], signal.SIGKILL)

    try:
        workers.run_until(960, on_update)
        episodes = workers.pop_episodes()
    finally:
        workers.close()
    per_update = 2 * 80 if synchronous else 80
    assert workers.frames == 960 and workers.updates == 960 // per_update
    assert seen == [(20, 4 * (2 if synchronous else 1))] * workers.updates
    assert workers.restarts == 1 and workers.pids[0] != first_pids[0] and workers.pids[1] == first_pids[1]
    assert sum(e["length"] for e in episodes) <= 960 and episodes


_JAX_I2A = textwrap.dedent('''
    import json, sys
    import keras
    from i2a_keras.train import main
    assert keras.backend.backend() == "jax"
    summary = main(["i2a", "--agent", "i2a", "--env-model", sys.argv[2], "--run-dir", sys.argv[1],
                    "--preset", "tiny", "--distributed", "ray", "--algo", "a3c", "--set",
                    "a2c.num_workers=2", "i2a.rollout_length=2", "run.total_frames=160",
                    "run.log_interval_frames=40", "eval.num_levels=2", "eval.gif=false"])
    print(json.dumps({"device": summary["device"], "frames": summary["frames"]}))
''')


@pytest.mark.ray
def test_i2a_on_jax_trains_with_ray_workers_started_by_the_trainer(tmp_path):
    """The I2A (imagined rollouts replayed from the workers) under KERAS_BACKEND=jax; here the
    trainer starts and stops its own local Ray."""
    pytest.importorskip("ray")
    pytest.importorskip("jax")
    env_model = str(tmp_path / "em.keras")
    tiny_env_model().save(env_model)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", _JAX_I2A, str(tmp_path / "i2a"), env_model],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["device"].startswith("jax") and result["frames"] == 160
    rows = read_jsonl(str(tmp_path / "i2a" / "metrics.jsonl"))
    assert [r["frames"] for r in rows] == [40, 80, 120, 160]
    assert all(np.isfinite(r["losses/aux"]) and r["losses/policy_lag"] <= 1 for r in rows)


_WITHOUT_RAY = textwrap.dedent('''
    import sys
    import i2a_keras, i2a_keras.train, i2a_keras.training.actor_critic, i2a_keras.algos.ray_workers
    assert "ray" not in sys.modules, "importing i2a_keras imported ray"
    sys.modules["ray"] = None  # as if it were not installed
    from i2a_keras.train import cli
    sys.exit(cli(["--preset", "tiny", "--run-dir", sys.argv[1], "--distributed", "ray"]))
''')


def test_importing_never_imports_ray_and_a_missing_ray_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-c", _WITHOUT_RAY, str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "error: run.distributed=ray needs Ray" in last and "pip install" in last
    assert "Traceback" not in proc.stderr
    assert not os.path.exists(tmp_path / "run")  # nothing written


def test_distributed_setting_is_checked_and_fixed_on_resume(tmp_path):
    from i2a_keras.training.actor_critic import RESUMABLE_KEYS
    from i2a_keras.training.config import RunConfig

    with pytest.raises(ValueError, match="run.distributed"):
        RunConfig(distributed="spark")
    with pytest.raises(ValueError, match="--distributed ray"):
        train.main(["--preset", "tiny", "--run-dir", str(tmp_path / "run"), "--ray-address", "auto"])
    assert not os.path.exists(tmp_path / "run")
    assert "run.ray_address" in RESUMABLE_KEYS and "run.distributed" not in RESUMABLE_KEYS
    with pytest.raises(SystemExit):
        train.main(["--preset", "tiny", "--distributed", "dask"])
