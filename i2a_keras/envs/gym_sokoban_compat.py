"""Access to the reference implementation gym-sokoban 0.0.6 (for oracle tests and benchmarks).

gym-sokoban imports legacy ``gym`` and ``pkg_resources`` (from setuptools < 81). We never go through
``gym.make`` (its env checker breaks under numpy 2); we construct ``SokobanEnv`` directly.
"""
from __future__ import annotations

import importlib
import warnings

import numpy as np


def _import(name: str):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(name)
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise ImportError(f"cannot import {name} (gym-sokoban 0.0.6 needs legacy gym and "
                          f"pkg_resources, i.e. setuptools<81): {e}") from e


def import_room_utils():
    """gym-sokoban's ``room_utils`` module (its level generator)."""
    return _import("gym_sokoban.envs.room_utils")


def import_render_utils():
    """gym-sokoban's ``render_utils`` module (``room_to_rgb``, ``room_to_tiny_world_rgb``)."""
    return _import("gym_sokoban.envs.render_utils")


def make_reference_env(room_fixed, room_state, max_steps: int = 120, num_boxes: int | None = None):
    """A gym-sokoban ``SokobanEnv`` set to the level ``(room_fixed, room_state)`` as its reset would."""
    mod = _import("gym_sokoban.envs.sokoban_env")
    fixed = np.array(room_fixed, dtype=np.int64)
    state = np.array(room_state, dtype=np.int64)
    if num_boxes is None:
        num_boxes = int((fixed == 2).sum())
    env = mod.SokobanEnv(dim_room=fixed.shape, max_steps=max_steps, num_boxes=num_boxes, reset=False)
    set_reference_level(env, fixed, state)
    return env


def set_reference_level(env, room_fixed, room_state) -> None:
    """Load a level into a gym-sokoban ``SokobanEnv`` with the counters its ``reset`` sets."""
    env.room_fixed = np.array(room_fixed, dtype=np.int64)
    env.room_state = np.array(room_state, dtype=np.int64)
    env.box_mapping = {}
    env.player_position = np.argwhere(env.room_state == 5)[0]
    env.num_env_steps = 0
    env.reward_last = 0
    env.boxes_on_target = 0
