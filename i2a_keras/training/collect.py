"""Transition data sets for pretraining the environment model (Weber et al., 2017, Sec. 3.2).

The paper pretrains its environment model on trajectories of a partially trained model-free agent
(random agents see few rewards). :func:`collect` runs a batched Sokoban env under a random policy
or a model-free agent checkpoint (optionally mixed with epsilon-random actions) and writes the
transitions to disk. CLI: ``python -m i2a_keras.train collect --preset small --out data/em_random``.

Data set format (a directory; ``FORMAT_VERSION`` 1):

* ``metadata.json``: ``format``, ``format_version``, ``observation``, ``obs_shape``, ``action_set``,
  ``num_actions``, ``reward_values``, ``palette`` (RGB kinds), ``policy`` (``kind``,
  ``checkpoint``, ``epsilon``), ``split`` (``train``/``eval``: which level stream), ``seed``, the
  env config of every part (one part per box count), ``num_transitions``, ``reward_counts`` and
  ``shards`` (``file``, ``num_transitions``, ``num_boxes``).
* ``shard_XXXXX.npz`` (``np.savez_compressed``), arrays of length N:
  ``obs`` / ``next_obs`` ``uint8 (N, H, W, C)`` in the env's observation encoding (``next_obs`` of
  a final step is the episode's real last frame, not the auto-reset one), ``actions`` ``uint8 (N,)``,
  ``rewards`` ``float32 (N,)``, ``terminated`` / ``truncated`` ``bool (N,)``, ``episode`` ``int64
  (N,)`` (unique id of the episode in the data set), ``step`` ``int32 (N,)`` (index in the episode).
  Transitions of an episode are contiguous and in time order inside a shard, so multi-step
  sequences for open-loop evaluation are rows ``i..i+k-1`` with equal ``episode`` and consecutive
  ``step``.
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
from i2a_keras.models.env_model import SOKOBAN_REWARD_VALUES, reward_classes
from i2a_keras.training.config import EnvConfig, config_to_dict

FORMAT = "i2a_keras.env_model_transitions"
FORMAT_VERSION = 1
ARRAY_KEYS = ("obs", "actions", "rewards", "next_obs", "terminated", "truncated", "episode", "step")

__all__ = ["CollectConfig", "collect", "load_transitions", "read_metadata", "collect_preset",
           "palette_for", "FORMAT_VERSION"]


def palette_for(observation: str):
    """The fixed colour palette of an observation kind (``None`` for one-hot grids)."""
    from i2a_keras.envs import observations
    if observation == "one_hot":
        return None
    if observation == "tiny_rgb":
        return np.asarray(observations.TINY_COLORS, np.uint8)
    if observation == "rgb":
        return np.asarray(observations.RGB_PALETTE, np.uint8)
    raise ValueError(f"unknown observation kind {observation!r}")


@dataclass
class CollectConfig:
    """What to collect. ``box_counts``: rooms of ``env.dim_room`` with each of these box counts
    (same dynamics) get an equal share of ``num_transitions``. ``policy``: ``"random"`` (uniform
    actions) or ``"agent"`` (the model-free checkpoint ``agent_checkpoint``, sampling its policy);
    with ``epsilon`` > 0 each action is uniform-random with that probability. ``split``: ``"train"``
    uses ``env.train_seed`` levels, ``"eval"`` the held-out ``env.eval_seed`` levels."""

    env: EnvConfig = field(default_factory=EnvConfig)
    box_counts: tuple = (1, 2)
    num_transitions: int = 200_000
    num_envs: int = 32
    policy: str = "random"
    agent_checkpoint: str = ""
    epsilon: float = 0.0
    split: str = "train"
    shard_size: int = 50_000
    seed: int = 0
    progress: bool = True

    def __post_init__(self):
        self.box_counts = tuple(int(b) for b in self.box_counts)
        if not self.box_counts or min(self.box_counts) < 1:
            raise ValueError(f"box_counts must be a non-empty tuple of counts >= 1, got {self.box_counts}")
        if self.num_transitions < len(self.box_counts) or self.num_envs < 1 or self.shard_size < 1:
            raise ValueError("num_transitions (>= one per box count), num_envs and shard_size must be positive")
        if self.policy not in ("random", "agent"):
            raise ValueError(f"policy must be 'random' or 'agent', got {self.policy!r}")
        if self.policy == "agent" and not self.agent_checkpoint:
            raise ValueError("policy='agent' needs agent_checkpoint (a model-free .keras checkpoint)")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {self.epsilon}")
        if self.split not in ("train", "eval"):
            raise ValueError(f"split must be 'train' or 'eval', got {self.split!r}")


def collect_preset(name: str) -> CollectConfig:
    """``tiny`` (tests), ``small`` (7x7, 1 and 2 boxes, one-hot, compact actions), ``paper``."""
    if name == "tiny":
        return CollectConfig(env=EnvConfig(dim_room=(5, 5), num_boxes=1, max_steps=20), box_counts=(1,),
                             num_transitions=1_000, num_envs=8, shard_size=600, progress=False)
    if name == "small":
        return CollectConfig(env=EnvConfig(dim_room=(7, 7), num_boxes=2, max_steps=50), box_counts=(1, 2),
                             num_transitions=200_000, num_envs=32)
    if name == "paper":
        return CollectConfig(env=EnvConfig(dim_room=(10, 10), num_boxes=4, max_steps=120, observation="rgb"),
                             box_counts=(4,), num_transitions=1_000_000, num_envs=64)
    raise ValueError(f"unknown collect preset {name!r}; choose from ['paper', 'small', 'tiny']")


class _Policy:
    """Uniform-random actions, or a model-free agent's sampled actions with epsilon-random mixing."""

    def __init__(self, cfg: CollectConfig, num_actions: int, rng: np.random.Generator):
        self.num_actions, self.rng, self.epsilon = num_actions, rng, cfg.epsilon
        self.agent = None
        if cfg.policy == "agent":
            from i2a_keras.algos.a2c import make_policy_fn
            from i2a_keras.training.checkpoint import load_checkpoint
            self.agent, _, _ = load_checkpoint(cfg.agent_checkpoint, compile=False)
            self._logits = make_policy_fn(self.agent)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
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


