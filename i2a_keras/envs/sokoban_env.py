"""Gymnasium Sokoban environments: single ``SokobanEnv`` and native batched ``SokobanVectorEnv``.

The task of Weber et al. 2017 (Sec. 4.1): gym-sokoban's rules and rewards (``core.py``), levels
from a level source (``levels.py``), observations from ``observations.py``.

``SokobanVectorEnv`` steps all ``num_envs`` rooms with one set of numpy operations. Autoreset mode
(``autoreset_mode=``, gymnasium's ``AutoresetMode``):

* ``"same_step"`` (default): an env that terminates/truncates is reset inside the same ``step``; the
  returned obs is the new episode's first obs. ``info["final_obs"]`` is a dense array shaped like the
  batch obs holding the last obs of the finished episodes (rows where ``info["_final_obs"]``), and
  ``info["final_info"]`` (mask ``info["_final_info"]``) their last step's info.
* ``"next_step"``: gymnasium's default for its own vector envs; the env is reset on the next
  ``step`` call, which ignores that env's action and returns reward 0, terminated/truncated False.

Every step's info has ``"solved"`` (bool, N): all boxes on targets at this step. When some episode
ended, ``info["episode"] = {"r": float32 (N,), "l": int32 (N,)}`` with mask ``info["_episode"]``
(like gymnasium's ``RecordEpisodeStatistics``). Resets draw levels from the level source's buffer or
pool, so they never run the generator per env.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .core import SokobanBatch, action_names, num_actions, state_to_rooms, validate_levels
from .episode_stats import record_episodes
from .levels import LevelSource, deal_levels, make_level_source
from .observations import (OBSERVATIONS, ObservationBuffer, observation_shape, render_rgb,
                           rooms_to_observation)

AUTORESET_MODES = ("same_step", "next_step")
_AUTORESET = {"same_step": AutoresetMode.SAME_STEP, "next_step": AutoresetMode.NEXT_STEP}


@dataclass
class SokobanConfig:
    """Environment settings. Presets: ``tiny`` (tests), ``small`` (CPU), ``paper`` (GPU, Sec. 4.1).

    ``levels``: a level source spec (see ``levels.make_level_source``): ``"generator"``,
    ``"gym_sokoban"``, ``"boxoban:PATH"``, ``"pool:PATH.npz"``. ``split``: ``"train"``/``"eval"``
    (disjoint by level hash, ``holdout_fraction`` held out) or ``"all"``; ``None`` = ``"train"`` for
    generators, ``"all"`` for files. ``level_kwargs``: extra source arguments (e.g. ``pool_size``,
    ``chunk``, ``num_walkers``). ``seed``: default seed of the first ``reset``.
    """

    dim_room: tuple[int, int] = (10, 10)
    num_boxes: int = 4
    max_steps: int = 120
    observation: str = "one_hot"
    action_set: str = "gym_sokoban"
    levels: Any = "generator"
    split: str | None = None
    holdout_fraction: float = 0.1
    level_kwargs: dict = field(default_factory=dict)
    seed: int | None = None
    autoreset_mode: str = "same_step"

    def __post_init__(self):
        if isinstance(self.autoreset_mode, AutoresetMode):
            inv = {v: k for k, v in _AUTORESET.items()}
            if self.autoreset_mode not in inv:
                raise ValueError(f"autoreset_mode {self.autoreset_mode} is not supported")
            self.autoreset_mode = inv[self.autoreset_mode]
        self.dim_room = tuple(int(x) for x in self.dim_room)
        if len(self.dim_room) != 2:
            raise ValueError(f"dim_room must be (H, W), got {self.dim_room}")
        if self.observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}, got {self.observation!r}")
        num_actions(self.action_set)
        if int(self.max_steps) < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")
        if self.autoreset_mode not in AUTORESET_MODES:
            raise ValueError(f"autoreset_mode must be one of {AUTORESET_MODES}, got "
                             f"{self.autoreset_mode!r}")

    @classmethod
    def preset(cls, name: str, **overrides) -> "SokobanConfig":
        """``tiny``: 5x5/1 box; ``small``: 7x7/2 boxes compact one-hot, 50 steps; ``paper``: 10x10/4
        boxes, 9 actions, 80x80 RGB, 120 steps."""
        presets = {
            "tiny": dict(dim_room=(5, 5), num_boxes=1, max_steps=30, observation="one_hot",
                         action_set="compact"),
            "small": dict(dim_room=(7, 7), num_boxes=2, max_steps=50, observation="one_hot",
                          action_set="compact"),
            "paper": dict(dim_room=(10, 10), num_boxes=4, max_steps=120, observation="rgb",
                          action_set="gym_sokoban"),
        }
        if name not in presets:
            raise ValueError(f"unknown preset {name!r}; choose from {sorted(presets)}")
        return cls(**{**presets[name], **overrides})

    def replace(self, **changes) -> "SokobanConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["dim_room"] = list(d["dim_room"])
        if not isinstance(d["levels"], (str, type(None))):
            d["levels"] = repr(d["levels"])
        return d


def _resolve_config(config=None, preset: str | None = None, **kwargs) -> SokobanConfig:
    if config is not None and preset is not None:
        raise ValueError("pass either config or preset, not both")
    if isinstance(config, dict):
        kwargs = {**config, **kwargs}
        config = None
    if config is None:
        return SokobanConfig.preset(preset, **kwargs) if preset else SokobanConfig(**kwargs)
    if not isinstance(config, SokobanConfig):
        raise ValueError(f"config must be a SokobanConfig or dict, got {type(config).__name__}")
    return config.replace(**kwargs) if kwargs else config


def config_level_source(config: SokobanConfig | dict, num_envs: int | None = None) -> LevelSource:
    """The level source a :class:`SokobanConfig` (or dict of its fields) describes, checked
    against its ``dim_room``. ``num_envs=1`` makes the generator prefetch fewer levels at a time,
    which changes the order of its stream: fixed lists of levels leave ``num_envs`` out."""
    cfg = _resolve_config(config)
    kwargs = dict(cfg.level_kwargs)
    if cfg.levels in (None, "generator") and num_envs == 1:
        # a single env resets rarely: generate and prefetch fewer levels at a time
        kwargs.setdefault("chunk", 8)
        kwargs.setdefault("buffer_chunks", 2)
    src = make_level_source(cfg.levels, cfg.dim_room, cfg.num_boxes, cfg.split, cfg.holdout_fraction,
                            **kwargs)
    if tuple(src.dim_room) != tuple(cfg.dim_room):
        raise ValueError(f"level source rooms are {tuple(src.dim_room)}, config dim_room is "
                         f"{cfg.dim_room}")
    return src


def _obs_space(cfg: SokobanConfig) -> spaces.Box:
    shape = observation_shape(cfg.dim_room, cfg.observation)
    high = 1 if cfg.observation == "one_hot" else 255
    return spaces.Box(0, high, shape=shape, dtype=np.uint8)


def _level_option(options, dim_room):
    """``options={"level": (room_fixed, room_state)}`` -> arrays (k, H, W), or None."""
    if not options or "level" not in options:
        return None
    f, s = options["level"]
    f = np.asarray(f, np.uint8)
    s = np.asarray(s, np.uint8)
    if f.ndim == 2:
        f, s = f[None], s[None]
    if f.shape[1:] != tuple(dim_room):
        raise ValueError(f"options['level'] rooms are {f.shape[1:]}, env dim_room is {tuple(dim_room)}")
    validate_levels(f, s, what="options['level']")
    return f, s


class SokobanEnv(gym.Env):
    """Single Sokoban env (gymnasium API). Accepts ``config=SokobanConfig``, ``preset=`` or fields.

    ``reset(seed=s)`` makes the level sequence reproducible; ``reset(options={"level": (fixed,
    state)})`` starts from a given level. ``render_mode="rgb_array"`` renders gym-sokoban's 16 px
    image.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, config: SokobanConfig | dict | None = None, render_mode: str | None = None,
                 preset: str | None = None, level_source: LevelSource | None = None, **kwargs):
        self.config = _resolve_config(config, preset, **kwargs)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}")
        self.render_mode = render_mode
        cfg = self.config
        self.level_source = level_source if level_source is not None else config_level_source(cfg, 1)
        self.observation_space = _obs_space(cfg)
        self.action_space = spaces.Discrete(num_actions(cfg.action_set))
        self._batch = SokobanBatch(1, cfg.dim_room, cfg.max_steps, cfg.action_set)
        self._seeded = False

    def get_action_meanings(self) -> tuple[str, ...]:
        return action_names(self.config.action_set)

    @property
    def room_state(self) -> np.ndarray:
        return self._batch.room_state[0]

    @property
    def room_fixed(self) -> np.ndarray:
        return self._batch.room_fixed[0]

    def rooms(self) -> np.ndarray:
        """Current room, codes 0-6 (player on target = 6)."""
        return self._batch.rooms()[0]

    def _obs(self) -> np.ndarray:
        return rooms_to_observation(self._batch.rooms()[0], self.config.observation)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is None and not self._seeded and self.config.seed is not None:
            seed = self.config.seed
        super().reset(seed=seed)
        if seed is not None or not self._seeded:
            self.level_source.seed(int(self.np_random.integers(0, 2 ** 63 - 1)))
            self._seeded = True
        level = _level_option(options, self.config.dim_room)
        f, s = level if level is not None else self.level_source.sample(1)
        self._batch.load([0], f[:1], s[:1])
        self._return = 0.0
        return self._obs(), {"solved": False}

    def step(self, action):
        reward, solved, truncated, moved, pushed = self._batch.step(np.array([action]))
        self._return += float(reward[0])
        info = {"solved": bool(solved[0]), "moved_player": bool(moved[0]), "moved_box": bool(pushed[0])}
        return self._obs(), float(reward[0]), bool(solved[0]), bool(truncated[0]), info

    def render(self):
        if self.render_mode == "rgb_array":
            return render_rgb(self._batch.rooms()[0])
        return None

    def close(self):
        self.level_source.close()


