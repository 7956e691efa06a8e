"""Rollout encoder (Sec. 3.2): CNN per imagined step + LSTM, reverse order by default."""
import numpy as np
import pytest

from i2a_keras.models.rollout_encoder import RolloutEncoder


def _inputs(n=3, tau=4, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, tau, 5, 5, 7)).astype(np.float32),
            rng.normal(size=(n, tau)).astype(np.float32))


def _pair():
    rev = RolloutEncoder((4,), (3,), (1,), lstm_units=6, reverse=True)
    fwd = RolloutEncoder((4,), (3,), (1,), lstm_units=6, reverse=False)
    frames, rewards = _inputs()
    rev(frames, rewards)
    fwd(frames, rewards)
    fwd.set_weights(rev.get_weights())
    return rev, fwd


def test_shape():
    enc = RolloutEncoder((4, 4), (3, 3), (1, 1), lstm_units=6)
    assert tuple(enc(*_inputs(n=3)).shape) == (3, 6)


def test_reverse_feeds_the_last_imagined_step_first():
    rev, fwd = _pair()
    frames, rewards = _inputs(seed=1)
    # reverse order on a rollout == forward order on the time-flipped rollout (same weights) ...
    np.testing.assert_allclose(rev(frames, rewards).numpy(),
                               fwd(frames[:, ::-1], rewards[:, ::-1]).numpy(), rtol=1e-5, atol=1e-6)
    # ... and differs from forward order on the rollout itself.
    assert np.abs(rev(frames, rewards).numpy() - fwd(frames, rewards).numpy()).max() > 1e-4


def test_reward_plane_is_used():
    enc = RolloutEncoder((4,), (3,), (1,), lstm_units=6)
    frames, rewards = _inputs()
    assert np.abs(enc(frames, rewards).numpy() - enc(frames, rewards + 5.0).numpy()).max() > 1e-4


def test_reward_after_cnn_is_appended_to_the_cnn_features():
    enc = RolloutEncoder((4,), (3,), (2,), lstm_units=6, reward_input="after_cnn")
    frames, rewards = _inputs()
    features = enc.step_features(frames, rewards).numpy()
    # the CNN sees the frame only (7 input channels), 3x3x4 features + the reward last
    assert tuple(enc.convs[0].kernel.shape) == (3, 3, 7, 4)
    assert features.shape == (3, 4, 3 * 3 * 4 + 1)
    np.testing.assert_array_equal(features[..., -1], rewards)
    np.testing.assert_array_equal(enc.step_features(frames, rewards + 5.0).numpy()[..., :-1],
                                  features[..., :-1])
    assert np.abs(enc(frames, rewards).numpy() - enc(frames, rewards + 5.0).numpy()).max() > 1e-4
    plane = RolloutEncoder((4,), (3,), (2,), lstm_units=6)
    plane(frames, rewards)
    assert tuple(plane.convs[0].kernel.shape) == (3, 3, 8, 4)


def test_bad_inputs_raise():
    enc = RolloutEncoder((4,), (3,), (1,), lstm_units=6)
    frames, rewards = _inputs()
    with pytest.raises(ValueError, match="frames"):
        enc(frames[0], rewards)
    with pytest.raises(ValueError, match="rewards"):
        enc(frames, rewards[..., None])
    with pytest.raises(ValueError, match="same length"):
        RolloutEncoder((4, 4), (3,), (1,))
    with pytest.raises(ValueError, match="reward_input"):
        RolloutEncoder((4,), (3,), (1,), reward_input="lstm")