def _write_shard(out_dir: str, index: int, chunk: dict, num_boxes: int) -> dict:
    arrays = {k: np.concatenate(chunk[k], axis=0) for k in ARRAY_KEYS}  # each (T, N, ...)
    n_steps, n_envs = arrays["actions"].shape[:2]
    flat = {k: np.swapaxes(v, 0, 1).reshape((n_steps * n_envs,) + v.shape[2:]) for k, v in arrays.items()}
    order = np.argsort(flat["episode"], kind="stable")  # env-major, then episode-contiguous, time order
    flat = {k: v[order] for k, v in flat.items()}
    name = f"shard_{index:05d}.npz"
    np.savez_compressed(os.path.join(out_dir, name), **flat)
    return {"file": name, "num_transitions": int(len(order)), "num_boxes": int(num_boxes)}


def collect(cfg: CollectConfig, out_dir: str) -> dict:
    """Collect ``cfg.num_transitions`` transitions into ``out_dir``; returns the metadata dict."""
    from tqdm.auto import tqdm

    from i2a_keras.training.actor_critic import make_env

    if os.path.exists(os.path.join(out_dir, "metadata.json")):
        raise ValueError(f"{out_dir!r} already holds a data set; choose a new --out directory")
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    shards, parts, reward_counts = [], [], {}
    per_part = [cfg.num_transitions // len(cfg.box_counts)] * len(cfg.box_counts)
    per_part[-1] += cfg.num_transitions - sum(per_part)
    level_seed = cfg.env.train_seed if cfg.split == "train" else cfg.env.eval_seed
    episode_base = 0
    obs_shape = num_actions = None
    start = time.time()
    bar = tqdm(total=cfg.num_transitions, desc=f"collect ({cfg.policy})", unit="tr", disable=not cfg.progress)
    policy = None
    for part, (num_boxes, budget) in enumerate(zip(cfg.box_counts, per_part)):
        env_cfg = dataclasses.replace(cfg.env, num_boxes=num_boxes)
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
        chunk = {k: [] for k in ARRAY_KEYS}
        chunk_size = done_part = 0
        while done_part < budget:
            actions = policy(obs)
            next_obs, rewards, terminated, truncated, info = env.step(actions)
            next_obs = np.asarray(next_obs)
            terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
            done = terminated | truncated
            real_next = _final_obs(info, next_obs, done)
            rewards = np.asarray(rewards, np.float32)
            for key, value in (("obs", obs), ("actions", actions.astype(np.uint8)), ("rewards", rewards),
                               ("next_obs", real_next), ("terminated", terminated),
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
                shards.append(_write_shard(out_dir, len(shards), chunk, num_boxes))
                chunk = {k: [] for k in ARRAY_KEYS}
                chunk_size = 0
        env.close()
        episode_base = next_episode
        parts.append({"num_boxes": num_boxes, "num_transitions": done_part, "env": config_to_dict(env_cfg)})
    bar.close()
    reward_classes(np.array([float(r) for r in reward_counts]))  # every reward is in the model's set
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "observation": cfg.env.observation, "obs_shape": list(obs_shape),
        "action_set": cfg.env.action_set, "num_actions": num_actions,
        "reward_values": list(SOKOBAN_REWARD_VALUES),
        "palette": None if palette_for(cfg.env.observation) is None
        else palette_for(cfg.env.observation).tolist(),
        "policy": {"kind": cfg.policy, "checkpoint": cfg.agent_checkpoint, "epsilon": cfg.epsilon},
        "split": cfg.split, "seed": cfg.seed, "collect_config": config_to_dict(cfg),
        "parts": parts, "num_transitions": int(sum(s["num_transitions"] for s in shards)),
        "reward_counts": dict(sorted(reward_counts.items(), key=lambda kv: float(kv[0]))),
        "seconds": round(time.time() - start, 1), "shards": shards,
    }
    tmp = os.path.join(out_dir, "metadata.json.tmp")
    with open(tmp, "w") as fh:
        json.dump(meta, fh, indent=2)
    os.replace(tmp, os.path.join(out_dir, "metadata.json"))
    return meta


def read_metadata(data_dir: str) -> dict:
    """The ``metadata.json`` of a data set directory (checks the format)."""
    path = os.path.join(data_dir, "metadata.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{data_dir!r} is not a transition data set (no metadata.json)")
    with open(path) as fh:
        meta = json.load(fh)
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{data_dir!r}: unsupported data format {meta.get('format')!r} "
                         f"v{meta.get('format_version')} (expected {FORMAT} v{FORMAT_VERSION})")
    return meta


