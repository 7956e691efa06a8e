"""``python -m i2a_keras.train i2a``: tiny end-to-end runs for every agent kind, resume."""
import json
import os
import shutil

import numpy as np
import pytest

from i2a_keras.models.env_model import EnvModel
from i2a_keras.train import main
from i2a_keras.training.checkpoint import load_checkpoint
from i2a_testing import assert_same_arrays, latest_arrays, reevaluate

TINY = ["--preset", "tiny", "--set", "run.total_frames=80", "--set", "eval.num_levels=2",
        "--set", "eval.num_envs=2", "--set", "eval.gif=false", "--set", "run.progress=false"]


@pytest.fixture(scope="module")
def env_model_paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("env_models")
    paths = {}
    for name, predict_reward in (("reward", True), ("no_reward", False)):
        model = EnvModel(obs_shape=(5, 5, 7), num_actions=5, channels=8, num_blocks=1,
                         branch_channels=(0, 8), reward_hidden=8, predict_reward=predict_reward)
        paths[name] = str(root / f"{name}.keras")
        model.save(paths[name])
    return paths


@pytest.mark.parametrize("agent,env_model", [("i2a", "reward"), ("i2a-no-reward", "no_reward"),
                                             ("i2a-copy-model", None), ("model-free", None)])
def test_each_agent_kind_trains_end_to_end(tmp_path, env_model_paths, agent, env_model):
    run_dir = str(tmp_path / agent)
    argv = ["i2a", "--agent", agent, "--run-dir", run_dir] + TINY
    if env_model:
        argv += ["--env-model", env_model_paths[env_model]]
    if agent != "model-free":
        argv += ["--set", "i2a.rollout_length=3"]
    summary = main(argv)
    assert summary["frames"] == 80 and summary["eval"]["num_levels"] == 2
    # the reported evaluation is the final agent's on the run's held-out levels, as logged
    again = reevaluate(run_dir)
    assert again == {k: summary["eval"][k] for k in again}
    with open(os.path.join(run_dir, "eval.jsonl")) as fh:
        logged = json.loads(fh.readlines()[-1])
    assert logged["eval/solve_rate"] == summary["eval"]["solve_rate"]
    with open(os.path.join(run_dir, "metrics.jsonl")) as fh:
        last = json.loads(fh.readlines()[-1])
    # the update differentiated the very policy that acted (exact imagination)
    assert abs(last["losses/behaviour_kl"]) < 1e-6
    assert ("losses/aux" in last) == (agent != "model-free")
    with open(os.path.join(run_dir, "config.json")) as fh:
        config = json.load(fh)
    assert config["agent"] == agent
    if agent != "model-free":
        assert config["model"]["rollout_length"] == 3
    assert os.path.isfile(os.path.join(run_dir, "checkpoints", "final.keras"))


def test_resume_continues_an_i2a_run(tmp_path, env_model_paths):
    run_dir = str(tmp_path / "run")
    env_model = str(tmp_path / "em.keras")
    shutil.copy(env_model_paths["reward"], env_model)
    main(["i2a", "--agent", "i2a", "--env-model", env_model, "--run-dir", run_dir] + TINY)
    os.remove(env_model)  # the checkpoint carries the frozen env model: no path needed to resume
    summary = main(["i2a", "--resume", run_dir, "--set", "run.total_frames=160"])
    assert summary["frames"] == 160


