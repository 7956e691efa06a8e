"""A perfect environment model: the Sokoban core behind the env-model API (Weber et al. 2017, Sec. 4.3).

The paper compares imagination with search that is given the true simulator ("MCTS with a nearly
perfect model"). :class:`PerfectModel` is that simulator with :class:`~i2a_keras.models.env_model.
EnvModel`'s ``predict_next(obs, actions)``, so the imagination core and the MC search agent can
run on it unchanged: the observation is decoded to a room, stepped with gym-sokoban's rules
(:class:`~i2a_keras.envs.core.SokobanBatch`) and encoded again. It runs eagerly (numpy), never
inside a compiled function. ``transitions`` counts the transitions it simulated.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from i2a_keras.envs.core import SokobanBatch, num_actions, rooms_to_state
from i2a_keras.envs.observations import observation_to_rooms, rooms_to_observation

__all__ = ["PerfectModel"]


class PerfectModel(keras.layers.Layer):
    """Exact next observation and reward of Sokoban for ``(obs, actions)`` batches (no weights).

    ``observation``: the encoding of ``obs`` (``"one_hot"``, ``"tiny_rgb"`` or ``"rgb"``);
    ``action_set``: the env's action set. The box counter of each room starts at its current count,
    so the reward is the one the real env pays for that transition (step penalty, box on/off
    target, solve bonus).
    """

    predict_reward = True
    eager_only = True

    def __init__(self, observation: str = "one_hot", action_set: str = "compact", **kwargs):
        super().__init__(**kwargs)
        self.observation = observation
        self.action_set = action_set
        self.num_actions = num_actions(action_set)
        self.transitions = 0
        self.built = True

    def predict_next(self, obs, actions, sample=False, seed=None):
        """``(next_obs float32, reward float32 (B,))``; ``sample`` and ``seed`` are ignored."""
        rooms = observation_to_rooms(np.rint(ops.convert_to_numpy(obs)).astype(np.uint8),
                                     self.observation)
        actions = ops.convert_to_numpy(actions).astype(np.int64).reshape(-1)
        fixed, state = rooms_to_state(rooms)
        batch = SokobanBatch(len(rooms), rooms.shape[1:], max_steps=2 ** 31 - 1,
                             action_set=self.action_set)
        batch.load(np.arange(len(rooms)), fixed, state)
        batch.boxes_on_target[:] = batch.num_boxes - batch.uncovered
        reward, *_ = batch.step(actions)
        self.transitions += len(rooms)
        next_obs = rooms_to_observation(batch.rooms(), self.observation).astype(np.float32)
        return ops.convert_to_tensor(next_obs), ops.convert_to_tensor(reward.astype(np.float32))