def load_transitions(data_dirs, max_transitions: Optional[int] = None) -> tuple[dict, dict]:
    """Load and concatenate the shards of one or more data sets: ``(arrays, metadata)``.

    Data sets must agree on observation kind, shape and action set. Episode ids are made unique
    across data sets; ``max_transitions`` keeps only the first rows (whole data sets/shards order).
    """
    if isinstance(data_dirs, str):
        data_dirs = [d for d in data_dirs.split(",") if d]
    if not data_dirs:
        raise ValueError("no data set directory given")
    arrays = {k: [] for k in ARRAY_KEYS}
    first = None
    offset = total = 0
    for d in data_dirs:
        meta = read_metadata(d)
        if first is None:
            first = meta
        for key in ("observation", "obs_shape", "action_set", "num_actions"):
            if meta[key] != first[key]:
                raise ValueError(f"data sets disagree on {key}: {first[key]!r} vs {meta[key]!r} ({d})")
        max_episode = -1
        for shard in meta["shards"]:
            if max_transitions is not None and total >= max_transitions:
                break
            with np.load(os.path.join(d, shard["file"])) as z:
                part = {k: z[k] for k in ARRAY_KEYS}
            if max_transitions is not None:
                part = {k: v[: max_transitions - total] for k, v in part.items()}
            max_episode = max(max_episode, int(part["episode"].max(initial=-1)))
            part["episode"] = part["episode"] + offset
            for k in ARRAY_KEYS:
                arrays[k].append(part[k])
            total += len(part["actions"])
        offset += max_episode + 1
    out = {k: np.concatenate(v, axis=0) for k, v in arrays.items()}
    if tuple(out["obs"].shape[1:]) != tuple(first["obs_shape"]):
        raise ValueError(f"shard obs shape {out['obs'].shape[1:]} != metadata {first['obs_shape']}")
    return out, first
