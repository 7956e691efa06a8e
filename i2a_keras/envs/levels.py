"""Level sources for the Sokoban environments (procedural levels as in Weber et al. 2017, Sec. 4.1).

A level source hands out levels ``(room_fixed, room_state)`` (``uint8 (n, H, W)`` each, gym-sokoban
codes) on demand, from its own seeded random stream:

* :class:`GeneratorSource` - our fast seeded generator (``generator.py``), streamed through a
  buffer filled ``chunk`` levels at a time (one vectorised call), or a fixed pre-generated pool.
* :class:`BoxobanSource` - levels of Boxoban text files (``boxoban.py``), sampled uniformly.
* :class:`GymSokobanSource` - gym-sokoban's own ``generate_room`` (slow; for comparisons).
* :class:`ArraySource` / :class:`PoolSource` - a fixed set of levels, e.g. an ``.npz`` pool cache
  built in parallel by :func:`build_pool`.

Train / held-out split: ``split="train"`` or ``"eval"`` keeps only the levels whose content hash
falls outside / inside a held-out bucket of size ``holdout_fraction``. The split is a property of
the level itself, so train and eval levels are disjoint whatever the seeds (``split="all"`` keeps
everything). ``make_level_source`` builds a source from a spec string (see its docstring).
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import random as _pyrandom
import threading
import weakref
from collections import deque

import numpy as np

from .boxoban import load_boxoban
from .core import validate_levels
from .generator import GENERATOR_VERSION, check_feasible, check_request, generate_levels

SPLITS = ("all", "train", "eval")


def level_hash_fraction(room_fixed: np.ndarray, room_state: np.ndarray) -> np.ndarray:
    """A deterministic number in [0, 1) per level (blake2b of its bytes), used for the split."""
    n = len(room_fixed)
    f = np.ascontiguousarray(room_fixed, dtype=np.uint8).reshape(n, -1 if n else 0)
    s = np.ascontiguousarray(room_state, dtype=np.uint8).reshape(n, -1 if n else 0)
    out = np.empty(len(f))
    for i in range(len(f)):
        d = hashlib.blake2b(f[i].tobytes() + s[i].tobytes(), digest_size=8).digest()
        out[i] = int.from_bytes(d, "little") / 2.0 ** 64
    return out


def split_mask(room_fixed, room_state, split: str, holdout_fraction: float) -> np.ndarray:
    """Bool mask of the levels that belong to ``split`` ("all", "train" or "eval")."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if not 0.0 <= holdout_fraction <= 1.0:
        raise ValueError(f"holdout_fraction must be in [0, 1], got {holdout_fraction}")
    if split == "all":
        return np.ones(len(room_fixed), bool)
    held = level_hash_fraction(room_fixed, room_state) < holdout_fraction
    return held if split == "eval" else ~held


