"""Imagination core (Sec. 3.1): one rollout per action, batched, env model frozen."""
import numpy as np
import pytest
import tensorflow as tf

from i2a_keras.models.i2a import RolloutPolicy
from i2a_keras.models.imagination_core import ImaginationCore
from i2a_testing import NUM_ACTIONS, OBS_SHAPE, copy_model, random_obs, tiny_env_model


def _core(env_model=None, tau=3, sampling="argmax", seed=0):
    policy = RolloutPolicy(NUM_ACTIONS, (8,), (3,), (1,), 16)
    return ImaginationCore(env_model or tiny_env_model(), policy, NUM_ACTIONS, rollout_length=tau,
                           rollout_sampling=sampling, seed=seed)


def test_shapes_and_first_actions():
    core = _core(tau=3, sampling="sample")
    out = core(random_obs(4))
    assert tuple(out["frames"].shape) == (4, NUM_ACTIONS, 3) + OBS_SHAPE
    assert tuple(out["rewards"].shape) == (4, NUM_ACTIONS, 3)
    actions = out["actions"].numpy()
    assert actions.shape == (4, NUM_ACTIONS, 3)
    np.testing.assert_array_equal(actions[:, :, 0], np.tile(np.arange(NUM_ACTIONS), (4, 1)))
    assert actions.min() >= 0 and actions.max() < NUM_ACTIONS


def test_batched_rollouts_match_step_by_step_env_model_calls():
    env_model = tiny_env_model()
    core = _core(env_model, tau=2, sampling="argmax")
    obs = random_obs(3, seed=1)
    out = core(obs)
    for b in range(3):
        for a in range(NUM_ACTIONS):
            o = tf.cast(obs[b:b + 1], tf.float32)
            act = np.array([a], np.int32)
            for t in range(2):
                np.testing.assert_array_equal(out["actions"][b, a, t].numpy(), act[0])
                o, r = env_model.predict_next(o, act)
                np.testing.assert_allclose(out["frames"][b, a, t].numpy(), o[0].numpy())
                np.testing.assert_allclose(out["rewards"][b, a, t].numpy(), r[0].numpy())
                act = np.argmax(core.rollout_policy(o).numpy(), axis=-1).astype(np.int32)


def test_copy_model_imagines_the_input_and_zero_reward():
    obs = random_obs(2, seed=2)
    out = _core(copy_model(), tau=2)(obs)
    expected = np.broadcast_to(obs[:, None, None].astype(np.float32), out["frames"].shape)
    np.testing.assert_array_equal(out["frames"].numpy(), expected)
    assert float(tf.reduce_max(tf.abs(out["rewards"]))) == 0.0


def test_env_model_receives_no_gradient_and_is_frozen():
    env_model = tiny_env_model()
    core = _core(env_model, tau=2)
    obs = random_obs(2)
    core(obs)
    assert not env_model.trainable_variables
    with tf.GradientTape() as tape:
        out = core(obs)
        loss = tf.reduce_sum(out["frames"] ** 2) + tf.reduce_sum(out["rewards"] ** 2)
    grads = tape.gradient(loss, env_model.weights + core.rollout_policy.weights)
    assert all(g is None for g in grads)


def test_sampled_rollouts_follow_the_seed():
    obs = random_obs(8)
    env_model, policy = tiny_env_model(), RolloutPolicy(NUM_ACTIONS, (8,), (3,), (1,), 16)

    def actions(seed):
        core = ImaginationCore(env_model, policy, NUM_ACTIONS, rollout_length=4,
                               rollout_sampling="sample", seed=seed)
        return core(obs)["actions"].numpy()

    np.testing.assert_array_equal(actions(3), actions(3))
    assert (actions(3) != actions(4)).any()


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="rollout_length"):
        _core(tau=0)
    with pytest.raises(ValueError, match="rollout_sampling"):
        _core(sampling="greedy")
    with pytest.raises(ValueError, match="predict_next"):
        ImaginationCore(object(), RolloutPolicy(NUM_ACTIONS, (8,), (3,), (1,), 16), NUM_ACTIONS)
    with pytest.raises(ValueError, match=r"\(B, H, W, C\)"):
        _core()(random_obs(2)[0])


def test_sampling_draws_fresh_actions_on_every_compiled_call():
    core = _core(tau=4, sampling="sample", seed=5)
    obs = random_obs(8)
    imagine = tf.function(lambda o: core(o)["actions"])
    first, second = imagine(obs).numpy(), imagine(obs).numpy()
    np.testing.assert_array_equal(first[:, :, 0], second[:, :, 0])
    assert (first[:, :, 1:] != second[:, :, 1:]).any()
