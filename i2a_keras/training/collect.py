"""Transition data sets for pretraining the environment model (Weber et al., 2017, Sec. 3.2).

The paper pretrains its environment model on trajectories of a partially trained model-free agent
(random agents see few rewards). :func:`collect` runs a batched Sokoban env under a random policy
or a model-free agent checkpoint (optionally mixed with epsilon-random actions) and writes the
transitions to disk. CLI: ``python -m i2a_keras.train collect --preset small --out data/em_random``.

Data set format (a directory; ``FORMAT_VERSION`` 2, every array a plain ``.npy`` file so that
training reads it with ``np.load(..., mmap_mode="r")`` and never holds the data set in RAM):

* ``metadata.json``: ``format``, ``format_version``, ``observation``, ``obs_shape`` (the env's
  observation, the model input), ``frame_shape`` and ``frame_encoding`` (how frames are stored,
  below), ``action_set``, ``num_actions``, ``reward_values``, ``palette`` (RGB kinds), ``policy``
  (``kind``, ``checkpoint``, ``epsilon``), ``split`` (``train``/``eval``: which level stream),
  ``seed``, the env config of every part (one part per box count), ``num_transitions``,
  ``reward_counts`` and ``shards`` (``dir``, ``num_transitions``, ``num_boxes``).
* ``shard_XXXXX/KEY.npy`` for each key of ``ARRAY_KEYS``, arrays of length N:
  ``obs`` / ``next_obs`` ``uint8 (N, H', W')`` frame classes (``frame_encoding="classes"``: the
  tile code of each cell for one-hot grids, the ``palette`` index of each pixel for RGB kinds; the
  frame is ``eye(7)[classes]`` or ``palette[classes]``, and the classes are the model's frame
  targets; 7x smaller than one-hot, 3x smaller than RGB), ``next_obs`` of a final step is the
  episode's real last frame, not the auto-reset one; ``actions`` ``uint8 (N,)``, ``rewards``
  ``float32 (N,)``, ``terminated`` / ``truncated`` ``bool (N,)``, ``episode`` ``int64 (N,)`` (unique
  id of the episode in the data set), ``step`` ``int32 (N,)`` (index in the episode).
  Transitions of an episode are contiguous and in time order inside a shard, so multi-step
  sequences for open-loop evaluation are rows ``i..i+k-1`` with equal ``episode`` and consecutive
  ``step``.

MiniPacman data (``env.game="minipacman"``, Sec. 5): one part per task of ``tasks`` (the env
model serves all tasks, so it sees all of them), frames stored as classes of
``minipacman_core.PALETTE_UINT8`` (the 26 cell colours; ``observation`` is ``"tiny_rgb"``, the
env model's name for one palette pixel per cell), ``rewards`` those of each part's task, and one
more array, ``events`` ``uint8 (N, 5)``: the counts of ``EVENTS`` in the step (metadata ``events``
names them), from which every task's reward follows.

Version 1 (``shard_XXXXX.npz``, compressed, frames in the env encoding) cannot be memory-mapped;
:func:`read_metadata` rejects it with a pointer to :func:`upgrade_data_set`, which rewrites it as
version 2.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from i2a_keras.algos.a2c import final_obs_rows
from i2a_keras.envs.core import NUM_TILE_TYPES
from i2a_keras.models.env_model import SOKOBAN_REWARD_VALUES, frame_classes, reward_classes
from i2a_keras.training.config import EnvConfig, config_to_dict

FORMAT = "i2a_keras.env_model_transitions"
FORMAT_VERSION = 2
FRAME_KEYS = ("obs", "next_obs")
ARRAY_KEYS = ("obs", "actions", "rewards", "next_obs", "terminated", "truncated", "episode", "step")
EVENT_KEY = "events"  # MiniPacman only
_DTYPES = {"obs": np.uint8, "next_obs": np.uint8, "actions": np.uint8, "rewards": np.float32,
           EVENT_KEY: np.uint8,
           "terminated": np.bool_, "truncated": np.bool_, "episode": np.int64, "step": np.int32}

__all__ = ["CollectConfig", "collect", "load_transitions", "open_transitions", "TransitionStore",
           "read_metadata", "collect_preset", "palette_for", "decode_frames", "upgrade_data_set",
           "FORMAT_VERSION"]


def palette_for(observation: str, game: str = "sokoban"):
    """The fixed colour palette of an observation kind (``None`` for one-hot grids)."""
    from i2a_keras.envs import observations
    if game == "minipacman":
        from i2a_keras.envs.minipacman_core import PALETTE_UINT8
        return np.asarray(PALETTE_UINT8, np.uint8)
    if observation == "one_hot":
        return None
    if observation == "tiny_rgb":
        return np.asarray(observations.TINY_COLORS, np.uint8)
    if observation == "rgb":
        return np.asarray(observations.RGB_PALETTE, np.uint8)
    raise ValueError(f"unknown observation kind {observation!r}")


def decode_frames(classes: np.ndarray, observation: str, palette=None) -> np.ndarray:
    """Stored frame classes ``(..., H', W')`` -> observations in the env encoding (uint8)."""
    classes = np.asarray(classes)
    if observation == "one_hot":
        return np.eye(NUM_TILE_TYPES, dtype=np.uint8)[classes]
    if palette is None:
        raise ValueError(f"observation={observation!r} needs a palette to decode frames")
    return np.asarray(palette, np.uint8)[classes]


@dataclass
class CollectConfig:
    """What to collect for env-model pretraining (Sec. 3.1: data from a random or a partially
    trained agent)."""

    env: EnvConfig = field(default_factory=EnvConfig)
    """EnvConfig of the levels played"""
    box_counts: tuple = (1, 2)
    """Sokoban: rooms of env.dim_room with each of these box counts (same dynamics) get an equal share"""
    tasks: tuple = ()
    """MiniPacman: these tasks (default: all five) get equal shares"""
    num_transitions: int = 200_000
    """transitions to collect"""
    num_envs: int = 32
    """envs played in parallel"""
    policy: str = "random"
    """'random' (uniform), 'agent' (sample the model-free checkpoint agent_checkpoint) or, for MiniPacman, 'scripted' (eats pills, then ghosts)"""
    agent_checkpoint: str = ""
    """model-free .keras checkpoint for policy=agent"""
    epsilon: float = 0.0
    """probability of a uniform-random action instead of the policy's"""
    split: str = "train"
    """'train' (env.train_seed levels) or 'eval' (the held-out env.eval_seed levels)"""
    shard_size: int = 50_000
    """transitions per memory-mapped shard file"""
    seed: int = 0
    """seed of the actions"""
    progress: bool = True
    """show a tqdm progress bar"""

    def __post_init__(self):
        self.box_counts = tuple(int(b) for b in self.box_counts)
        self.tasks = tuple(str(t) for t in self.tasks)
        if self.tasks and self.env.game != "minipacman":
            raise ValueError("tasks is a MiniPacman setting (env.game=minipacman)")
        if self.env.game == "minipacman":
            from i2a_keras.envs.minipacman_core import TASKS
            self.tasks = self.tasks or tuple(TASKS)
            unknown = [t for t in self.tasks if t not in TASKS]
            if unknown:
                raise ValueError(f"unknown MiniPacman task(s) {unknown}; choose from {tuple(TASKS)}")
        if not self.box_counts or min(self.box_counts) < 1:
            raise ValueError(f"box_counts must be a non-empty tuple of counts >= 1, got {self.box_counts}")
        if self.num_transitions < len(self.box_counts) or self.num_envs < 1 or self.shard_size < 1:
            raise ValueError("num_transitions (>= one per box count), num_envs and shard_size must be positive")
        if self.policy not in ("random", "agent", "scripted"):
            raise ValueError(f"policy must be 'random', 'agent' or 'scripted', got {self.policy!r}")
        if self.policy == "scripted" and self.env.game != "minipacman":
            raise ValueError("policy='scripted' is the MiniPacman scripted player (env.game=minipacman)")
        if self.policy == "agent" and not self.agent_checkpoint:
            raise ValueError("policy='agent' needs agent_checkpoint (a model-free .keras checkpoint)")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {self.epsilon}")
        if self.split not in ("train", "eval"):
            raise ValueError(f"split must be 'train' or 'eval', got {self.split!r}")


