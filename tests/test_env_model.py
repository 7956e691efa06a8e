"""Unit tests of the environment model (paper Sec. 3.2 / appendix), on synthetic data."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import i2a_keras  # noqa: F401  (sets the Keras backend)
from i2a_keras.models.env_model import (
    SOKOBAN_REWARD_VALUES, CopyModel, EnvModel, EnvModelConfig, count_params,
    frame_classes, load_env_model, make_no_reward_env_model, reward_classes, sokoban_reward_values)

PALETTE = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [10, 20, 30], [200, 200, 200]], np.uint8)


def _walk_batch(n, size=5, seed=0):
    """Player (code 5) walking in an open walled room: obs, actions, next obs (one-hot)."""
    rng = np.random.default_rng(seed)
    rooms = np.ones((n, size, size), np.uint8)
    rooms[:, 0, :] = rooms[:, -1, :] = rooms[:, :, 0] = rooms[:, :, -1] = 0
    pos = rng.integers(1, size - 1, (n, 2))
    rooms[np.arange(n), pos[:, 0], pos[:, 1]] = 5
    actions = rng.integers(0, 5, n)
    delta = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]])[actions]
    new = np.clip(pos + delta, 1, size - 2)
    nxt = np.ones_like(rooms)
    nxt[:, 0, :] = nxt[:, -1, :] = nxt[:, :, 0] = nxt[:, :, -1] = 0
    nxt[np.arange(n), new[:, 0], new[:, 1]] = 5
    eye = np.eye(7, dtype=np.uint8)
    return eye[rooms], actions, eye[nxt]


def test_reward_values_derived_from_rules():
    assert SOKOBAN_REWARD_VALUES == (-1.1, -0.1, 0.9, 9.9, 10.9)
    assert sokoban_reward_values(step_penalty=0.0) == (-1.0, 0.0, 1.0, 10.0, 11.0)
    np.testing.assert_array_equal(reward_classes([-0.1, 10.9, -1.1, 0.9000001]), [1, 4, 0, 2])
    with pytest.raises(ValueError, match="not in the reward value set"):
        reward_classes([0.5])


def test_frame_classes_one_hot_and_palette():
    obs, _, _ = _walk_batch(3)
    np.testing.assert_array_equal(frame_classes(obs, "one_hot"), obs.argmax(-1))
    with pytest.raises(ValueError, match="exactly one-hot"):
        frame_classes(obs * 2, "one_hot")
    idx = np.random.default_rng(0).integers(0, len(PALETTE), (2, 16, 16))
    np.testing.assert_array_equal(frame_classes(PALETTE[idx], "rgb", PALETTE), idx)
    bad = PALETTE[idx].copy()
    bad[0, 0, 0] = [1, 2, 3]
    with pytest.raises(ValueError, match="outside the palette"):
        frame_classes(bad, "rgb", PALETTE)


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_shapes_one_hot(preset):
    model = EnvModel.from_env_model_config(EnvModelConfig.preset(preset))
    obs = np.eye(7, dtype=np.uint8)[np.random.default_rng(0).integers(0, 7, (4, 7, 7))]
    out = model(obs, np.array([0, 1, 2, 4]))
    assert out["frame_logits"].shape == (4, 7, 7, 7)
    assert out["reward_logits"].shape == (4, len(SOKOBAN_REWARD_VALUES))
    nxt, reward = model.predict_next(obs, np.array([0, 1, 2, 4]))
    assert nxt.shape == obs.shape and nxt.dtype == tf.uint8
    assert np.all(np.asarray(nxt).sum(-1) == 1)
    assert np.isin(np.asarray(reward), np.float32(SOKOBAN_REWARD_VALUES)).all()


def test_shapes_rgb_and_tiny_rgb():
    model = EnvModel.from_env_model_config(EnvModelConfig.preset(
        "tiny", observation="rgb", obs_shape=(40, 40, 3), palette=PALETTE))
    obs = PALETTE[np.random.default_rng(0).integers(0, 5, (2, 40, 40))]
    out = model(obs, np.array([1, 3]))
    assert out["frame_logits"].shape == (2, 40, 40, len(PALETTE))
    nxt, _ = model.predict_next(obs, np.array([1, 3]), sample=True, seed=3)
    assert nxt.shape == (2, 40, 40, 3)
    frame_classes(np.asarray(nxt), "rgb", PALETTE)  # every predicted pixel is a palette colour
    tiny = EnvModel.from_env_model_config(EnvModelConfig.preset(
        "tiny", observation="tiny_rgb", obs_shape=(6, 6, 3), palette=PALETTE))
    assert tiny(obs[:, :6, :6], np.array([0, 0]))["frame_logits"].shape == (2, 6, 6, len(PALETTE))


def test_bad_inputs_raise():
    model = EnvModel.from_env_model_config(EnvModelConfig.preset("tiny"))
    obs = np.zeros((2, 7, 7, 7), np.uint8)
    obs[..., 1] = 1
    with pytest.raises(ValueError, match="obs must have shape"):
        model(obs[:, :5], np.array([0, 1]))
    with pytest.raises(ValueError, match="actions must be in"):
        model(obs, np.array([0, 5]))
    with pytest.raises(ValueError, match="needs a palette"):
        EnvModel(observation="rgb", obs_shape=(80, 80, 3))
    with pytest.raises(ValueError, match="unknown env-model preset"):
        EnvModelConfig.preset("huge")


def test_predict_next_in_tf_function_float_inputs():
    model = EnvModel.from_env_model_config(EnvModelConfig.preset("tiny"))
    obs, actions, _ = _walk_batch(6, size=7)

    @tf.function
    def imagine(o, a):
        return model.predict_next(o, a, sample=True)

    nxt, reward = imagine(tf.constant(obs, tf.float32), tf.constant(actions, tf.int32))
    assert nxt.dtype == tf.float32 and nxt.shape == obs.shape and reward.shape == (6,)


def test_fit_with_the_models_own_loss_decreases_it_and_beats_copy_on_changed_cells():
    keras.utils.set_random_seed(1)
    obs, actions, nxt = _walk_batch(256, size=5)
    model = EnvModel.from_env_model_config(EnvModelConfig.preset(
        "tiny", obs_shape=(5, 5, 7), channels=16, branch_channels=(0, 16)))
    targets = frame_classes(nxt, "one_hot")
    model.compile(optimizer=keras.optimizers.Adam(1e-2))  # no loss argument: EnvModel.compute_loss
    x = {"obs": obs, "actions": actions.astype(np.int32)}
    y = {"frame": targets, "reward": np.full(len(obs), 1, np.int32)}
    history = model.fit(x, y, batch_size=256, epochs=200, shuffle=False, verbose=0).history
    assert history["loss"][-1] < 0.01 * history["loss"][0]
    assert history["cell_acc"][-1] > 0.99 and history["reward_acc"][-1] == 1.0
    np.testing.assert_allclose(history["loss"][0], history["frame_nll"][0] + 0.1 * history["reward_nll"][0],
                               rtol=1e-5)
    pred = frame_classes(np.asarray(model.predict_next(obs, actions)[0]), "one_hot")
    changed = targets != obs.argmax(-1)
    assert changed.sum() > 50
    assert (pred[changed] == targets[changed]).mean() > 0.95  # the copy model gets 0 here
    with pytest.raises(ValueError, match="needs targets"):
        model.fit(x, targets, batch_size=256, epochs=1, verbose=0)


def test_reward_accuracy_on_non_step_rewards_fails_a_constant_step_penalty_predictor():
    """Almost every Sokoban reward is the step penalty -0.1: a model that always predicts it has a
    high plain reward accuracy but 0 on the rewards that matter (box on/off target, solved)."""
    model = EnvModel.from_env_model_config(EnvModelConfig.preset("tiny", obs_shape=(5, 5, 7)))
    step = SOKOBAN_REWARD_VALUES.index(-0.1)
    kernel, bias = model.reward_head.get_weights()
    model.reward_head.set_weights([np.zeros_like(kernel), 10.0 * np.eye(len(bias))[step]])
    obs, actions, nxt = _walk_batch(100, size=5)
    rewards = np.full(100, -0.1, np.float32)
    rewards[:10] = [0.9, 0.9, -1.1, 10.9, 9.9, 0.9, -1.1, 0.9, 0.9, 0.9]
    model.compile(optimizer="adam")
    m = model.evaluate({"obs": obs, "actions": actions.astype(np.int32)},
                       {"frame": frame_classes(nxt, "one_hot"), "reward": reward_classes(rewards)},
                       batch_size=50, verbose=0, return_dict=True)
    assert m["reward_acc"] == pytest.approx(0.9) and m["reward_acc_nonstep"] == 0.0
    from i2a_keras.training.env_model_eval import evaluate_env_model
    data = {"obs": obs, "actions": actions, "next_obs": nxt, "rewards": rewards,
            "episode": np.arange(100), "step": np.zeros(100, np.int32)}
    held_out = evaluate_env_model(model, data, rollout_k=1, max_samples=100)
    assert held_out["reward_acc"] == pytest.approx(0.9) and held_out["reward_acc_nonstep"] == 0.0


def test_copy_model_is_exact_copy():
    obs, actions, _ = _walk_batch(4, size=7)
    copy = CopyModel()
    nxt, reward = copy.predict_next(obs, actions)
    np.testing.assert_array_equal(np.asarray(nxt), obs)
    np.testing.assert_array_equal(np.asarray(reward), 0.0)
    decoded = copy.decode_frame(copy(obs, actions)["frame_logits"])
    np.testing.assert_array_equal(np.asarray(decoded), obs)
    rgb = PALETTE[np.random.default_rng(1).integers(0, 5, (2, 16, 16))]
    copy_rgb = CopyModel(obs_shape=(16, 16, 3), observation="rgb", palette=PALETTE)
    np.testing.assert_array_equal(np.asarray(copy_rgb.decode_frame(copy_rgb(rgb, [0, 1])["frame_logits"])), rgb)
    assert count_params(copy) == 0


def test_no_reward_variant_outputs_zero_reward():
    model = make_no_reward_env_model(channels=8, num_blocks=1, branch_channels=(0, 8))
    obs, actions, _ = _walk_batch(4, size=7)
    out = model(obs, actions)
    np.testing.assert_array_equal(np.asarray(out["reward_logits"]), 0.0)
    _, reward = model.predict_next(obs, actions)
    np.testing.assert_array_equal(np.asarray(reward), 0.0)
    assert not any("reward" in w.path for w in model.weights)


@pytest.mark.parametrize("kind", ["env", "no_reward", "copy"])
def test_keras_safe_mode_round_trip(tmp_path, kind):
    obs, actions, _ = _walk_batch(3, size=7)
    if kind == "copy":
        model = CopyModel()
    else:
        model = EnvModel.from_env_model_config(EnvModelConfig.preset("tiny", predict_reward=kind == "env"))
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = load_env_model(path)
    assert type(loaded) is type(model)
    a, b = model(obs, actions), loaded(obs, actions)
    for key in a:
        np.testing.assert_allclose(np.asarray(a[key]), np.asarray(b[key]), atol=1e-6)
    assert loaded.get_config() == model.get_config()


@pytest.mark.parametrize("preset", ["compact32", "paper_size"])
def test_paper_style_reward_head_shapes(preset):
    model = EnvModel.from_env_model_config(EnvModelConfig.preset(preset))
    assert not model.reward_from_frames
    obs, actions, _ = _walk_batch(3, size=7)
    out = model(obs, actions)
    assert out["frame_logits"].shape == (3, 7, 7, 7) and out["reward_logits"].shape == (3, 5)


def test_pretrained_small_model_predicts_real_transitions():
    """The committed compact model (docs/design.md) imagines real 7x7 Sokoban steps correctly,
    including the rewards that are not the step penalty (a constant -0.1 predictor fails here)."""
    import os

    from i2a_keras.training.actor_critic import make_env
    from i2a_keras.training.config import EnvConfig
    path = os.path.join(os.path.dirname(__file__), "..", "assets", "pretrained", "env_model_small.keras")
    model = load_env_model(path)
    env = make_env(EnvConfig(), num_envs=64, split="eval", seed=123)
    obs, _ = env.reset(seed=123)
    rng = np.random.default_rng(0)
    frames_right = total = nonstep = nonstep_right = 0
    for _ in range(60):
        actions = rng.integers(0, 5, 64)
        nxt, rewards, term, trunc, info = env.step(actions)
        done = term | trunc
        real = np.where(done[:, None, None, None], info.get("final_obs", nxt), nxt)
        pred, pred_r = model.predict_next(obs, actions)
        frames_right += int((np.asarray(pred) == real).all(axis=(1, 2, 3)).sum())
        special = np.abs(rewards - (-0.1)) > 1e-4
        nonstep += int(special.sum())
        nonstep_right += int((np.abs(np.asarray(pred_r) - rewards) < 1e-4)[special].sum())
        total += len(actions)
        obs = nxt
    env.close()
    assert frames_right / total > 0.97
    assert nonstep >= 40 and nonstep_right / nonstep > 0.85
