"""I2A agent (Sec. 2-3): agent contract, frozen env model, training step, .keras round trip."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

import keras
from i2a_keras.algos.a2c import a2c_loss
from i2a_keras.algos.distillation import distillation_loss
from i2a_keras.models import build_agent
from i2a_keras.models.env_model import EnvModel
from i2a_keras.models.i2a import I2A_PRESETS, I2AAgent, I2AConfig
from i2a_testing import NUM_ACTIONS, OBS_SHAPE, copy_model, random_obs, tiny_env_model


def _agent(env_model=None, **overrides):
    config = I2AConfig.preset("tiny", **{"rollout_sampling": "argmax", **overrides})
    agent = I2AAgent(OBS_SHAPE, NUM_ACTIONS, env_model or tiny_env_model(), config)
    agent.build((None,) + OBS_SHAPE)
    return agent


def test_agent_contract_and_aux_loss():
    agent = _agent(distill_weight=0.5)
    acting = agent(random_obs(3))
    assert "aux_loss" not in acting and set(acting["imagined"]) == {"frames", "rewards"}
    out = agent(random_obs(3), training=True)
    assert tuple(out["logits"].shape) == (3, NUM_ACTIONS)
    assert tuple(out["value"].shape) == (3,)
    assert out["logits"].dtype == tf.float32 and out["value"].dtype == tf.float32
    expected = distillation_loss(out["logits"], out["rollout_logits"], 0.5)
    np.testing.assert_allclose(float(out["aux_loss"]), float(expected), rtol=1e-6)


def test_env_model_is_frozen_and_rollout_policy_is_trained_by_distillation():
    env_model = tiny_env_model()
    agent = _agent(env_model)
    env_ids = {id(v) for v in env_model.weights}
    assert env_ids and not env_ids & {id(v) for v in agent.trainable_variables}
    obs = random_obs(4)
    with tf.GradientTape() as tape:
        out = agent(obs, training=True)
        loss = tf.reduce_sum(out["logits"]) + tf.reduce_sum(out["value"]) + out["aux_loss"]
    grads = tape.gradient(loss, agent.trainable_variables + env_model.weights)
    n = len(agent.trainable_variables)
    assert all(g is None for g in grads[n:])
    assert all(g is not None for g in grads[:n])
    rp_ids = {id(v) for v in agent.rollout_policy.trainable_variables}
    # the rollout policy only learns from the auxiliary loss
    with tf.GradientTape() as tape:
        out = agent(obs, training=True)
        rl_loss = tf.reduce_sum(out["logits"]) + tf.reduce_sum(out["value"])
    for v, g in zip(agent.trainable_variables, tape.gradient(rl_loss, agent.trainable_variables)):
        assert (g is None) == (id(v) in rp_ids)


def test_one_training_step_lowers_the_loss_on_a_fixed_batch():
    keras.utils.set_random_seed(0)
    agent = _agent()
    obs = random_obs(16, seed=3)
    actions = tf.constant(np.random.default_rng(0).integers(0, NUM_ACTIONS, 16), tf.int32)
    returns = tf.constant(np.random.default_rng(1).normal(size=16), tf.float32)
    optimizer = keras.optimizers.RMSprop(1e-3)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss, _ = a2c_loss(agent(obs, training=True), actions, returns)
        grads = tape.gradient(loss, agent.trainable_variables)
        optimizer.apply_gradients(zip(grads, agent.trainable_variables))
        return loss

    first = float(step())
    after, _ = a2c_loss(agent(obs, training=True), actions, returns)
    assert float(after) < first


@pytest.mark.parametrize("sampling,reward_input", [("argmax", "plane"), ("sample", "plane"),
                                                   ("sample", "after_cnn")])
def test_keras_round_trip_with_safe_mode(tmp_path, sampling, reward_input):
    agent = _agent(rollout_sampling=sampling, rollout_length=3, reward_input=reward_input,
                   stop_on_solve=reward_input == "after_cnn")
    assert agent.imagination.stop_reward == (5.0 if reward_input == "after_cnn" else None)
    obs = random_obs(3, seed=5)
    agent(obs)
    path = str(tmp_path / "i2a.keras")
    agent.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, I2AAgent) and isinstance(loaded.env_model, EnvModel)
    assert len(loaded.trainable_variables) == len(agent.trainable_variables)
    for a, b in zip(agent.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    noise = np.random.default_rng(0).random((3,) + (agent.rollout_noise_shape or (0,)), np.float32)
    kwargs = {"rollout_noise": noise} if agent.rollout_noise_shape else {}
    for key in ("logits", "value", "aux_loss"):
        np.testing.assert_allclose(agent(obs, training=True, **kwargs)[key],
                                   loaded(obs, training=True, **kwargs)[key], rtol=1e-5, atol=1e-6)
    assert loaded.config.rollout_length == 3 and loaded.config.rollout_sampling == sampling
    assert loaded.encoder.reward_input == reward_input
    assert loaded.imagination.stop_reward == agent.imagination.stop_reward


def test_copy_model_agent_round_trip_and_registry(tmp_path):
    agent = build_agent("i2a-copy-model", OBS_SHAPE, NUM_ACTIONS, I2AConfig.preset("tiny"))
    assert not agent.env_model.weights
    path = str(tmp_path / "copy.keras")
    agent.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded.env_model).__name__ == "CopyModel"
    assert tuple(loaded(random_obs(2))["logits"].shape) == (2, NUM_ACTIONS)


def test_registry_loads_env_models_and_checks_them(tmp_path):
    with pytest.raises(ValueError, match="--env-model"):
        build_agent("i2a", OBS_SHAPE, NUM_ACTIONS, I2AConfig.preset("tiny"))
    path = str(tmp_path / "em.keras")
    tiny_env_model().save(path)
    agent = build_agent("i2a", OBS_SHAPE, NUM_ACTIONS, I2AConfig.preset("tiny", env_model_path=path))
    assert isinstance(agent.env_model, EnvModel) and not agent.env_model.trainable_variables
    with pytest.raises(ValueError, match="predict_reward=False"):
        build_agent("i2a-no-reward", OBS_SHAPE, NUM_ACTIONS, I2AConfig.preset("tiny", env_model_path=path))
    with pytest.raises(ValueError, match="trained for observations"):
        build_agent("i2a", (6, 6, 7), NUM_ACTIONS, I2AConfig.preset("tiny", env_model_path=path))
    nr_path = str(tmp_path / "nr.keras")
    tiny_env_model(predict_reward=False).save(nr_path)
    agent = build_agent("i2a-no-reward", OBS_SHAPE, NUM_ACTIONS,
                        I2AConfig.preset("tiny", env_model_path=nr_path))
    assert not agent.env_model.predict_reward
    with pytest.raises(ValueError, match="predicts no rewards: use agent 'i2a-no-reward'"):
        build_agent("i2a", OBS_SHAPE, NUM_ACTIONS, I2AConfig.preset("tiny", env_model_path=nr_path))
    copy_path = str(tmp_path / "copy.keras")
    copy_model().save(copy_path)
    with pytest.raises(ValueError, match="holds a CopyModel, agent 'i2a' needs an EnvModel"):
        build_agent("i2a", OBS_SHAPE, NUM_ACTIONS, I2AConfig.preset("tiny", env_model_path=copy_path))


def test_bad_config_raises():
    with pytest.raises(ValueError, match="rollout_sampling"):
        I2AConfig(rollout_sampling="greedy")
    with pytest.raises(ValueError, match="reward_input"):
        I2AConfig(reward_input="before_lstm")
    with pytest.raises(ValueError, match="frame_decoding"):
        I2AConfig(frame_decoding="sample")
    with pytest.raises(ValueError, match="preset"):
        I2AConfig.preset("huge")
    with pytest.raises(ValueError, match="stop_on_solve is a Sokoban setting"):
        I2AConfig(stop_on_solve=True, reward_task="hunt")
    agent = _agent()
    with pytest.raises(ValueError, match="observations"):
        agent(random_obs(2, obs_shape=(6, 6, 7)))


def test_paper_architecture_builds_at_80x80_and_trains_one_step():
    """The ``paper`` preset (80x80 RGB, tau 5, 5 actions) on a batch of 2: one RMSprop step."""
    from i2a_keras.envs.observations import RGB_PALETTE
    from i2a_keras.models.env_model import EnvModelConfig

    obs_shape = (80, 80, 3)
    env_model = EnvModel.from_env_model_config(EnvModelConfig.preset(
        "paper", palette=tuple(map(tuple, RGB_PALETTE.tolist()))))
    agent = I2AAgent(obs_shape, NUM_ACTIONS, env_model, I2AConfig.preset("paper"))
    agent.build((None,) + obs_shape)
    assert agent.config.rollout_length == 5 and agent.config.lstm_units == 512
    rng = np.random.default_rng(0)
    obs = RGB_PALETTE[rng.integers(0, len(RGB_PALETTE), (2, 80, 80))]
    optimizer = keras.optimizers.RMSprop(1e-4)
    with tf.GradientTape() as tape:
        out = agent(obs, training=True)
        loss, _ = a2c_loss(out, tf.constant([0, 1]), tf.constant([1.0, -1.0]))
    grads = tape.gradient(loss, agent.trainable_variables)
    before = [v.numpy().copy() for v in agent.trainable_variables]
    optimizer.apply_gradients(zip(grads, agent.trainable_variables))
    assert tuple(out["logits"].shape) == (2, NUM_ACTIONS)
    assert np.isfinite(float(loss))
    assert any(np.abs(b - v.numpy()).max() > 0 for b, v in zip(before, agent.trainable_variables))


def test_residual_model_free_path(tmp_path):
    """``mf_residual``: the model-free path adds each same-shape conv's output to its input; it
    and ``frame_decoding`` survive a safe-mode round trip."""
    agent = _agent(mf_residual=True, mf_conv_filters=(8, 8), mf_kernel_sizes=(3, 3), mf_strides=(1, 1),
                   frame_decoding="probs")
    obs = random_obs(2, seed=3)
    x = obs.astype(np.float32)
    x = np.asarray(agent.mf_convs[0](x))
    x = x + np.asarray(agent.mf_convs[1](x))
    expected = np.asarray(agent.mf_fc(agent.mf_flatten(x)))
    np.testing.assert_allclose(np.asarray(agent.model_free_features(obs)), expected, rtol=1e-5, atol=1e-6)
    path = str(tmp_path / "residual_i2a.keras")
    agent.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.config.mf_residual is True and loaded.imagination.frame_decoding == "probs"
    np.testing.assert_allclose(np.asarray(loaded.model_free_features(obs)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(I2A_PRESETS))
def test_every_preset_names_every_size(name):
    """A preset is the whole network (the colab's run()): resolve() only adds the input scale."""
    preset = I2AConfig.preset(name)
    shape = (80, 80, 3) if name == "paper" else (15, 19, 3) if name.startswith("minipacman") else (10, 10, 7)
    resolved = preset.resolve(shape)
    assert dataclasses.replace(resolved, obs_scale=None) == preset


def test_resolve_gives_one_kernel_and_stride_per_filter():
    grid = I2AConfig(encoder_filters=(8, 8, 8), rp_conv_filters=(8,)).resolve((7, 7, 7))
    assert grid.encoder_kernel_sizes == (3, 3, 3) and grid.encoder_strides == (1, 1, 1)
    assert grid.rp_kernel_sizes == (3,) and grid.rp_strides == (1,)
    pixels = I2AConfig(encoder_filters=(16, 32, 32)).resolve((80, 80, 3))
    assert pixels.encoder_kernel_sizes == (8, 4, 3) and pixels.encoder_strides == (4, 2, 1)
    agent = I2AAgent(OBS_SHAPE, NUM_ACTIONS, copy_model(), I2AConfig.preset(
        "tiny", encoder_filters=(8, 8, 8), encoder_kernel_sizes=None, encoder_strides=None))
    agent(random_obs(2))
    assert [c.kernel.shape[:2] for c in agent.encoder.convs] == [(3, 3)] * 3
    with pytest.raises(ValueError, match="encoder_kernel_sizes .* one value per entry"):
        I2AConfig(encoder_filters=(8, 8), encoder_kernel_sizes=(3,)).resolve((7, 7, 7))
