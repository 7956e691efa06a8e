"""Imagination core (Sec. 3.1): one rollout per action, batched, env model frozen."""
import numpy as np
import pytest
import keras
import tensorflow as tf

from i2a_keras.models.i2a import RolloutPolicy
from i2a_keras.models.imagination_core import ImaginationCore
from i2a_testing import NUM_ACTIONS, OBS_SHAPE, copy_model, random_obs, tiny_env_model


def _core(env_model=None, tau=3, sampling="argmax", seed=0, frame_decoding="argmax"):
    policy = RolloutPolicy(NUM_ACTIONS, (8,), (3,), (1,), 16)
    return ImaginationCore(env_model or tiny_env_model(), policy, NUM_ACTIONS, rollout_length=tau,
                           rollout_sampling=sampling, seed=seed, frame_decoding=frame_decoding)


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


class _DifferentiableModel(keras.layers.Layer):
    """A stand-in env model whose prediction *is* differentiable in its weight ``w`` and in the
    observation, so only the core's ``stop_gradient`` keeps gradients out of it."""

    def build(self, input_shape=None):
        self.w = self.add_weight(shape=(), initializer="ones", name="w")

    def predict_next(self, obs, actions):
        obs = tf.cast(obs, tf.float32)
        return obs * self.w, tf.reduce_sum(obs, axis=[1, 2, 3]) * self.w


def test_env_model_receives_no_gradient_and_is_frozen():
    model = _DifferentiableModel()
    model.build()
    core = _core(model, tau=2)
    obs = tf.constant(random_obs(2), tf.float32)
    core(obs)
    assert not model.trainable_variables and not _core(tiny_env_model()).env_model.trainable_variables
    with tf.GradientTape() as tape:
        tape.watch(model.w.value)
        tape.watch(obs)
        out = core(obs)
        loss = tf.reduce_sum(out["frames"] ** 2) + tf.reduce_sum(out["rewards"] ** 2)
    grads = tape.gradient(loss, [model.w.value, obs] + [w.value for w in core.rollout_policy.weights])
    assert all(g is None for g in grads)


def test_sampled_rollouts_are_a_function_of_the_noise():
    """Exact imagination: equal noise gives equal rollouts, eager or compiled, so the update can
    replay the acting pass; other noise gives other rollouts."""
    core = _core(tau=4, sampling="sample")
    obs = random_obs(8)
    rng = np.random.default_rng(0)
    noise = rng.random((8,) + core.noise_shape(), np.float32)
    other = rng.random((8,) + core.noise_shape(), np.float32)
    compiled = tf.function(lambda o, u: core(o, noise=u))
    eager = core(obs, noise=noise)
    for out in (compiled(obs, noise), compiled(obs, noise)):
        np.testing.assert_array_equal(out["actions"], eager["actions"])
        np.testing.assert_array_equal(out["frames"], eager["frames"])
    assert (compiled(obs, other)["actions"].numpy() != eager["actions"].numpy()).any()
    with pytest.raises(ValueError, match="noise"):
        core(obs, noise=noise[:, :, :2])


def test_inverse_cdf_sampling_follows_the_rollout_policy():
    core = _core(tau=2, sampling="sample")
    logits = np.log(np.array([[0.1, 0.2, 0.3, 0.15, 0.25]], np.float32))
    assert logits.shape[-1] == NUM_ACTIONS
    u = np.random.default_rng(1).random(40_000).astype(np.float32)
    actions = core._choose(np.repeat(logits, len(u), axis=0), u).numpy()
    freq = np.bincount(actions, minlength=NUM_ACTIONS) / len(u)
    np.testing.assert_allclose(freq, np.exp(logits[0]), atol=0.01)
    assert core._choose(logits, np.array([0.9999999], np.float32)).numpy()[0] == NUM_ACTIONS - 1


class _SolvingModel(keras.layers.Layer):
    """A stand-in env model: every step adds 1 to the frame; first action 0 "solves" (reward 10)
    on the first step, every other step pays 1."""

    def predict_next(self, obs, actions):
        obs = tf.cast(obs, tf.float32)
        first = tf.cast(tf.equal(actions, 0), tf.float32) * tf.cast(tf.reduce_max(obs) < 1.5, tf.float32)
        return obs + 1.0, 1.0 + 9.0 * first