def collect_preset(name: str) -> CollectConfig:
    """``tiny`` (tests), ``small`` (7x7, 1 and 2 boxes, one-hot, compact actions), ``boxoban``
    (10x10, 4 boxes, one-hot, 4 actions, Boxoban train levels when found), ``paper``."""
    if name == "tiny":
        return CollectConfig(env=EnvConfig(dim_room=(5, 5), num_boxes=1, max_steps=20), box_counts=(1,),
                             num_transitions=1_000, num_envs=8, shard_size=600, progress=False)
    if name == "small":
        return CollectConfig(env=EnvConfig(dim_room=(7, 7), num_boxes=2, max_steps=50), box_counts=(1, 2),
                             num_transitions=200_000, num_envs=32)
    if name == "boxoban":
        from i2a_keras.training.config import boxoban_env
        return CollectConfig(env=boxoban_env(), box_counts=(4,), num_transitions=1_000_000,
                             num_envs=64, shard_size=100_000)
    if name == "paper":
        return CollectConfig(env=EnvConfig(dim_room=(10, 10), num_boxes=4, max_steps=120, observation="rgb"),
                             box_counts=(4,), num_transitions=1_000_000, num_envs=64, shard_size=20_000)
    if name.startswith("minipacman"):  # all five tasks (Sec. 5: one env model for every task)
        from i2a_keras.training.config import model_free_preset
        env = model_free_preset(name).env
        size = {"minipacman_tiny": (1_000, 8, 600), "minipacman": (250_000, 50, 50_000),
                "minipacman_paper": (2_000_000, 100, 100_000)}[name]
        return CollectConfig(env=env, num_transitions=size[0], num_envs=size[1], shard_size=size[2],
                             progress=name != "minipacman_tiny")
    raise ValueError(f"unknown collect preset {name!r}; choose from ['boxoban', 'paper', 'small', "
                     "'tiny', 'minipacman_tiny', 'minipacman', 'minipacman_paper']")


