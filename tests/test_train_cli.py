"""Training CLI (``python -m i2a_keras.train``), run directories, checkpoints and resume."""
import dataclasses
import json
import os
import shutil
import warnings

import numpy as np
import pytest

import keras
from i2a_keras import train
from i2a_keras.algos.a2c import A2CConfig, make_optimizer
from i2a_keras.models import ModelFreeConfig, build_agent
from i2a_keras.models.i2a import I2AConfig
from i2a_keras.training.checkpoint import (CheckpointError, load_checkpoint, numpy_rng_state,
                                           read_training_state, restore_numpy_rng, save_checkpoint)
from i2a_keras.training.config import apply_overrides, describe_config, model_free_preset
from i2a_keras.training.run_dir import read_jsonl
from i2a_testing import assert_same_arrays, curve, latest_arrays, reevaluate

TINY = ["--preset", "tiny", "--set", "run.log_interval_frames=600"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("runs") / "tiny")
    summary = train.main(TINY + ["--run-dir", run_dir])
    return run_dir, summary


def test_tiny_preset_end_to_end(tiny_run):
    run_dir, summary = tiny_run
    assert summary["frames"] == 2000
    for name in ("config.json", "checkpoints/latest.keras", "checkpoints/final.keras", "eval.json",
                 "episode.gif", "learning_curve.png", "summary.json"):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    assert any(f.startswith("events") for f in os.listdir(os.path.join(run_dir, "tb")))
    rows = read_jsonl(os.path.join(run_dir, "metrics.jsonl"))
    assert [r["frames"] for r in rows] == [600, 1200, 1800, 2000]
    for key in ("charts/episodic_return", "charts/episodic_length", "charts/solve_rate",
                "charts/SPS", "losses/policy", "losses/value", "losses/entropy",
                "losses/explained_variance"):
        assert key in rows[0], key
    result = json.load(open(os.path.join(run_dir, "eval.json")))
    assert result["num_levels"] == 8
    # the reported evaluation is the final agent's on the run's held-out levels, as logged
    again = reevaluate(run_dir)
    assert again == {k: result[k] for k in again} == {k: summary["eval"][k] for k in again}
    last = read_jsonl(os.path.join(run_dir, "eval.jsonl"))[-1]
    assert last["frames"] == 2000 and last["eval/solve_rate"] == result["solve_rate"]
    with open(os.path.join(run_dir, "config.json")) as fh:
        assert json.load(fh)["env"]["dim_room"] == [5, 5]