class LevelSource:
    """Base class: ``seed(seed)`` then ``sample(n) -> (room_fixed, room_state)``."""

    dim_room: tuple[int, int]

    def __init__(self):
        self.rng = np.random.default_rng()

    def seed(self, seed=None) -> None:
        """Restart the source's random stream (same seed, same sequence of levels)."""
        self.rng = np.random.default_rng(seed)

    def sample(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def sample_slots(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One level for each env slot in ``slots`` that starts an episode. Sources that do not
        care which slot asks sample ``len(slots)`` levels; :class:`DealtLevels` does care."""
        return self.sample(len(slots))

    def draw(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` levels for one evaluation (:class:`DealtLevels`), from the current stream; the
        first ``k`` of ``draw(n)`` after a ``seed`` are ``draw(k)`` after the same seed."""
        return self.sample(n)

    def close(self) -> None:
        """Release background resources (if any)."""


class ArraySource(LevelSource):
    """A fixed set of levels sampled uniformly with replacement (after the split filter)."""

    def __init__(self, room_fixed, room_state, split: str = "all", holdout_fraction: float = 0.1,
                 name: str = "levels"):
        super().__init__()
        room_fixed = np.asarray(room_fixed, np.uint8)
        room_state = np.asarray(room_state, np.uint8)
        if room_fixed.ndim == 2:
            room_fixed, room_state = room_fixed[None], room_state[None]
        validate_levels(room_fixed, room_state, what=name)
        keep = split_mask(room_fixed, room_state, split, holdout_fraction)
        if not keep.any():
            raise ValueError(f"{name}: no level of {len(keep)} falls in split {split!r} "
                             f"(holdout_fraction={holdout_fraction})")
        self.room_fixed, self.room_state = room_fixed[keep], room_state[keep]
        self.dim_room = tuple(int(x) for x in room_fixed.shape[1:])
        self.num_levels = int(keep.sum())

    def sample(self, n: int):
        idx = self.rng.integers(0, self.num_levels, n)
        return self.room_fixed[idx].copy(), self.room_state[idx].copy()

    def draw(self, n: int):
        """``n`` distinct levels (a prefix of a seeded permutation) while the set holds that many,
        then with replacement."""
        if n > self.num_levels:
            return self.sample(n)
        idx = self.rng.permutation(self.num_levels)[:n]
        return self.room_fixed[idx].copy(), self.room_state[idx].copy()


class DealtLevels(LevelSource):
    """A fixed list of levels dealt to the slots of a vector env: slot ``i`` of ``num_slots`` plays
    levels ``i, i + num_slots, i + 2 * num_slots, ...`` of the list (cycling), whatever order the
    slots finish their episodes in. Evaluation deals its held-out levels this way, so that every
    agent, step limit and number of envs plays the same levels (paired comparisons)."""

    def __init__(self, room_fixed, room_state, num_slots: int):
        super().__init__()
        self.room_fixed = np.asarray(room_fixed, np.uint8)
        self.room_state = np.asarray(room_state, np.uint8)
        self.num_levels, self.num_slots = len(self.room_fixed), int(num_slots)
        if self.num_levels < 1 or self.num_slots < 1:
            raise ValueError(f"DealtLevels needs >= 1 level and >= 1 slot, got {self.num_levels} "
                             f"and {num_slots}")
        self.dim_room = tuple(int(x) for x in self.room_fixed.shape[1:])
        self.seed()

    def seed(self, seed=None) -> None:
        """Deal from the start again (the list itself has no randomness)."""
        self._next = np.arange(self.num_slots)

    def sample_slots(self, slots: np.ndarray):
        slots = np.asarray(slots, np.int64)
        if slots.size and (slots.min() < 0 or slots.max() >= self.num_slots
                           or len(np.unique(slots)) != len(slots)):
            raise ValueError(f"slots must be distinct and in [0, {self.num_slots}), got {slots}")
        idx = self._next[slots] % self.num_levels
        self._next[slots] += self.num_slots
        return self.room_fixed[idx].copy(), self.room_state[idx].copy()

    def sample(self, n: int):
        if self.num_slots != 1:
            raise ValueError(f"DealtLevels deals to {self.num_slots} slots: use sample_slots")
        idx = (self._next[0] + np.arange(n)) % self.num_levels
        self._next[0] += n
        return self.room_fixed[idx].copy(), self.room_state[idx].copy()


def deal_levels(source: LevelSource, num_levels: int, num_slots: int, seed: int) -> DealtLevels:
    """The ``num_levels`` levels that ``source`` draws after ``seed(seed)``, dealt to ``num_slots``
    env slots (:class:`DealtLevels`). Closes ``source``."""
    if num_levels < 1:
        raise ValueError(f"num_levels must be >= 1, got {num_levels}")
    try:
        source.seed(int(seed))
        fixed, state = source.draw(int(num_levels))
    finally:
        source.close()
    return DealtLevels(fixed, state, num_slots)


class GeneratorSource(LevelSource):
    """Levels from :func:`generator.generate_levels`, reproducible from ``seed``.

    ``pool_size=None`` streams fresh levels: they are generated ``chunk`` at a time (one vectorised
    call) into a buffer, so a reset costs a buffer read. With ``prefetch=True`` (default) a
    background thread keeps up to ``buffer_chunks`` chunks ready (numpy releases the GIL, so it
    overlaps with stepping and with the agent's TensorFlow work); the level sequence is the same
    with or without prefetching. ``pool_size=k`` instead generates k levels once per ``seed`` call
    and samples them with replacement.
    """

    def __init__(self, dim_room=(10, 10), num_boxes: int = 4, split: str = "all",
                 holdout_fraction: float = 0.1, chunk: int = 64, pool_size: int | None = None,
                 prefetch: bool = True, buffer_chunks: int = 4, **generator_kwargs):
        super().__init__()
        self.dim_room = check_request(dim_room, num_boxes)
        self.num_boxes = int(num_boxes)
        split_mask(np.zeros((0, 1, 1)), np.zeros((0, 1, 1)), split, holdout_fraction)
        check_feasible(self.dim_room, self.num_boxes, **generator_kwargs)
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        if buffer_chunks < 1:
            raise ValueError(f"buffer_chunks must be >= 1, got {buffer_chunks}")
        if pool_size is not None and pool_size < 1:
            raise ValueError(f"pool_size must be >= 1 or None, got {pool_size}")
        if split == "eval" and holdout_fraction == 0.0:
            raise ValueError("split='eval' with holdout_fraction=0 holds out no level")
        self.split, self.holdout_fraction = split, float(holdout_fraction)
        self.chunk, self.pool_size = int(chunk), pool_size
        self.prefetch, self.buffer_chunks = bool(prefetch), int(buffer_chunks)
        self.generator_kwargs = generator_kwargs
        self._cond = threading.Condition()
        self._gen_lock = threading.Lock()  # held by the prefetch thread while it uses self.rng
        self._thread = None
        self._reset_buffer()
        self._pool = None
        _PREFETCHING.add(self)

    def _reset_buffer(self):
        self._queue = deque()  # chunks (fixed, state) in generation order
        self._buffered = 0
        self._stop = False
        self._error = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_cond"] = None
        state["_gen_lock"] = None
        state["_thread"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._cond = threading.Condition()
        self._gen_lock = threading.Lock()
        _PREFETCHING.add(self)

    def _stop_thread(self):
        if self._thread is not None:
            with self._cond:
                self._stop = True
                self._cond.notify_all()
            self._thread.join()
            self._thread = None

    def close(self) -> None:
        self._stop_thread()

    def seed(self, seed=None) -> None:
        self._stop_thread()
        super().seed(seed)
        self._reset_buffer()
        self._pool = None
        if self.pool_size is not None:
            f, s = self._generate(self.pool_size)
            self._pool = ArraySource(f, s)
            self._pool.rng = self.rng
        elif self.prefetch:
            self._thread = threading.Thread(target=self._worker, daemon=True,
                                            name="sokoban-level-prefetch")
            self._pid = os.getpid()
            self._thread.start()

    def _generate(self, n: int):
        fixed, state, have = [], [], 0
        while have < n:
            want = n - have
            if self.split == "eval":
                want = int(np.ceil(want / max(self.holdout_fraction, 1e-3)))
            f, s = generate_levels(want, self.dim_room, self.num_boxes, rng=self.rng,
                                   **self.generator_kwargs)
            keep = split_mask(f, s, self.split, self.holdout_fraction)
            fixed.append(f[keep])
            state.append(s[keep])
            have += int(keep.sum())
        return np.concatenate(fixed)[:n], np.concatenate(state)[:n]

    def _worker(self):
        limit = self.buffer_chunks * self.chunk
        while True:
            with self._cond:
                while not self._stop and self._buffered >= limit:
                    self._cond.wait()
                if self._stop:
                    return
            try:
                with self._gen_lock:
                    chunk = self._generate(self.chunk)
            except BaseException as e:  # surfaced by sample()
                with self._cond:
                    self._error = e
                    self._cond.notify_all()
                return
            with self._cond:
                if self._stop:
                    return
                self._queue.append(chunk)
                self._buffered += len(chunk[0])
                self._cond.notify_all()

    def _take(self, n: int):
        out_f, out_s, have = [], [], 0
        while have < n:
            if not self._queue:
                if self._thread is None:
                    self._queue.append(self._generate(self.chunk))
                    self._buffered += self.chunk
                else:
                    while not self._queue and self._error is None:
                        self._cond.wait()
                    if self._error is not None:
                        raise RuntimeError(f"level generation failed: {self._error}") from self._error
            f, s = self._queue.popleft()
            k = min(n - have, len(f))
            out_f.append(f[:k])
            out_s.append(s[:k])
            if k < len(f):
                self._queue.appendleft((f[k:], s[k:]))
            self._buffered -= k
            have += k
        self._cond.notify_all()
        return np.concatenate(out_f), np.concatenate(out_s)

    def sample(self, n: int):
        if self._pool is not None:
            return self._pool.sample(n)
        if self._thread is not None and self._pid != os.getpid():
            # forked child: the prefetch thread does not exist here and the lock may be stale;
            # continue synchronously from the copied buffer and random state
            self._cond = threading.Condition()
            self._thread = None
            self.prefetch = False
            self._error = None
        if self._thread is None and self.prefetch:
            self.seed(None)  # first use without seed(): start from fresh entropy
        with self._cond:
            return self._take(n)


# Fork safety: a fork must not happen while a prefetch thread is inside numpy's random generator
# (its lock would stay held in the child). Forks wait for the current chunk to finish; the child
# continues synchronously (see GeneratorSource.sample).
_PREFETCHING: "weakref.WeakSet[GeneratorSource]" = weakref.WeakSet()


def _before_fork():
    for src in list(_PREFETCHING):
        if src._gen_lock is not None:
            src._gen_lock.acquire()


def _after_fork():
    for src in list(_PREFETCHING):
        if src._gen_lock is not None and src._gen_lock.locked():
            src._gen_lock.release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)


class BoxobanSource(ArraySource):
    """Boxoban levels from a file or directory (``boxoban.load_boxoban``), sampled uniformly."""

    def __init__(self, path: str, dim_room=(10, 10), split: str = "all", holdout_fraction: float = 0.1,
                 max_levels: int | None = None):
        f, s = load_boxoban(path, dim_room, max_levels=max_levels)
        super().__init__(f, s, split, holdout_fraction, name=f"Boxoban levels in {path}")
        self.path = path


class PoolSource(ArraySource):
    """Levels of an ``.npz`` pool cache written by :func:`build_pool` / :func:`save_pool`."""

    def __init__(self, path: str, split: str = "all", holdout_fraction: float = 0.1):
        f, s, meta = load_pool(path)
        super().__init__(f, s, split, holdout_fraction, name=f"level pool {path}")
        self.path, self.meta = path, meta


class GymSokobanSource(LevelSource):
    """gym-sokoban 0.0.6's own ``generate_room`` (pure Python DFS, ~seconds per 10x10 level).

    Seeded: Python's and numpy's global RNGs (which gym-sokoban uses) are seeded from this source's
    stream for each level and restored afterwards.
    """

    def __init__(self, dim_room=(10, 10), num_boxes: int = 4, num_gen_steps: int | None = None,
                 split: str = "all", holdout_fraction: float = 0.1):
        super().__init__()
        self.dim_room = check_request(dim_room, num_boxes)
        self.num_boxes = int(num_boxes)
        self.num_gen_steps = (int(1.7 * sum(self.dim_room)) if num_gen_steps is None
                              else int(num_gen_steps))
        split_mask(np.zeros((0, 1, 1)), np.zeros((0, 1, 1)), split, holdout_fraction)
        self.split, self.holdout_fraction = split, float(holdout_fraction)

    def _one(self):
        from .gym_sokoban_compat import import_room_utils

        room_utils = import_room_utils()
        py_state, np_state = _pyrandom.getstate(), np.random.get_state()
        try:
            while True:
                s = int(self.rng.integers(0, 2 ** 31))
                _pyrandom.seed(s)
                np.random.seed(s)
                try:
                    fixed, state, _ = room_utils.generate_room(
                        dim=self.dim_room, num_steps=self.num_gen_steps, num_boxes=self.num_boxes)
                except (RuntimeError, RuntimeWarning):
                    continue
                return fixed.astype(np.uint8), state.astype(np.uint8)
        finally:
            _pyrandom.setstate(py_state)
            np.random.set_state(np_state)

    def sample(self, n: int):
        fixed, state = [], []
        while len(fixed) < n:
            f, s = self._one()
            if split_mask(f[None], s[None], self.split, self.holdout_fraction)[0]:
                fixed.append(f)
                state.append(s)
        return np.stack(fixed), np.stack(state)


def save_pool(path: str, room_fixed, room_state, **meta) -> None:
    """Write levels to an ``.npz`` pool cache (atomically, via a temp file + ``os.replace``)."""
    room_fixed = np.asarray(room_fixed, np.uint8)
    room_state = np.asarray(room_state, np.uint8)
    validate_levels(room_fixed, room_state, what=f"pool {path}")
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, room_fixed=room_fixed, room_state=room_state,
                        meta=np.array(repr(sorted(meta.items()))))
    os.replace(tmp, path)


def load_pool(path: str):
    """Read an ``.npz`` pool cache: ``(room_fixed, room_state, meta_string)``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"level pool {path!r} not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("room_fixed", "room_state", "meta") if k in z.files}
    except Exception as exc:  # a truncated or non-npz file: zipfile, pickle or OS errors
        raise ValueError(f"level pool {path!r} is unreadable ({type(exc).__name__}: {exc})") from exc
    missing = {"room_fixed", "room_state"} - set(arrays)
    if missing:
        raise ValueError(f"level pool {path!r} lacks arrays {sorted(missing)}")
    meta = str(arrays["meta"]) if "meta" in arrays else ""
    return arrays["room_fixed"].astype(np.uint8), arrays["room_state"].astype(np.uint8), meta


def _pool_worker(args):
    seed, n, dim_room, num_boxes, kwargs = args
    return generate_levels(n, dim_room, num_boxes, seed=seed, **kwargs)


def build_pool(path: str, num_levels: int, dim_room=(10, 10), num_boxes: int = 4, seed: int = 0,
               workers: int | None = None, chunk: int = 256, progress: bool = True,
               **generator_kwargs):
    """Generate ``num_levels`` levels in parallel (multiprocessing, tqdm bar) and save a pool cache.

    Chunk i uses seed ``SeedSequence(seed).spawn(...)[i]``, so the pool is reproducible regardless of
    the number of workers. Returns ``(room_fixed, room_state)``.
    """
    import multiprocessing as mp

    from tqdm import tqdm

    check_request(dim_room, num_boxes)
    if num_levels < 1:
        raise ValueError(f"num_levels must be >= 1, got {num_levels}")
    sizes = [min(chunk, num_levels - i) for i in range(0, num_levels, chunk)]
    seeds = np.random.SeedSequence(seed).spawn(len(sizes))
    jobs = [(sq, n, tuple(dim_room), num_boxes, generator_kwargs) for sq, n in zip(seeds, sizes)]
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    fixed, state = [], []
    bar = tqdm(total=num_levels, desc=f"levels {dim_room[0]}x{dim_room[1]}/{num_boxes}",
               disable=not progress)
    if workers == 1:
        results = map(_pool_worker, jobs)
        pool = None
    else:
        pool = mp.get_context("spawn").Pool(workers)
        results = pool.imap(_pool_worker, jobs)
    try:
        for f, s in results:
            fixed.append(f)
            state.append(s)
            bar.update(len(f))
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()
    fixed, state = np.concatenate(fixed), np.concatenate(state)
    save_pool(path, fixed, state, dim_room=tuple(dim_room), num_boxes=num_boxes, seed=seed,
              generator_version=GENERATOR_VERSION, **generator_kwargs)
    return fixed, state


_CHECK_LEVEL_PATHS = contextvars.ContextVar("check_level_paths", default=True)


@contextlib.contextmanager
def level_paths_unchecked():
    """Inside it, :func:`check_level_spec` checks a spec's form but not that its files exist: a
    saved run's config names the folders of the machine it ran on, which a resume may move."""
    token = _CHECK_LEVEL_PATHS.set(False)
    try:
        yield
    finally:
        _CHECK_LEVEL_PATHS.reset(token)


def check_level_spec(spec: str) -> None:
    """Raise ValueError unless ``spec`` names a level source :func:`make_level_source` can open.

    Cheap (no level is read): used to reject a bad ``env.levels`` when a config is made.
    """
    check_paths = _CHECK_LEVEL_PATHS.get()
    if spec in (None, "generator", "gym_sokoban"):
        return
    if not isinstance(spec, (str, os.PathLike)):
        raise ValueError(f"level source spec must be a string, got {type(spec).__name__}")
    spec = os.fspath(spec)
    for prefix in ("boxoban:", "pool:"):
        if spec.startswith(prefix):
            path = spec[len(prefix):]
            if check_paths and not os.path.exists(path):
                raise ValueError(f"level source {spec!r}: {path!r} does not exist")
            return
    if spec.endswith(".npz") or spec.endswith(".txt") or os.path.isdir(spec) or not check_paths:
        if check_paths and not os.path.exists(spec):
            raise ValueError(f"level source {spec!r} does not exist")
        return
    raise ValueError(f"unknown level source spec {spec!r}: use 'generator', 'gym_sokoban', "
                     "'boxoban:PATH' or 'pool:PATH.npz'")


def make_level_source(spec=None, dim_room=(10, 10), num_boxes: int = 4, split: str | None = None,
                      holdout_fraction: float = 0.1, **kwargs) -> LevelSource:
    """Build a level source from ``spec``.

    ``None``/``"generator"``: :class:`GeneratorSource`; ``"gym_sokoban"``: :class:`GymSokobanSource`;
    ``"boxoban:PATH"`` or a directory / ``.txt`` path: :class:`BoxobanSource`; ``"pool:PATH"`` or an
    ``.npz`` path: :class:`PoolSource`; a ``(room_fixed, room_state)`` tuple: :class:`ArraySource`;
    a :class:`LevelSource`: itself. ``split=None`` means ``"train"`` for the generators and ``"all"``
    for level files and arrays (their owner usually splits them by file).
    """
    if isinstance(spec, LevelSource):
        return spec
    if isinstance(spec, tuple) and len(spec) == 2:
        return ArraySource(spec[0], spec[1], split or "all", holdout_fraction)
    if spec is None or spec == "generator":
        return GeneratorSource(dim_room, num_boxes, split or "train", holdout_fraction, **kwargs)
    if spec == "gym_sokoban":
        return GymSokobanSource(dim_room, num_boxes, split=split or "train",
                                holdout_fraction=holdout_fraction, **kwargs)
    if isinstance(spec, (str, os.PathLike)):
        spec = os.fspath(spec)
        if spec.startswith("boxoban:"):
            return BoxobanSource(spec[len("boxoban:"):], dim_room, split or "all", holdout_fraction,
                                 **kwargs)
        if spec.startswith("pool:"):
            return PoolSource(spec[len("pool:"):], split or "all", holdout_fraction)
        if spec.endswith(".npz"):
            return PoolSource(spec, split or "all", holdout_fraction)
        if os.path.isdir(spec) or spec.endswith(".txt"):
            return BoxobanSource(spec, dim_room, split or "all", holdout_fraction, **kwargs)
    raise ValueError(f"unknown level source spec {spec!r}: use 'generator', 'gym_sokoban', "
                     "'boxoban:PATH', 'pool:PATH.npz', a (room_fixed, room_state) tuple or a LevelSource")


def main(argv=None) -> None:
    """CLI: ``python -m i2a_keras.envs.levels --out data/pool_10x10_4.npz --num-levels 10000``."""
    import argparse

    p = argparse.ArgumentParser(description="Build a Sokoban level pool cache (.npz) in parallel.")
    p.add_argument("--out", required=True)
    p.add_argument("--num-levels", type=int, required=True)
    p.add_argument("--dim", type=int, nargs=2, default=(10, 10))
    p.add_argument("--boxes", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None)
    args = p.parse_args(argv)
    f, _ = build_pool(args.out, args.num_levels, tuple(args.dim), args.boxes, seed=args.seed,
                      workers=args.workers)
    print(f"wrote {len(f)} levels to {args.out}")


if __name__ == "__main__":
    main()