def test_bad_arguments_are_usage_errors(tmp_path, env_model_paths, capsys):
    cases = [
        (["--agent", "i2a", "--run-dir", str(tmp_path / "x")], "--env-model"),
        (["--agent", "i2a", "--env-model", str(tmp_path / "missing.keras"),
          "--run-dir", str(tmp_path / "y")], "not a file"),
        (["--agent", "i2a-copy-model", "--run-dir", str(tmp_path / "z"),
          "--set", "i2a.rollout_lenght=3"], "unknown config key"),
        (["--agent", "model-free", "--run-dir", str(tmp_path / "w"),
          "--set", "i2a.rollout_length=3"], "unknown config key 'model.rollout_length'"),
        (["--agent", "model-free", "--env-model", env_model_paths["reward"],
          "--run-dir", str(tmp_path / "v")], "--env-model is meaningless for --agent model-free"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exc:
            main(["i2a"] + argv + TINY)
        assert exc.value.code == 2
        assert message in capsys.readouterr().err
        assert not os.path.exists(argv[argv.index("--run-dir") + 1])


def test_common_flags_and_print_config(tmp_path, env_model_paths, capsys):
    run_dir = str(tmp_path / "flags")
    assert main(["i2a", "--agent", "i2a-copy-model", "--run-dir", run_dir, "--print-config",
                 "--total-frames", "120", "--seed", "7", "--num-envs", "4", "--algo", "a3c",
                 "--set", "i2a.rollout_length=2", "eval.num_levels=3"]) is None
    out = capsys.readouterr().out
    for text in ('"total_frames": 120', '"seed": 7', '"num_envs": 4', '"algo": "a3c"',
                 '"rollout_length": 2', '"num_levels": 3'):
        assert text in out, text
    assert not os.path.exists(run_dir)


def test_resume_of_a_sampled_i2a_run_is_exact(tmp_path, env_model_paths):
    """A sampled-imagination I2A run stopped at a checkpoint and resumed ends with the weights and
    optimizer state of an uninterrupted run: the rollout noise comes from the checkpointed
    generator, not from an unsaved seed-generator state."""
    
    args = ["--agent", "i2a", "--env-model", env_model_paths["reward"], "--preset", "tiny",
            "--set", "i2a.rollout_length=3", "i2a.rollout_sampling=sample", "eval.num_levels=2",
            "eval.num_envs=2", "eval.gif=false", "run.progress=false",
            "run.checkpoint_interval_frames=80", "run.log_interval_frames=40"]
    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    main(["i2a", "--run-dir", straight, "--total-frames", "160"] + args)
    main(["i2a", "--run-dir", resumed, "--total-frames", "80"] + args)
    main(["i2a", "--resume", resumed, "--total-frames", "160"])
    (sa, wa), (sb, wb) = latest_arrays(straight), latest_arrays(resumed)
    assert sa["frames"] == sb["frames"] == 160
    assert_same_arrays(wa, wb)


def test_bfloat16_i2a_keeps_its_loaded_env_model_in_float32(tmp_path, env_model_paths):
    import keras

    
    run_dir = str(tmp_path / "bf16")
    summary = main(["i2a", "--agent", "i2a", "--env-model", env_model_paths["reward"],
                    "--run-dir", run_dir, "--mixed-precision", "bfloat16"] + TINY)
    try:  # load as a bfloat16 resume does: the global policy set first
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        agent = load_checkpoint(summary["final_checkpoint"])[0]
    finally:
        keras.mixed_precision.set_global_policy("float32")
    env_model = agent.env_model
    assert env_model.layers and {layer.compute_dtype for layer in env_model._flatten_layers()} == {"float32"}
    assert agent.get_layer("rollout_encoder").compute_dtype == "bfloat16"
    assert agent.get_layer("model_free_conv0").compute_dtype == "bfloat16"
    with open(os.path.join(run_dir, "metrics.jsonl")) as fh:
        rows = [json.loads(line) for line in fh]
    assert all(np.isfinite(r["losses/total"]) for r in rows)
    assert max(abs(r["losses/behaviour_kl"]) for r in rows) < 1e-4  # the update replays the acting


def test_threads_sets_tensorflow_pools_and_warns_under_other_backends(monkeypatch):
    """``--threads`` limits TensorFlow's pools; under JAX it cannot, and says so instead of
    silently running on every core."""
    from i2a_keras.training import i2a_train

    calls = []
    tf = pytest.importorskip("tensorflow")
    monkeypatch.setattr(tf.config.threading, "set_intra_op_parallelism_threads", calls.append)
    monkeypatch.setattr(tf.config.threading, "set_inter_op_parallelism_threads", calls.append)
    monkeypatch.setattr(i2a_train.keras.backend, "backend", lambda: "tensorflow")
    i2a_train._set_threads(1)
    assert calls == [1, 1]
    monkeypatch.setattr(i2a_train.keras.backend, "backend", lambda: "jax")
    with pytest.warns(UserWarning, match="no effect under the jax backend"):
        i2a_train._set_threads(2)
    assert calls == [1, 1]