def test_an_imagined_solve_ends_the_imagined_episode():
    obs = np.zeros((2,) + OBS_SHAPE, np.uint8)
    policy = RolloutPolicy(NUM_ACTIONS, (8,), (3,), (1,), 16)
    out = {}
    for stop in (None, 5.0):
        core = ImaginationCore(_SolvingModel(), policy, NUM_ACTIONS, rollout_length=3,
                               rollout_sampling="argmax", stop_reward=stop)
        out[stop] = {k: v.numpy() for k, v in core(obs).items()}
    # without stopping, the rollout goes on after the solve
    np.testing.assert_array_equal(out[None]["rewards"][:, 0], [[10, 1, 1]] * 2)
    np.testing.assert_array_equal(out[None]["frames"][0, 0, :, 0, 0, 0], [1, 2, 3])
    # with stopping: the solved frame repeats with reward 0; rollouts that never solve are unchanged
    np.testing.assert_array_equal(out[5.0]["rewards"][:, 0], [[10, 0, 0]] * 2)
    np.testing.assert_array_equal(out[5.0]["frames"][0, 0, :, 0, 0, 0], [1, 1, 1])
    np.testing.assert_array_equal(out[5.0]["rewards"][:, 1:], out[None]["rewards"][:, 1:])
    np.testing.assert_array_equal(out[5.0]["frames"][:, 1:], out[None]["frames"][:, 1:])
    restored = ImaginationCore.from_config(
        ImaginationCore(tiny_env_model(), policy, NUM_ACTIONS, stop_reward=5.0).get_config())
    assert restored.stop_reward == 5.0


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="rollout_length"):
        _core(tau=0)
    with pytest.raises(ValueError, match="rollout_sampling"):
        _core(sampling="greedy")
    with pytest.raises(ValueError, match="predict_next"):
        ImaginationCore(object(), RolloutPolicy(NUM_ACTIONS, (8,), (3,), (1,), 16), NUM_ACTIONS)
    with pytest.raises(ValueError, match=r"\(B, H, W, C\)"):
        _core()(random_obs(2)[0])



def test_expected_frames_are_the_env_models_probabilities_fed_forward():
    """``frame_decoding="probs"``: each imagined frame is the softmax of the env model's frame
    logits on the previous imagined (expected) frame, not its argmax."""
    env_model = tiny_env_model()
    core = _core(env_model, tau=2, sampling="argmax", frame_decoding="probs")
    obs = random_obs(2, seed=4)
    out = core(obs)
    frames = np.asarray(out["frames"])
    np.testing.assert_allclose(frames.sum(axis=-1), 1.0, rtol=1e-5)
    assert ((frames > 0.01) & (frames < 0.99)).any()  # an untrained model is uncertain somewhere
    state = np.repeat(obs.astype(np.float32), NUM_ACTIONS, axis=0)
    actions = np.tile(np.arange(NUM_ACTIONS, dtype=np.int32), 2)
    for t in range(2):
        logits = env_model(state, actions)["frame_logits"]
        state = np.asarray(keras.ops.softmax(logits, axis=-1))
        np.testing.assert_allclose(frames[:, :, t].reshape(state.shape), state, rtol=1e-5, atol=1e-6)
        actions = np.asarray(out["actions"])[:, :, min(t + 1, 1)].reshape(-1)
    argmax = np.asarray(_core(env_model, tau=2, sampling="argmax")(obs)["frames"])
    assert set(np.unique(argmax)) <= {0.0, 1.0} and not np.allclose(argmax, frames)
    with pytest.raises(ValueError, match="frame_decoding"):
        _core(frame_decoding="mean")


class _FixedPolicy(keras.layers.Layer):
    """A rollout policy with the same logits for every observation: pi_hat = PROBS."""

    PROBS = np.array([0.1, 0.2, 0.3, 0.15, 0.25], np.float32)  # CDF 0.1, 0.3, 0.6, 0.75, 1.0

    def call(self, obs):
        return tf.tile(tf.math.log(self.PROBS)[None], (tf.shape(obs)[0], 1))


def test_each_imagined_step_uses_its_own_noise():
    """Step t + 1's action is the inverse CDF of pi_hat at ``noise[..., t]``, not at another
    step's noise (the update replays exactly the actions that the acting pass imagined)."""
    tau, batch = 4, 2
    core = ImaginationCore(copy_model(), _FixedPolicy(), NUM_ACTIONS, rollout_length=tau,
                           rollout_sampling="sample")
    per_step = np.array([0.01, 0.99, 0.45], np.float32)  # -> actions 0, 4, 2
    noise = np.broadcast_to(per_step, (batch,) + core.noise_shape()).copy()
    noise[1, 2] = [0.7, 0.2, 0.05]  # env 1, first action 2: its own per-step noise
    actions = core(random_obs(batch), noise=noise)["actions"].numpy()
    cdf = np.cumsum(_FixedPolicy.PROBS)
    expected = np.minimum(np.searchsorted(cdf, noise, side="right"), NUM_ACTIONS - 1)
    np.testing.assert_array_equal(expected[0, 0], [0, 4, 2])
    np.testing.assert_array_equal(actions[:, :, 1:], expected)
    np.testing.assert_array_equal(actions[:, :, 0], np.tile(np.arange(NUM_ACTIONS), (batch, 1)))
