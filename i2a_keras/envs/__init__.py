"""Sokoban environment of Weber et al. 2017 (Sec. 4.1): gym-sokoban rules, fast batched numpy.

Importing this package registers ``i2a_keras/Sokoban-v0`` and ``i2a_keras/MiniPacman-v0`` (Sec. 5)
with gymnasium (single-env entry point and native ``vector_entry_point``). See ``docs/environment.md``.
"""
import gymnasium as _gym

from .core import (BOX, BOX_ON_TARGET, FLOOR, NUM_TILE_TYPES, PLAYER, PLAYER_ON_TARGET, TARGET,
                   WALL, SokobanBatch, action_names, num_actions, rooms_to_state, state_to_rooms)
from .generator import generate_levels
from .levels import (ArraySource, BoxobanSource, DealtLevels, GeneratorSource, GymSokobanSource,
                     LevelSource, PoolSource, build_pool, deal_levels, load_pool, make_level_source,
                     save_pool)
from .observations import observation_shape, rooms_to_observation
from .minipacman import MiniPacmanConfig, MiniPacmanEnv, MiniPacmanVectorEnv
from .sokoban_env import SokobanConfig, SokobanEnv, SokobanVectorEnv, config_level_source, make_vec

ENV_ID = "i2a_keras/Sokoban-v0"
MINIPACMAN_ENV_ID = "i2a_keras/MiniPacman-v0"

if ENV_ID not in _gym.registry:
    _gym.register(
        id=ENV_ID,
        entry_point="i2a_keras.envs.sokoban_env:SokobanEnv",
        vector_entry_point="i2a_keras.envs.sokoban_env:SokobanVectorEnv",
    )
if MINIPACMAN_ENV_ID not in _gym.registry:
    _gym.register(
        id=MINIPACMAN_ENV_ID,
        entry_point="i2a_keras.envs.minipacman:MiniPacmanEnv",
        vector_entry_point="i2a_keras.envs.minipacman:MiniPacmanVectorEnv",
    )


def make(config=None, **kwargs) -> SokobanEnv:
    """Single (unwrapped) Sokoban env from a config, a dict, ``preset=`` or keyword fields."""
    return SokobanEnv(config, **kwargs)


__all__ = [
    "ENV_ID", "WALL", "FLOOR", "TARGET", "BOX_ON_TARGET", "BOX", "PLAYER", "PLAYER_ON_TARGET",
    "NUM_TILE_TYPES", "SokobanBatch", "SokobanConfig", "SokobanEnv", "SokobanVectorEnv", "make",
    "make_vec", "config_level_source", "generate_levels", "LevelSource", "GeneratorSource",
    "BoxobanSource", "PoolSource", "ArraySource", "GymSokobanSource", "DealtLevels", "deal_levels",
    "make_level_source", "build_pool", "load_pool", "save_pool",
    "rooms_to_observation", "observation_shape", "action_names", "num_actions", "state_to_rooms",
    "rooms_to_state", "MINIPACMAN_ENV_ID", "MiniPacmanConfig", "MiniPacmanEnv", "MiniPacmanVectorEnv",
]
