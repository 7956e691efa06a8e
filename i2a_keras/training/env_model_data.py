"""Training batches for environment-model pretraining with ``model.fit`` (Weber et al., 2017, Sec. 3.2).

:class:`TransitionBatches` is a ``keras.utils.PyDataset`` over a
:class:`~i2a_keras.training.collect.TransitionStore` (memory-mapped shards; only the rows of a
batch are read and decoded, so an 80x80 RGB data set never has to fit in RAM).

Order: the transitions form a stream ``perm(seed, 0) ++ perm(seed, 1) ++ ...`` where
``perm(seed, e)`` is a seeded permutation of all N rows (data epoch ``e``); the batch of global
training step ``s`` is ``stream[s * B:(s + 1) * B]``. Hence every transition is seen exactly once
per data epoch, every batch is full (one compiled step shape; a batch may straddle two data
epochs), and the batch of a step depends on ``(seed, s)`` alone, so a run resumed at step ``s``
(``start_step``) sees the same batches as one that never stopped.
"""
from __future__ import annotations

import threading

import keras
import numpy as np

from i2a_keras.models.env_model import SOKOBAN_REWARD_VALUES, reward_classes
from i2a_keras.training.collect import TransitionStore, decode_frames

__all__ = ["TransitionBatches", "epoch_order"]


def epoch_order(num_rows: int, seed: int, epoch: int) -> np.ndarray:
    """The seeded permutation of ``num_rows`` rows for data epoch ``epoch``."""
    return np.random.default_rng([int(seed), int(epoch)]).permutation(int(num_rows))


class TransitionBatches(keras.utils.PyDataset):
    """Batches ``({"obs", "actions"}, {"frame", "reward"})`` for :meth:`EnvModel.fit`.

    Item ``i`` is the batch of global step ``start_step + i``, for ``num_steps`` items. ``obs`` is
    in the env's encoding (uint8), ``actions`` int32, ``frame`` the next frame's classes (uint8
    ``(B, H', W')``) and ``reward`` the reward's class in ``reward_values`` (int32), or for
    MiniPacman data ``events``, the event count classes ``(B, 5)`` (int32). ``workers``,
    ``use_multiprocessing`` and ``max_queue_size`` are ``PyDataset``'s (prefetching in threads or
    processes; the order does not depend on them).
    """

    def __init__(self, store: TransitionStore, batch_size: int, num_steps: int, seed: int = 0,
                 start_step: int = 0, reward_values=SOKOBAN_REWARD_VALUES, **kwargs):
        super().__init__(**kwargs)
        if batch_size < 1 or num_steps < 0 or start_step < 0:
            raise ValueError(f"need batch_size >= 1, num_steps >= 0 and start_step >= 0, got "
                             f"{batch_size}, {num_steps}, {start_step}")
        if len(store) == 0:
            raise ValueError("the transition data set is empty")
        self.store, self.batch_size, self.seed = store, int(batch_size), int(seed)
        self.start_step, self.num_steps = int(start_step), int(num_steps)
        # MiniPacman data (Sec. 5) carries event counts: those are the targets, not the task rewards.
        self.target_key = "events" if "events" in store.columns else "reward"
        if self.target_key == "events":
            from i2a_keras.models.minipacman_env_model import event_targets
            self.targets = event_targets(store.columns["events"], reward_values)
        else:
            self.targets = reward_classes(store.columns["rewards"], reward_values)
        self._orders: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.num_steps

    def __getstate__(self):  # for use_multiprocessing: no lock, no cached orders
        return {**self.__dict__, "_lock": None, "_orders": {}}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def epoch_order(self, epoch: int) -> np.ndarray:
        """Row order of data epoch ``epoch`` (the two most recently used epochs are cached)."""
        with self._lock:
            order = self._orders.pop(epoch, None)
            if order is None:
                order = epoch_order(len(self.store), self.seed, epoch)
            self._orders[epoch] = order  # most recent last
            while len(self._orders) > 2:
                del self._orders[next(iter(self._orders))]
            return order

    def batch_rows(self, step: int) -> np.ndarray:
        """Row indices of the batch of global step ``step``."""
        n, start = len(self.store), int(step) * self.batch_size
        end = start + self.batch_size
        parts = [self.epoch_order(e)[max(start, e * n) - e * n: min(end, (e + 1) * n) - e * n]
                 for e in range(start // n, (end - 1) // n + 1)]
        return np.concatenate(parts)

    def __getitem__(self, index: int):
        if not 0 <= index < self.num_steps:
            raise IndexError(f"batch {index} out of range [0, {self.num_steps})")
        rows = self.batch_rows(self.start_step + index)
        store = self.store
        x = {"obs": decode_frames(store.frame_classes("obs", rows), store.observation, store.palette),
             "actions": store.columns["actions"][rows].astype(np.int32)}
        y = {"frame": store.frame_classes("next_obs", rows), self.target_key: self.targets[rows]}
        return x, y
