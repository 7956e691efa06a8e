"""Gymnasium MiniPacman environments (Weber et al. 2017, Sec. 5): ``MiniPacmanEnv`` and the native
batched ``MiniPacmanVectorEnv``, registered as ``i2a_keras/MiniPacman-v0`` (``task=`` keyword).

Rules, tasks and events are in ``minipacman_core.py``. Observations (``observation=``):
``"rgb"`` -> ``uint8 (15, 19, 3)`` (the reference's colours x 255, rounded; models divide by 255
as for Sokoban) or ``"rgb_float"`` -> ``float32 (15, 19, 3)`` in [0, 1], the reference's frames.

Every step's info has ``"events"`` (``int64 (5,)``, or ``(N, 5)`` batched): the counts of
``EVENTS = (step, food, pill, ghost, killed)``, so that one environment model can predict events
for all five tasks; the reward is ``events . TASKS[task].weights``. ``info["level"]`` is the level
played. The vector env autoresets like ``SokobanVectorEnv`` (``"same_step"`` by default:
``info["final_obs"]``/``info["final_info"]`` hold the finished episodes' last obs and info;
``"next_step"``: the next ``step`` resets and returns reward 0) and reports ``info["episode"]``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .episode_stats import record_episodes
from .minipacman_core import (ACTIONS, DEFAULT_MAX_STEPS, EVENTS, HEIGHT, NUM_ACTIONS, WIDTH,
                              MiniPacmanBatch, check_actions, get_task, task_rewards)

OBSERVATIONS = ("rgb", "rgb_float")
AUTORESET_MODES = ("same_step", "next_step")
_AUTORESET = {"same_step": AutoresetMode.SAME_STEP, "next_step": AutoresetMode.NEXT_STEP}
RENDER_PIXELS = 8


@dataclass
class MiniPacmanConfig:
    """MiniPacman settings. ``task``: one of ``TASKS`` (regular, avoid, hunt, ambush, rush);
    ``max_steps``: the reference's ``frame_cap`` (3000 in DeepMind's code; higgsfield's notebooks
    use 1000); ``seed``: default seed of the first ``reset``."""

    task: str = "regular"
    max_steps: int = DEFAULT_MAX_STEPS
    observation: str = "rgb"
    seed: int | None = None
    autoreset_mode: str = "same_step"

    def __post_init__(self):
        get_task(self.task)
        if self.observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}, got {self.observation!r}")
        if int(self.max_steps) < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")
        if isinstance(self.autoreset_mode, AutoresetMode):
            inv = {v: k for k, v in _AUTORESET.items()}
            if self.autoreset_mode not in inv:
                raise ValueError(f"autoreset_mode {self.autoreset_mode} is not supported")
            self.autoreset_mode = inv[self.autoreset_mode]
        if self.autoreset_mode not in AUTORESET_MODES:
            raise ValueError(f"autoreset_mode must be one of {AUTORESET_MODES}, got "
                             f"{self.autoreset_mode!r}")

    def replace(self, **changes) -> "MiniPacmanConfig":
        return dataclasses.replace(self, **changes)


def _resolve_config(config=None, **kwargs) -> MiniPacmanConfig:
    if isinstance(config, dict):
        kwargs, config = {**config, **kwargs}, None
    if config is None:
        return MiniPacmanConfig(**kwargs)
    if not isinstance(config, MiniPacmanConfig):
        raise ValueError(f"config must be a MiniPacmanConfig or dict, got {type(config).__name__}")
    return config.replace(**kwargs) if kwargs else config


def _obs_space(cfg: MiniPacmanConfig) -> spaces.Box:
    if cfg.observation == "rgb":
        return spaces.Box(0, 255, (HEIGHT, WIDTH, 3), np.uint8)
    return spaces.Box(0.0, 1.0, (HEIGHT, WIDTH, 3), np.float32)


def _frame_dtype(cfg: MiniPacmanConfig):
    return np.uint8 if cfg.observation == "rgb" else np.float32


def _upscale(frames: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(frames, RENDER_PIXELS, axis=-3), RENDER_PIXELS, axis=-2)


class MiniPacmanEnv(gym.Env):
    """Single MiniPacman game (gymnasium API): ``MiniPacmanEnv(task="hunt")`` or a config.

    ``render_mode="rgb_array"`` renders the frame at 8 px per cell. ``self.game`` is the underlying
    :class:`MiniPacmanBatch` of one game (``game.set_state`` builds scenarios).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(self, config: MiniPacmanConfig | dict | None = None,
                 render_mode: str | None = None, **kwargs):
        self.config = _resolve_config(config, **kwargs)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}")
        self.render_mode = render_mode
        self.observation_space = _obs_space(self.config)
        self.action_space = spaces.Discrete(NUM_ACTIONS)
        self.game = MiniPacmanBatch(1, self.config.task, self.config.max_steps)
        self._seeded = False

    def get_action_meanings(self) -> tuple[str, ...]:
        return ACTIONS

    def _obs(self) -> np.ndarray:
        return self.game.frames(_frame_dtype(self.config))[0]

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is None and not self._seeded and self.config.seed is not None:
            seed = self.config.seed
        super().reset(seed=seed)
        self._seeded = True
        self.game.rng = self.np_random
        self.game.reset()
        return self._obs(), {"level": 1}

    def step(self, action):
        events, terminated, truncated = self.game.step(np.array([action]))
        reward = float(task_rewards(events[0], self.config.task))
        info = {"events": events[0], "level": int(self.game.level[0])}
        return self._obs(), reward, bool(terminated[0]), bool(truncated[0]), info

    def render(self):
        if self.render_mode == "rgb_array":
            return _upscale(self.game.frames(np.uint8)[0])
        return None