class SokobanVectorEnv(VectorEnv):
    """Native batched Sokoban: ``num_envs`` rooms stepped together in numpy (no per-env loop).

    Same constructor arguments as :class:`SokobanEnv` plus ``num_envs``. See the module docstring
    for the autoreset modes and info keys.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4,
                "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, num_envs: int = 1, config: SokobanConfig | dict | None = None,
                 render_mode: str | None = None, preset: str | None = None,
                 level_source: LevelSource | None = None, **kwargs):
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.config = _resolve_config(config, preset, **kwargs)
        cfg = self.config
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}")
        self.render_mode = render_mode
        self.num_envs = int(num_envs)
        self.metadata = {**self.metadata, "autoreset_mode": _AUTORESET[cfg.autoreset_mode]}
        self.autoreset_mode = self.metadata["autoreset_mode"]
        self.level_source = level_source if level_source is not None else \
            config_level_source(cfg, self.num_envs)
        self.single_observation_space = _obs_space(cfg)
        self.single_action_space = spaces.Discrete(num_actions(cfg.action_set))
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._batch = SokobanBatch(self.num_envs, cfg.dim_room, cfg.max_steps, cfg.action_set)
        self._returns = np.zeros(self.num_envs, np.float64)
        self._lengths = np.zeros(self.num_envs, np.int64)
        self._needs_reset = np.zeros(self.num_envs, bool)
        self._obs_buf = ObservationBuffer(cfg.observation, self.num_envs, cfg.dim_room)
        self._seeded = False

    def get_action_meanings(self) -> tuple[str, ...]:
        return action_names(self.config.action_set)

    def rooms(self) -> np.ndarray:
        """Current rooms, ``uint8 (N, H, W)`` codes 0-6."""
        return self._batch.rooms()

    def _load(self, idx: np.ndarray, levels=None) -> None:
        f, s = self.level_source.sample_slots(idx) if levels is None else levels
        self._batch.load(idx, f, s)
        self._returns[idx] = 0.0
        self._lengths[idx] = 0
        self._obs_buf.set_rooms(idx, state_to_rooms(self._batch.room_state[idx],
                                                    self._batch.room_fixed[idx]))

    def _update_obs_after_step(self) -> None:
        moved, pushed, cur, nxt, beyond = self._batch.last_cells
        env = np.nonzero(moved)[0]
        if env.size == 0:
            return
        push = pushed[env]
        cells = [cur[env], nxt[env], beyond[env][push]]
        envs = np.concatenate([env, env, env[push]])
        cells = np.concatenate(cells)
        n, h, w = self._batch.room_state.shape
        codes = state_to_rooms(self._batch.room_state.reshape(n, h * w)[envs, cells],
                               self._batch.room_fixed.reshape(n, h * w)[envs, cells])
        self._obs_buf.update_cells(envs, cells, codes)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an int or None (one stream for the whole batch), got {seed!r}")
        if seed is None and not self._seeded and self.config.seed is not None:
            seed = self.config.seed
        if seed is not None or not self._seeded:
            self._np_random, self._np_random_seed = gym.utils.seeding.np_random(seed)
            self.level_source.seed(int(self.np_random.integers(0, 2 ** 63 - 1)))
            self._seeded = True
        level = _level_option(options, self.config.dim_room)
        idx = np.arange(self.num_envs)
        if level is not None:
            f, s = level
            if len(f) not in (1, self.num_envs):
                raise ValueError(f"options['level'] must hold 1 or num_envs={self.num_envs} levels")
            self._load(idx, (np.broadcast_to(f, (self.num_envs, *f.shape[1:])),
                             np.broadcast_to(s, (self.num_envs, *s.shape[1:]))))
        else:
            self._load(idx)
        self._needs_reset[:] = False
        return self._obs_buf.get(), {"solved": np.zeros(self.num_envs, bool)}

    def step(self, actions):
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise ValueError(f"actions must have shape ({self.num_envs},), got {actions.shape}")
        pending = np.nonzero(self._needs_reset)[0]
        reward, solved, truncated, moved, pushed = self._batch.step(actions)
        reward = reward.astype(np.float32)
        self._update_obs_after_step()
        info: dict[str, Any] = {"solved": solved}
        if pending.size:  # NEXT_STEP: these envs ignore the action and start a new episode.
            self._load(pending)
            reward[pending] = 0.0
            solved[pending] = False
            truncated[pending] = False
            self._needs_reset[pending] = False
        terminated = solved.copy()
        self._returns += reward
        self._lengths += 1
        if pending.size:
            self._lengths[pending] = 0
        done = np.nonzero(terminated | truncated)[0]
        if done.size:
            mask = record_episodes(info, done, self._returns, self._lengths)
            if self.autoreset_mode == AutoresetMode.SAME_STEP:
                final = np.zeros((self.num_envs, *self.single_observation_space.shape), np.uint8)
                final[done] = self._obs_buf.buf[done]
                info["final_obs"] = final
                info["_final_obs"] = mask
                info["final_info"] = {"solved": solved & mask, "_solved": mask}
                info["_final_info"] = mask
                self._load(done)
            else:
                self._needs_reset[done] = True
        return self._obs_buf.get(), reward, terminated, truncated, info

    def render(self):
        if self.render_mode == "rgb_array":
            return render_rgb(self._batch.rooms())
        return None

    def close_extras(self, **kwargs):
        self.level_source.close()


def make_vec(num_envs: int, config: SokobanConfig | dict | None = None, seed: int | None = None,
             fixed_levels: int | None = None, **kwargs) -> SokobanVectorEnv:
    """Native batched env of ``num_envs`` rooms (a config, a dict or keyword fields; ``preset=``).

    ``seed`` becomes the config's default seed: the first ``reset()`` without a seed uses it.
    ``fixed_levels=n`` plays one fixed list instead of a stream: the ``n`` levels the config's
    source draws after ``seed``, dealt to the slots in a fixed order (:class:`DealtLevels`), so
    the list depends neither on the agent nor on ``num_envs`` (how evaluation plays held-out levels).
    """
    if fixed_levels is not None:
        if seed is None:
            raise ValueError("fixed_levels needs a seed: it selects the list of levels")
        if kwargs.pop("level_source", None) is not None:
            raise ValueError("pass either fixed_levels or level_source, not both")
        render_mode = kwargs.pop("render_mode", None)
        config = _resolve_config(config, kwargs.pop("preset", None), **kwargs)
        source = deal_levels(config_level_source(config), int(fixed_levels), int(num_envs), int(seed))
        kwargs = dict(render_mode=render_mode, level_source=source)
    env = SokobanVectorEnv(num_envs, config, **kwargs)
    if seed is not None:
        env.config = env.config.replace(seed=int(seed))
    return env
