"""Episode statistics of a batched vector env, in gymnasium's ``RecordEpisodeStatistics`` layout."""
from __future__ import annotations

import numpy as np

__all__ = ["record_episodes"]


def record_episodes(info: dict, done: np.ndarray, returns: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Add ``info["episode"] = {"r", "l"}`` and ``info["_episode"]`` for the envs whose episode
    ended this step (indices ``done``, non-empty); returns that boolean mask."""
    mask = np.zeros(len(returns), bool)
    mask[done] = True
    info["episode"] = {"r": np.where(mask, returns, 0.0).astype(np.float32),
                       "l": np.where(mask, lengths, 0).astype(np.int32)}
    info["_episode"] = mask
    return mask