class _Policy:
    """Uniform-random actions, or a model-free agent's sampled actions (or the MiniPacman scripted
    player's) with epsilon-random mixing."""

    def __init__(self, cfg: CollectConfig, num_actions: int, rng: np.random.Generator):
        self.num_actions, self.rng, self.epsilon = num_actions, rng, cfg.epsilon
        self.agent = self.scripted = None
        if cfg.policy == "scripted":
            from i2a_keras.envs.minipacman_scripted import ScriptedPlayer
            self.scripted = ScriptedPlayer(epsilon=cfg.epsilon, rng=rng)
        if cfg.policy == "agent":
            from i2a_keras.algos.a2c import make_policy_fn
            from i2a_keras.training.checkpoint import load_checkpoint
            self.agent, _, _ = load_checkpoint(cfg.agent_checkpoint, compile=False)
            self._logits = make_policy_fn(self.agent)

    def __call__(self, obs: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Actions for ``obs``; ``classes`` are the frames' cell classes (what the scripted
        player reads)."""
        if self.scripted is not None:
            return self.scripted.act_on_cells(classes)
        n = len(obs)
        actions = self.rng.integers(0, self.num_actions, n)
        if self.agent is not None:
            logits = np.asarray(self._logits(obs, self.rng), np.float64)
            if logits.shape != (n, self.num_actions):
                raise ValueError(f"agent logits have shape {logits.shape}, expected {(n, self.num_actions)}")
            gumbel = -np.log(-np.log(self.rng.uniform(1e-12, 1.0, logits.shape)))
            greedy = np.argmax(logits + gumbel, axis=-1)
            explore = self.rng.uniform(size=n) < self.epsilon
            actions = np.where(explore, actions, greedy)
        return actions.astype(np.int64)


def _final_obs(info: dict, obs: np.ndarray, done: np.ndarray) -> np.ndarray:
    """The real last frames of finished envs (``info["final_obs"]``, gymnasium SAME_STEP autoreset)."""
    out = obs.copy()
    if not done.any():
        return out
    if "final_obs" not in info:
        raise ValueError("env finished an episode but info has no 'final_obs' (needs SAME_STEP autoreset)")
    idx = np.flatnonzero(done)
    out[idx] = final_obs_rows(info, idx)
    return out


def _write_shard(out_dir: str, index: int, chunk: dict, label: dict) -> dict:
    arrays = {k: np.concatenate(v, axis=0) for k, v in chunk.items()}  # each (T, N, ...)
    n_steps, n_envs = arrays["actions"].shape[:2]
    flat = {k: np.swapaxes(v, 0, 1).reshape((n_steps * n_envs,) + v.shape[2:]) for k, v in arrays.items()}
    order = np.argsort(flat["episode"], kind="stable")  # env-major, then episode-contiguous, time order
    name = f"shard_{index:05d}"
    os.makedirs(os.path.join(out_dir, name))
    for key, value in flat.items():
        np.save(os.path.join(out_dir, name, f"{key}.npy"), value[order].astype(_DTYPES[key], copy=False))
    return {"dir": name, "num_transitions": int(len(order)), **label}


def _write_metadata(out_dir: str, meta: dict) -> None:
    tmp = os.path.join(out_dir, "metadata.json.tmp")
    with open(tmp, "w") as fh:
        json.dump(meta, fh, indent=2)
    os.replace(tmp, os.path.join(out_dir, "metadata.json"))


def collect(cfg: CollectConfig, out_dir: str) -> dict:
    """Collect ``cfg.num_transitions`` transitions into ``out_dir``; returns the metadata dict."""
    from tqdm.auto import tqdm

    from i2a_keras.training.actor_critic import make_env

    if os.path.exists(os.path.join(out_dir, "metadata.json")):
        raise ValueError(f"{out_dir!r} already holds a data set; choose a new --out directory")
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    minipacman = cfg.env.game == "minipacman"
    palette = palette_for(cfg.env.observation, cfg.env.game)
    observation = "tiny_rgb" if minipacman else cfg.env.observation  # the env model's frame kind
    keys = ARRAY_KEYS + ((EVENT_KEY,) if minipacman else ())
    labels = ([{"task": t} for t in cfg.tasks] if minipacman else
              [{"num_boxes": int(b)} for b in cfg.box_counts])
    shards, parts, reward_counts = [], [], {}
    if minipacman:
        from i2a_keras.envs.minipacman_core import EVENTS
        event_totals = np.zeros(len(EVENTS), np.int64)  # how often each event occurred
    per_part = [cfg.num_transitions // len(labels)] * len(labels)
    per_part[-1] += cfg.num_transitions - sum(per_part)
    level_seed = cfg.env.train_seed if cfg.split == "train" else cfg.env.eval_seed
    episode_base = 0
    obs_shape = frame_shape = num_actions = None
    start = time.time()
    bar = tqdm(total=cfg.num_transitions, desc=f"collect ({cfg.policy})", unit="tr", disable=not cfg.progress)
    policy = None
    for part, (label, budget) in enumerate(zip(labels, per_part)):
        env_cfg = dataclasses.replace(cfg.env, **label)
        env = make_env(env_cfg, cfg.num_envs, cfg.split, seed=level_seed + 7919 * part)
        obs, _ = env.reset(seed=level_seed + 7919 * part)
        obs = np.asarray(obs)
        if num_actions is None:
            num_actions = int(env.single_action_space.n)
            obs_shape = tuple(obs.shape[1:])
            policy = _Policy(cfg, num_actions, rng)
        episode = episode_base + np.arange(cfg.num_envs, dtype=np.int64)
        next_episode = episode_base + cfg.num_envs
        step = np.zeros(cfg.num_envs, np.int32)
        chunk = {k: [] for k in keys}
        chunk_size = done_part = 0
        while done_part < budget:
            obs_c = frame_classes(obs, observation, palette)  # compact storage, see above
            actions = policy(obs, obs_c)
            next_obs, rewards, terminated, truncated, info = env.step(actions)
            next_obs = np.asarray(next_obs)
            terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
            done = terminated | truncated
            real_next = _final_obs(info, next_obs, done)
            rewards = np.asarray(rewards, np.float32)
            next_c = frame_classes(real_next, observation, palette)
            if minipacman:
                events = np.asarray(info["events"], np.uint8)
                chunk[EVENT_KEY].append(events[None])
                event_totals += events.sum(axis=0, dtype=np.int64)
            frame_shape = obs_c.shape[1:]
            for key, value in (("obs", obs_c), ("actions", actions.astype(np.uint8)), ("rewards", rewards),
                               ("next_obs", next_c), ("terminated", terminated),
                               ("truncated", truncated), ("episode", episode.copy()), ("step", step.copy())):
                chunk[key].append(value[None])
            for r, c in zip(*np.unique(rewards.round(3), return_counts=True)):
                reward_counts[f"{r:g}"] = reward_counts.get(f"{r:g}", 0) + int(c)
            step = np.where(done, 0, step + 1).astype(np.int32)
            n_done = int(done.sum())
            episode[done] = next_episode + np.arange(n_done)
            next_episode += n_done
            obs = next_obs
            chunk_size += cfg.num_envs
            done_part += cfg.num_envs
            bar.update(cfg.num_envs)
            if chunk_size >= cfg.shard_size or done_part >= budget:
                shards.append(_write_shard(out_dir, len(shards), chunk, label))
                chunk = {k: [] for k in keys}
                chunk_size = 0
        env.close()
        episode_base = next_episode
        parts.append({**label, "num_transitions": done_part, "env": config_to_dict(env_cfg)})
    bar.close()
    if not minipacman:
        reward_classes(np.array([float(r) for r in reward_counts]))  # every reward is in the model's set
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "game": cfg.env.game,
        "observation": observation, "obs_shape": list(obs_shape),
        "frame_shape": list(frame_shape), "frame_encoding": "classes",
        "action_set": cfg.env.action_set, "num_actions": num_actions,
        "reward_values": None if minipacman else list(SOKOBAN_REWARD_VALUES),
        "palette": None if palette is None else palette.tolist(),
        "policy": {"kind": cfg.policy, "checkpoint": cfg.agent_checkpoint, "epsilon": cfg.epsilon},
        "split": cfg.split, "seed": cfg.seed, "collect_config": config_to_dict(cfg),
        "parts": parts, "num_transitions": int(sum(s["num_transitions"] for s in shards)),
        "reward_counts": dict(sorted(reward_counts.items(), key=lambda kv: float(kv[0]))),
        "seconds": round(time.time() - start, 1), "shards": shards,
    }
    if minipacman:
        meta.update(events=list(EVENTS), tasks=list(cfg.tasks),
                    event_counts=dict(zip(EVENTS, event_totals.tolist())))
    _write_metadata(out_dir, meta)
    return meta


def _read_json(data_dir: str) -> dict:
    path = os.path.join(data_dir, "metadata.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{data_dir!r} is not a transition data set (no metadata.json)")
    with open(path) as fh:
        return json.load(fh)


def read_metadata(data_dir: str) -> dict:
    """The ``metadata.json`` of a data set directory (checks the format and its version)."""
    meta = _read_json(data_dir)
    version = meta.get("format_version")
    if meta.get("format") == FORMAT and version == 1:
        raise ValueError(
            f"{data_dir!r} is a version-1 transition data set (compressed .npz shards, which cannot "
            f"be memory-mapped); convert it with i2a_keras.training.collect.upgrade_data_set("
            f"{data_dir!r}, NEW_DIR) or collect it again")
    if meta.get("format") != FORMAT or version != FORMAT_VERSION:
        raise ValueError(f"{data_dir!r}: unsupported data format {meta.get('format')!r} "
                         f"v{version} (expected {FORMAT} v{FORMAT_VERSION})")
    return meta


def upgrade_data_set(src: str, dst: str) -> dict:
    """Rewrite a version-1 data set (``.npz`` shards) as version 2 in ``dst``; returns its metadata."""
    meta = _read_json(src)
    if meta.get("format") != FORMAT or meta.get("format_version") != 1:
        raise ValueError(f"{src!r} is not a version-1 {FORMAT} data set")
    if os.path.exists(os.path.join(dst, "metadata.json")):
        raise ValueError(f"{dst!r} already holds a data set")
    os.makedirs(dst, exist_ok=True)
    palette = None if meta.get("palette") is None else np.asarray(meta["palette"], np.uint8)
    shards = []
    for i, shard in enumerate(meta["shards"]):
        with np.load(os.path.join(src, shard["file"])) as z:
            arrays = {k: z[k] for k in ARRAY_KEYS}
        name = f"shard_{i:05d}"
        os.makedirs(os.path.join(dst, name))
        for key, value in arrays.items():
            if key in FRAME_KEYS:
                value = frame_classes(value, meta["observation"], palette)
            np.save(os.path.join(dst, name, f"{key}.npy"), value.astype(_DTYPES[key], copy=False))
        shards.append({"dir": name, "num_transitions": shard["num_transitions"],
                       "num_boxes": shard["num_boxes"]})
    new = {**meta, "format_version": FORMAT_VERSION, "frame_shape": list(meta["obs_shape"][:2]),
           "frame_encoding": "classes", "shards": shards, "upgraded_from": os.path.abspath(src)}
    _write_metadata(dst, new)
    return new


class TransitionStore:
    """One or more data sets as one table of transitions, read lazily.

    Frames stay on disk (``np.load(mmap_mode="r")`` per shard) and are gathered and decoded per
    request; the small per-transition columns (``actions``, ``rewards``, ``terminated``,
    ``truncated``, ``episode``, ``step``) are loaded into RAM. Data sets must agree on observation
    kind, shape and action set. Episode ids are made unique across data sets; ``max_transitions``
    keeps only the first rows (data sets and shards in order).
    """

    def __init__(self, data_dirs, max_transitions: Optional[int] = None):
        if isinstance(data_dirs, str):
            data_dirs = [d for d in data_dirs.split(",") if d]
        if not data_dirs:
            raise ValueError("no data set directory given")
        if max_transitions is not None and max_transitions < 1:
            raise ValueError(f"max_transitions must be >= 1, got {max_transitions}")
        self._args = (list(data_dirs), max_transitions)
        self.meta = None
        self._frames = {k: [] for k in FRAME_KEYS}
        columns = None
        sizes, offset, total = [], 0, 0
        for d in data_dirs:
            meta = read_metadata(d)
            if self.meta is None:
                self.meta = meta
                keys = ARRAY_KEYS + ((EVENT_KEY,) if meta.get("events") else ())
                columns = {k: [] for k in keys if k not in FRAME_KEYS}
            for key in ("observation", "obs_shape", "frame_shape", "action_set", "num_actions",
                        "events"):
                if meta.get(key) != self.meta.get(key):
                    raise ValueError(f"data sets disagree on {key}: {self.meta.get(key)!r} vs "
                                     f"{meta.get(key)!r} ({d})")
            max_episode = -1
            for shard in meta["shards"]:
                if max_transitions is not None and total >= max_transitions:
                    break
                n = int(shard["num_transitions"])
                keep = n if max_transitions is None else min(n, max_transitions - total)
                shapes = {**{k: tuple(meta["frame_shape"]) for k in FRAME_KEYS},
                          EVENT_KEY: (len(meta.get("events") or ()),)}
                arrays = {k: self._open(d, shard["dir"], k, (n,) + shapes.get(k, ())) for k in keys}
                for key in FRAME_KEYS:
                    self._frames[key].append(arrays[key][:keep])
                for key in columns:
                    columns[key].append(np.asarray(arrays[key][:keep]))
                max_episode = max(max_episode, int(columns["episode"][-1].max(initial=-1)))
                columns["episode"][-1] = columns["episode"][-1] + offset
                sizes.append(keep)
                total += keep
            offset += max_episode + 1
        if not sizes:
            raise ValueError(f"no transitions in {data_dirs}")
        self.columns = {k: np.concatenate(v) for k, v in columns.items()}
        self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.observation = self.meta["observation"]
        self.obs_shape = tuple(self.meta["obs_shape"])
        self.frame_shape = tuple(self.meta["frame_shape"])
        self.palette = None if self.meta.get("palette") is None else np.asarray(self.meta["palette"], np.uint8)

    @staticmethod
    def _open(data_dir, shard_dir, key, shape):
        path = os.path.join(data_dir, shard_dir, f"{key}.npy")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"data set {data_dir!r} is missing {path}")
        arr = np.load(path, mmap_mode="r")
        if arr.shape != shape or arr.dtype != _DTYPES[key]:
            raise ValueError(f"{path}: expected {np.dtype(_DTYPES[key]).name} {shape}, "
                             f"got {arr.dtype.name} {arr.shape}")
        return arr

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __reduce__(self):  # pickled (PyDataset worker processes) by reopening, not by copying
        return TransitionStore, self._args

    def frame_classes(self, key: str, rows) -> np.ndarray:
        """Stored classes ``uint8 (*rows.shape, H', W')`` of ``obs`` or ``next_obs`` rows."""
        if key not in FRAME_KEYS:
            raise KeyError(f"frame key must be one of {FRAME_KEYS}, got {key!r}")
        rows = np.asarray(rows, np.int64)
        flat = rows.ravel()
        if flat.size and (flat.min() < 0 or flat.max() >= len(self)):
            raise IndexError(f"rows out of range [0, {len(self)})")
        shard = np.searchsorted(self._starts, flat, side="right") - 1
        out = np.empty((flat.size,) + self.frame_shape, np.uint8)
        for s in np.unique(shard):
            sel = np.flatnonzero(shard == s)
            local = flat[sel] - self._starts[s]
            order = np.argsort(local, kind="stable")  # sorted reads from the memory map
            out[sel[order]] = self._frames[key][s][local[order]]
        return out.reshape(rows.shape + self.frame_shape)

    def frames(self, key: str, rows) -> np.ndarray:
        """Observations (env encoding) of ``obs`` or ``next_obs`` rows."""
        return decode_frames(self.frame_classes(key, rows), self.observation, self.palette)

    def as_dict(self) -> dict:
        """The columns plus lazy ``obs``/``next_obs`` views (index them like arrays)."""
        return {**self.columns, **{k: _LazyFrames(self, k) for k in FRAME_KEYS}}


class _LazyFrames:
    """Array-like view of a frame column: ``view[rows]`` gathers and decodes only those rows."""

    def __init__(self, store: TransitionStore, key: str):
        self.store, self.key = store, key
        self.shape = (len(store),) + store.obs_shape
        self.dtype = np.dtype(np.uint8)
        self.ndim = len(self.shape)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, index):
        if isinstance(index, tuple):
            return self[index[0]][(slice(None),) + index[1:]]
        if isinstance(index, slice):
            index = np.arange(len(self))[index]
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        elif index.dtype.kind not in "iu":
            raise IndexError(f"frames can be indexed by ints, slices or masks, got {index.dtype}")
        index = np.where(index < 0, index + len(self), index)
        return self.store.frames(self.key, index)

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype)


def open_transitions(data_dirs, max_transitions: Optional[int] = None) -> tuple[dict, dict]:
    """Like :func:`load_transitions` but frames stay on disk: ``obs``/``next_obs`` are lazy views."""
    store = TransitionStore(data_dirs, max_transitions)
    return store.as_dict(), store.meta


def load_transitions(data_dirs, max_transitions: Optional[int] = None) -> tuple[dict, dict]:
    """Load the transitions of one or more data sets into RAM: ``(arrays, metadata)``.

    ``arrays`` has every key of ``ARRAY_KEYS``, ``obs``/``next_obs`` decoded to the env's encoding
    (see :class:`TransitionStore` for the rules on several data sets and ``max_transitions``).
    """
    store = TransitionStore(data_dirs, max_transitions)
    rows = np.arange(len(store))
    return {**store.columns, **{k: store.frames(k, rows) for k in FRAME_KEYS}}, store.meta