class MiniPacmanVectorEnv(VectorEnv):
    """Native batched MiniPacman: ``num_envs`` games stepped with one set of numpy operations.

    Same arguments as :class:`MiniPacmanEnv` plus ``num_envs``; autoreset and info keys as in the
    module docstring. ``reset(seed=s)`` seeds one stream for the whole batch.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8,
                "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, num_envs: int = 1, config: MiniPacmanConfig | dict | None = None,
                 render_mode: str | None = None, **kwargs):
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.config = cfg = _resolve_config(config, **kwargs)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}")
        self.render_mode = render_mode
        self.num_envs = int(num_envs)
        self.metadata = {**self.metadata, "autoreset_mode": _AUTORESET[cfg.autoreset_mode]}
        self.autoreset_mode = self.metadata["autoreset_mode"]
        self.single_observation_space = _obs_space(cfg)
        self.single_action_space = spaces.Discrete(NUM_ACTIONS)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.game = MiniPacmanBatch(self.num_envs, cfg.task, cfg.max_steps)
        self._weights = np.asarray(get_task(cfg.task).weights, np.float64)
        self._returns = np.zeros(self.num_envs, np.float64)
        self._lengths = np.zeros(self.num_envs, np.int64)
        self._needs_reset = np.zeros(self.num_envs, bool)
        self._seeded = False

    def get_action_meanings(self) -> tuple[str, ...]:
        return ACTIONS

    def _obs(self) -> np.ndarray:
        return self.game.frames(_frame_dtype(self.config))

    def _start(self, idx: np.ndarray) -> None:
        self.game.reset(idx)
        self._returns[idx] = 0.0
        self._lengths[idx] = 0
        self._needs_reset[idx] = False

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an int or None (one stream for the whole batch), "
                             f"got {seed!r}")
        if seed is None and not self._seeded and self.config.seed is not None:
            seed = self.config.seed
        if seed is not None or not self._seeded:
            self._np_random, self._np_random_seed = gym.utils.seeding.np_random(seed)
            self._seeded = True
        self.game.rng = self.np_random
        self._start(np.arange(self.num_envs))
        return self._obs(), {"level": self.game.level.copy()}

    def step(self, actions):
        actions = check_actions(actions, self.num_envs)
        pending = np.flatnonzero(self._needs_reset)
        events, terminated, truncated = self.game.step(actions)
        if pending.size:  # NEXT_STEP: these envs ignore the action and start a new episode.
            self._start(pending)
            events[pending] = 0
            terminated[pending] = False
            truncated[pending] = False
        reward = (events @ self._weights).astype(np.float32)
        self._returns += reward
        self._lengths += 1
        self._lengths[pending] = 0
        info: dict[str, Any] = {"events": events, "level": self.game.level.copy()}
        done = np.flatnonzero(terminated | truncated)
        obs = self._obs()
        if done.size:
            mask = record_episodes(info, done, self._returns, self._lengths)
            if self.autoreset_mode == AutoresetMode.SAME_STEP:
                final = np.zeros_like(obs)
                final[done] = obs[done]
                info["final_obs"], info["_final_obs"] = final, mask
                info["final_info"] = {"events": np.where(mask[:, None], events, 0), "_events": mask,
                                      "level": np.where(mask, info["level"], 0), "_level": mask}
                info["_final_info"] = mask
                self._start(done)
                obs[done] = self.game.frames(_frame_dtype(self.config), done)
                info["level"] = self.game.level.copy()
            else:
                self._needs_reset[done] = True
        return obs, reward, terminated, truncated, info

    def render(self):
        if self.render_mode == "rgb_array":
            return _upscale(self.game.frames(np.uint8))
        return None


def make_vec(num_envs: int, config: MiniPacmanConfig | dict | None = None, seed: int | None = None,
             **kwargs) -> MiniPacmanVectorEnv:
    """Native batched MiniPacman of ``num_envs`` games; ``seed`` seeds the first ``reset()``."""
    env = MiniPacmanVectorEnv(num_envs, config, **kwargs)
    if seed is not None:
        env.config = env.config.replace(seed=int(seed))
    return env


__all__ = ["MiniPacmanConfig", "MiniPacmanEnv", "MiniPacmanVectorEnv", "make_vec", "OBSERVATIONS",
           "EVENTS", "ACTIONS"]
