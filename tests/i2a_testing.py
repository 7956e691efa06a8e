"""Shared fixtures for the I2A tests: tiny env models and synthetic one-hot observations."""
import numpy as np

from i2a_keras.models.env_model import CopyModel, EnvModel

OBS_SHAPE = (5, 5, 7)
NUM_ACTIONS = 5


def tiny_env_model(predict_reward=True, obs_shape=OBS_SHAPE):
    return EnvModel(obs_shape=obs_shape, num_actions=NUM_ACTIONS, channels=8, num_blocks=1,
                    branch_channels=(0, 8), reward_hidden=8, predict_reward=predict_reward)


def copy_model(obs_shape=OBS_SHAPE):
    return CopyModel(obs_shape=obs_shape, num_actions=NUM_ACTIONS)


def random_obs(batch, obs_shape=OBS_SHAPE, seed=0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, obs_shape[-1], size=(batch,) + tuple(obs_shape[:2]))
    return np.eye(obs_shape[-1], dtype=np.uint8)[codes]