def test_tensorboard_gets_the_config_table(tiny_run):
    """The run's config is a text table in TensorBoard (one row per dotted key)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    run_dir, _ = tiny_run
    texts = {}
    for name in os.listdir(os.path.join(run_dir, "tb")):
        for event in EventFileLoader(os.path.join(run_dir, "tb", name)).Load():
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "text":
                    texts[value.tag] = value.tensor.string_val[0].decode()
    table = texts["config"].splitlines()
    assert table[:2] == ["| key | value |", "|---|---|"]
    assert "| `a2c.num_envs` | `8` |" in table and "| `run.total_frames` | `2000` |" in table
    assert not any("__class__" in row for row in table)


def test_resume_reproduces_uninterrupted_run(tiny_run, tmp_path):
    straight_dir, _ = tiny_run
    run_dir = str(tmp_path / "resumed")
    train.main(TINY + ["--run-dir", run_dir, "--total-frames", "1000"])  # "killed" at 1000 frames
    with pytest.raises(FileExistsError, match="--resume"):
        train.main(TINY + ["--run-dir", run_dir])
    train.main(["--resume", run_dir, "--total-frames", "2000"])

    assert curve(run_dir) == curve(straight_dir)
    (sa, wa), (sb, wb) = latest_arrays(straight_dir), latest_arrays(run_dir)
    assert sa["frames"] == sb["frames"] == 2000 and sa["updates"] == sb["updates"]
    assert_same_arrays(wa, wb)


def test_resume_is_exact_with_the_boxoban_anchors_update(tmp_path):
    """The learned-planner anchors' update (V-trace, several minibatches, Adam, a linear learning
    rate) resumes exactly: stopped by SIGINT mid-run and resumed, the curve and the weights equal
    an uninterrupted run's (the optimizer's step count, the schedule and the minibatches carry over)."""
    import signal
    import subprocess
    import sys
    import time

    args = TINY + ["--total-frames", "3200", "--set", "a2c.vtrace=true", "a2c.num_minibatches=2",
                   "a2c.gae_lambda=0.5", "a2c.optimizer=adam", "a2c.learning_rate=4e-4",
                   "a2c.lr_schedule=linear", "run.checkpoint_interval_frames=400", "eval.num_levels=2",
                   "eval.gif=false", "run.progress=false"]
    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    train.main(args + ["--run-dir", straight])
    latest = os.path.join(resumed, "checkpoints", "latest.keras")
    proc = subprocess.Popen([sys.executable, "-m", "i2a_keras.train", *args, "--run-dir", resumed],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not os.path.exists(latest) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    assert proc.wait() == 130  # stopped by the signal, after a checkpoint
    assert 0 < read_training_state(latest)[0]["frames"] < 3200
    train.main(["--resume", resumed])

    assert curve(resumed) == curve(straight) and len(curve(straight)) == 6
    (sa, wa), (sb, wb) = latest_arrays(straight), latest_arrays(resumed)
    assert sa["frames"] == sb["frames"] == 3200 and sa["updates"] == sb["updates"]
    assert_same_arrays(wa, wb)


def test_checkpoint_round_trip_model_optimizer_counters(tmp_path):
    import tensorflow as tf

    agent = build_agent("model-free", (5, 5, 7), 5, ModelFreeConfig(conv_filters=(8,), fc_units=16))
    opt = make_optimizer(A2CConfig())
    agent.compile(optimizer=opt)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(agent(np.ones((2, 5, 5, 7), np.uint8))["value"] ** 2)
    opt.apply(tape.gradient(loss, agent.trainable_variables), agent.trainable_variables)
    rng = np.random.default_rng(7)
    rng.random(3)
    path = str(tmp_path / "ckpt" / "latest.keras")
    save_checkpoint(path, agent, {"frames": 1234, "rng": numpy_rng_state(rng)}, {"a": np.arange(4)})
    assert os.listdir(tmp_path / "ckpt") == ["latest.keras"]  # no temp file left behind
    model, state, arrays = load_checkpoint(path)
    assert state["frames"] == 1234 and list(arrays["a"]) == [0, 1, 2, 3]
    assert int(model.optimizer.iterations.numpy()) == 1
    for x, y in zip(model.optimizer.variables, opt.variables):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert restore_numpy_rng(state["rng"]).random() == rng.random()
    # The .keras file is a plain Keras archive: safe-mode loading works without our helper.
    plain = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(plain.get_weights()[0], agent.get_weights()[0])

    def broken_save(*args, **kwargs):
        raise RuntimeError("disk full")

    agent.save = broken_save
    with pytest.raises(RuntimeError):
        save_checkpoint(path, agent, {"frames": 9999})
    assert load_checkpoint(path)[1]["frames"] == 1234  # the previous checkpoint survives
    assert os.listdir(tmp_path / "ckpt") == ["latest.keras"]


def test_an_inference_export_drops_the_optimizer_and_cannot_be_resumed(tiny_run, tmp_path, capsys):
    from i2a_keras.training.checkpoint import export_for_inference

    run_dir, _ = tiny_run
    src = os.path.join(run_dir, "checkpoints", "latest.keras")
    out = export_for_inference(src, str(tmp_path / "agent.keras"))
    full, full_state, _ = load_checkpoint(src)
    agent, state, arrays = load_checkpoint(out)
    assert getattr(agent, "optimizer", None) is None and full.optimizer is not None and not arrays
    assert os.path.getsize(out) < 0.75 * os.path.getsize(src)
    assert state["frames"] == full_state["frames"] and state["inference_only"]
    for a, b in zip(agent.get_weights(), full.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert train.main(["evaluate", "--checkpoint", out, "--set", "eval.num_levels=2"])["num_levels"] == 2
    copy = tmp_path / "resume"
    shutil.copytree(run_dir, copy)
    shutil.copy(out, copy / "checkpoints" / "latest.keras")
    with pytest.raises(CheckpointError, match="no optimizer state"):
        train.main(["--resume", str(copy), "--total-frames", "100000"])


@pytest.mark.parametrize("argv,message", [
    (["--preset", "huge"], "unknown preset"),
    (["--set", "a2c.lr=1"], "unknown config key 'a2c.lr'"),
    (["--set", "env.num_boxes=two"], "env.num_boxes"),
    (["--set", "run.progress=maybe"], "run.progress"),
    (["--set", "env.max_steps"], "key=value"),
    (["--num-envs", "x"], "--num-envs"),
    (["nonsense"], "unknown subcommand"),
    (["--set", "env.levels=boxoban:/no/such/dir"], "does not exist"),
    (["--set", "env.levels=levels-from-nowhere"], "unknown level source spec"),
    (["--set", "a2c.num_minibatches=3"], "must divide num_envs"),
    (["--algo", "a3c", "--set", "a2c.num_minibatches=2"], "is for algo=a2c"),
])
def test_bad_arguments_exit_with_usage_error(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        train.main(argv + ["--run-dir", str(tmp_path / "x")])
    assert exc.value.code not in (0, None)
    captured = capsys.readouterr()
    assert message in captured.err + str(exc.value.code)


def test_missing_subcommand_module_is_a_clear_not_implemented(monkeypatch):
    monkeypatch.setitem(train.SUBCOMMANDS, "future", ("parser", "i2a_keras.training.not_there",
                                                      "add_arguments", "run_command",
                                                      "docs/design.md#future", ""))
    with pytest.raises(NotImplementedError, match="see docs/design.md#future"):
        train.main(["future"])


def test_a3c_smoke(tmp_path):
    run_dir = str(tmp_path / "a3c")
    summary = train.main(["--preset", "tiny", "--algo", "a3c", "--run-dir", run_dir, "--total-frames",
                          "800", "--set", "a2c.num_workers=2", "eval.gif=false", "eval.num_levels=4"])
    assert summary["frames"] >= 800 and summary["updates"] >= 20
    rows = read_jsonl(os.path.join(run_dir, "metrics.jsonl"))
    assert rows and all(np.isfinite(r["losses/total"]) for r in rows)
    assert os.path.isfile(os.path.join(run_dir, "checkpoints", "final.keras"))


def test_the_resnet_tower_trains_and_resumes_from_the_cli(tmp_path):
    """``--set model.size=resnet`` with the preset's tower fields cleared (the learned-planner
    ResNet, 27 convs) trains in bfloat16, checkpoints and resumes with the same tower."""
    run_dir = str(tmp_path / "resnet")
    train.main(["model-free", "--preset", "tiny", "--run-dir", run_dir, "--total-frames", "80",
                "--mixed-precision", "bfloat16", "--set", "model.size=resnet", "model.conv_filters=none",
                "model.kernel_sizes=none", "model.strides=none", "model.fc_units=none",
                "eval.gif=false", "eval.num_levels=2", "eval.num_envs=2"])
    agent, state, _ = load_checkpoint(os.path.join(run_dir, "checkpoints", "latest.keras"), compile=False)
    assert agent.arch.size == "resnet" and agent.arch.residual_blocks == 2 and len(agent.convs) == 28
    assert train.main(["--resume", run_dir, "--total-frames", "120"])["frames"] == 120


def test_evaluate_subcommand(tiny_run, capsys):
    run_dir, _ = tiny_run
    ckpt = os.path.join(run_dir, "checkpoints", "final.keras")
    result = train.main(["evaluate", "--checkpoint", ckpt, "--set", "eval.num_levels=6",
                         "eval.greedy=false"])
    assert result["num_levels"] == 6 and result["env"]["dim_room"] == (5, 5)
    assert os.path.isfile(os.path.join(run_dir, "checkpoints", "final.eval.json"))


def test_evaluate_gif_of_several_episodes(tiny_run, tmp_path):
    import imageio.v3 as iio

    run_dir, _ = tiny_run
    ckpt = os.path.join(run_dir, "checkpoints", "final.keras")
    lengths = {}
    for n in (1, 3):
        gif = str(tmp_path / f"ep{n}.gif")
        train.main(["evaluate", "--checkpoint", ckpt, "--gif", gif, "--set", "eval.num_levels=2",
                    f"gif_episodes={n}"])
        frames = iio.imread(gif, index=None)
        assert frames.shape[1:] == (5 * 16, 5 * 16, 3)
        lengths[n] = len(frames)
    assert lengths[3] > lengths[1] >= 2
    with pytest.raises(SystemExit):
        train.main(["evaluate", "--checkpoint", ckpt, "--gif", str(tmp_path / "x.gif"),
                    "--set", "gif_episodes=0"])


@pytest.mark.parametrize("flag,compute_dtype,loss_scaling", [
    (["--mixed-precision"], "float16", True),
    (["--mixed-precision", "bfloat16"], "bfloat16", False),
])
def test_mixed_precision_flag(flag, compute_dtype, loss_scaling, tmp_path):
    if compute_dtype == "float16" and keras.backend.backend() == "jax":
        pytest.skip("float16 loss scaling is TensorFlow-only")
    try:
        summary = train.main(["--preset", "tiny", *flag, "--total-frames", "400",
                              "--run-dir", str(tmp_path / "mp"), "--set", "eval.gif=false",
                              "eval.num_levels=2"])
        assert keras.mixed_precision.global_policy().name == "float32"  # restored for the caller
        agent = load_checkpoint(summary["final_checkpoint"])[0]
        assert agent.dtype_policy.name == "mixed_" + compute_dtype  # the policy it was built under
        assert all(w.dtype == "float32" for w in agent.weights)
        assert isinstance(agent.optimizer, keras.optimizers.LossScaleOptimizer) == loss_scaling
        out = agent(np.zeros((2, 5, 5, 7), np.uint8))
        assert out["logits"].dtype == "float32" and out["value"].dtype == "float32"
        rows = read_jsonl(str(tmp_path / "mp" / "metrics.jsonl"))
        assert all(np.isfinite(r["losses/total"]) for r in rows)
        with open(tmp_path / "mp" / "config.json") as f:
            assert json.load(f)["run"]["mixed_precision"] == compute_dtype
    finally:
        keras.mixed_precision.set_global_policy("float32")


_ZEN3_FLAGS = "flags\t\t: fpu sse2 avx avx2 fma bmi2 sha_ni vaes\n"  # AMD EPYC Zen 3: no bfloat16
_ZEN4_FLAGS = "flags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n"
_ARM_FEATURES = "Features\t: fp asimd sve bf16 i8mm\n"


@pytest.mark.parametrize("cpuinfo,native", [
    (_ZEN3_FLAGS * 2, False), (_ZEN3_FLAGS + _ZEN4_FLAGS, True), (_ARM_FEATURES, True),
    ("processor\t: 0\n", None), (None, None),
])
def test_native_bfloat16_is_read_from_the_cpu_flags(cpuinfo, native, tmp_path):
    from i2a_keras.backends import cpu_has_native_bfloat16

    path = tmp_path / "cpuinfo"
    if cpuinfo is not None:
        path.write_text(cpuinfo)
    assert cpu_has_native_bfloat16(str(path)) is native


@pytest.mark.parametrize("native,warns", [(False, True), (True, False), (None, False)])
def test_bfloat16_on_a_cpu_that_emulates_it_warns(native, warns, monkeypatch):
    from i2a_keras import backends
    from i2a_keras.training.actor_critic import setup_runtime

    monkeypatch.setattr(backends, "cpu_has_native_bfloat16", lambda: native)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            setup_runtime(0, "bfloat16")
            setup_runtime(0, "off")  # float32 never warns
    finally:
        keras.mixed_precision.set_global_policy("float32")
    slow = [w for w in caught if "without bfloat16 instructions" in str(w.message)]
    assert len(slow) == int(warns)
    if warns:
        assert slow[0].category is RuntimeWarning and "--mixed-precision off" in str(slow[0].message)


def test_a_resume_may_switch_between_float32_and_bfloat16_but_not_float16(tmp_path):
    run_dir = str(tmp_path / "run")
    common = ["--set", "eval.gif=false", "eval.num_levels=2", "run.progress=false"]
    train.main(["--preset", "tiny", "--total-frames", "400", "--run-dir", run_dir] + common)
    with pytest.raises(ValueError, match="loss scaling is part of the saved optimizer"):
        train.main(["--resume", run_dir, "--mixed-precision", "--total-frames", "800"] + common)
    for precision, frames in (("bfloat16", 800), ("off", 1200)):
        summary = train.main(["--resume", run_dir, "--mixed-precision", precision,
                              "--total-frames", str(frames)] + common)
        assert summary["frames"] == frames
        # the resumed agent took the run's new policy (it was saved under the old one)
        policy = {"bfloat16": "mixed_bfloat16", "off": "float32"}[precision]
        assert load_checkpoint(summary["final_checkpoint"])[0].dtype_policy.name == policy
    log = read_jsonl(os.path.join(run_dir, "resume_log.jsonl"))
    assert [row["changes"]["run.mixed_precision"] for row in log[-2:]] == [
        {"from": "off", "to": "bfloat16"}, {"from": "bfloat16", "to": "off"}]


def test_mixed_precision_setting_reads_old_configs_and_refuses_unknown_values():
    from i2a_keras.training.config import ActorCriticConfig, RunConfig, config_from_dict, config_to_dict

    assert RunConfig(mixed_precision=True).mixed_precision == "float16"  # configs saved as booleans
    assert apply_overrides(model_free_preset("tiny"), ["run.mixed_precision=false"]).run.mixed_precision == "off"
    old = config_to_dict(model_free_preset("tiny"))
    old["run"]["mixed_precision"] = False
    assert config_from_dict(ActorCriticConfig, old).run.mixed_precision == "off"
    with pytest.raises(ValueError, match="run.mixed_precision"):
        RunConfig(mixed_precision="int8")
    with pytest.raises(ValueError, match="run.mixed_precision"):
        apply_overrides(model_free_preset("tiny"), ["run.mixed_precision=half"])
    from i2a_keras.training.env_model_train import env_model_preset

    with pytest.raises(ValueError, match="env-model pretraining runs in float32"):
        apply_overrides(env_model_preset("tiny"), ["run.mixed_precision=bfloat16"])


@pytest.mark.parametrize("argv,key,value", [
    (["model-free", "--preset", "boxoban"], "env.dim_room", "10,10"),
    (["i2a", "--preset", "small", "--agent", "i2a-copy-model"], "model.rollout_length", "5"),
])
def test_print_config_keys_lists_the_settings_with_their_meaning(argv, key, value, capsys):
    train.main(argv + ["--print-config", "keys"])
    rows = {line.split()[0]: line.split(None, 2)[1:] for line in capsys.readouterr().out.splitlines()}
    assert rows[key][0] == value and len(rows[key][1]) > 10 and "a2c.learning_rate" in rows


def test_the_pretraining_settings_are_documented_too(capsys):
    from i2a_keras.training.collect import collect_preset
    from i2a_keras.training.env_model_train import env_model_preset

    for config in (env_model_preset("boxoban"), collect_preset("minipacman")):
        assert [key for key, _, meaning in describe_config(config) if not meaning] == []
    assert train.main(["env-model", "--preset", "boxoban", "--print-config", "keys"]) is None
    assert "Adam's initial learning rate" in capsys.readouterr().out


@pytest.mark.parametrize("model", [None, I2AConfig.preset("boxoban")])
def test_every_actor_critic_setting_is_documented_and_printed_as_set_takes_it(model):
    """Each field carries a docstring (shown by --print-config keys), and the printed values,
    given back through --set, leave the config as it was."""
    config = model_free_preset("boxoban")
    if model is not None:
        config = dataclasses.replace(config, agent="i2a", model=model)
    rows = describe_config(config)
    assert [key for key, _, meaning in rows if not meaning] == []
    assert apply_overrides(config, [f"{key}={text}" for key, text, _ in rows if text]) == config


def test_every_hook_fires_once_per_interval_passed_and_stands_down_at_the_end():
    from i2a_keras.training.actor_critic import Every

    calls = []
    hook = Every(100, 250, lambda: calls.append(frames), until=600)  # resumed at 250 frames
    for frames in (260, 290, 300, 320, 460, 599, 600, 700):  # updates of uneven size
        hook.on_update(frames)
    assert calls == [300, 460, 599]  # 300, then 400 passed at 460 (once), 500 at 599; 600 is the end
    never = Every(0, 0, lambda: calls.append("never"))
    for frames in (100, 10_000):
        never.on_update(frames)
    assert never.next is None and "never" not in calls
