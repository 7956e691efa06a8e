"""Fast seeded Sokoban level generator (gym-sokoban's ``room_utils.py`` procedure, batched).

The paper trains on procedurally generated 10x10 rooms with 4 boxes (Weber et al. 2017, Sec. 4.1,
using the generator of gym-sokoban / Racaniere et al.). gym-sokoban builds a level in three steps and
we keep the first two exactly, vectorised over a batch of levels:

1. **Topology**: a random walk of ``num_gen_steps = int(1.7 * (H + W))`` steps from a random cell,
   changing direction with probability 0.35, stamping one of gym-sokoban's five 3x3 floor masks at
   each position; the border is wall.
2. **Placement**: player and ``num_boxes`` targets on distinct uniformly random floor cells (rejected
   when there are not more than ``num_boxes + 1`` floor cells, like gym-sokoban).
3. **Reverse play**: starting with every box on its target, the player moves and *pulls* boxes; the
   level is the visited state with the best score ``#pulls * sum_i |box_i - target_i|_1``, where any
   state with a box on a target or the player on a target scores 0 (gym-sokoban's rule). Levels
   whose best score is 0 are rejected (gym-sokoban retries them too).

gym-sokoban's step 3 is a depth-first search over up to 300,000 states (depth <= 300, actions
ordered pull up/down/left/right then move up/down/left/right) in pure Python: ~5-8 CPU-s per
10x10/4-box level. We replace it by ``num_walkers`` (32) reverse-play walks of ``walk_length``
(300, the DFS depth limit) steps per level with the same pull/move rules and the same score,
keeping the best-scoring state over all walks. All walks of all levels of a batch advance together
as numpy array operations (``B * num_walkers`` walkers), which makes it >1000x faster. Every walk
is a reverse-play trajectory from the solved state, so every level is solvable by construction.

Choices that keep the difficulty close to gym-sokoban's (optimal push counts measured with
``solver.py``, see ``benchmarks/bench_generator.py`` and docs/results.md): the DFS tries pull
actions first, so a walker always pulls the box behind it when it moves away from it
(``pull_prob=1.0``); the DFS keeps the best of ~300k states while 32 uniform random walks see only
~10k and give easier levels (10x10/4: mean ~10 optimal pushes vs ~13), so with probability
``greedy=0.6`` a walker steps in the free direction whose pull takes a box furthest from its target
(random tie-break), which raises it to ~11-12 for about 3x the cost (still <5 ms per 10x10 level).
On small rooms (fewer than 49 interior cells, e.g. 7x7) the walks already cover the reachable
states and match gym-sokoban's difficulty (7x7/2: mean 4.3 vs 4.5 optimal pushes), so ``greedy``
defaults to 0 there (``greedy=None`` picks the default by room size).
"""
from __future__ import annotations

import functools

import numpy as np

from .core import BOX, FLOOR, PLAYER, TARGET, WALL

# Version of the level distribution for a given seed (record it with results; bump on any change):
# 1 = uniform reverse-play walks (7ccfdb7), 2 = pull-first + greedy on all sizes (f82f669),
# 3 = greedy only on rooms with >= 49 interior cells (f5e0a11).
GENERATOR_VERSION = 3

# gym-sokoban's random-walk floor masks.
_MASKS = np.array([
    [[0, 0, 0], [1, 1, 1], [0, 0, 0]],
    [[0, 1, 0], [0, 1, 0], [0, 1, 0]],
    [[0, 0, 0], [1, 1, 0], [0, 1, 0]],
    [[0, 0, 0], [1, 1, 0], [1, 1, 0]],
    [[0, 0, 0], [0, 1, 1], [0, 1, 0]],
], dtype=bool)
_DIRECTIONS = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], dtype=np.int64)
# Default probability of a displacement-greedy step, used for rooms with at least this many
# interior cells (on 7x7 rooms uniform walks already match gym-sokoban's difficulty).
GREEDY = 0.6
GREEDY_MIN_INTERIOR = 49
# Reverse-play actions 0-3 pull up/down/left/right, 4-7 move (gym-sokoban's reverse_move).
_CHANGE = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]], dtype=np.int64)


def check_request(dim_room, num_boxes: int) -> tuple[int, int]:
    """Validate a generation request; raise ValueError for impossible ones."""
    try:
        h, w = (int(x) for x in dim_room)
    except (TypeError, ValueError):
        raise ValueError(f"dim_room must be a pair of ints, got {dim_room!r}") from None
    if h < 4 or w < 4:
        raise ValueError(f"dim_room must be at least (4, 4) (walls on the border), got {(h, w)}")
    if int(num_boxes) != num_boxes or num_boxes < 1:
        raise ValueError(f"num_boxes must be a positive int, got {num_boxes!r}")
    interior = (h - 2) * (w - 2)
    if num_boxes + 2 > interior:
        raise ValueError(f"too many boxes: a {h}x{w} room has {interior} interior cells, which cannot "
                         f"hold the player, {num_boxes} boxes and a free cell (need num_boxes <= "
                         f"{interior - 2})")
    return h, w


def check_feasible(dim_room, num_boxes: int, probe_rounds: int = 64, **generator_kwargs) -> None:
    """Raise ValueError, in about a second at worst, if such levels are (practically) impossible.

    :func:`check_request` rejects rooms that cannot hold the boxes at all; this also rejects
    settings whose levels the generator almost never finds (e.g. 8 boxes in a 10x10 room, where
    it would fail only after :func:`generate_levels`' ``max_rounds``): it generates one level with
    a fixed seed in ``probe_rounds`` rounds of 8 candidate rooms. Results are cached.
    """
    h, w = check_request(dim_room, num_boxes)
    kwargs = tuple(sorted((k, v) for k, v in generator_kwargs.items() if k != "max_rounds"))
    _probe(h, w, int(num_boxes), int(probe_rounds), kwargs)


@functools.lru_cache(maxsize=128)
def _probe(h: int, w: int, num_boxes: int, probe_rounds: int, kwargs: tuple) -> None:
    try:
        generate_levels(1, (h, w), num_boxes, seed=0, max_rounds=probe_rounds, **dict(kwargs))
    except RuntimeError:
        raise ValueError(f"cannot generate {h}x{w} levels with {num_boxes} boxes: the generator found "
                         f"none in {8 * probe_rounds} random rooms, so such levels are too rare to "
                         f"train on; use fewer boxes or a bigger room") from None


def random_topology(rng: np.random.Generator, n: int, dim_room, num_gen_steps: int | None = None,
                    p_change_directions: float = 0.35) -> np.ndarray:
    """``n`` random-walk room topologies ``bool (n, H, W)`` (True = floor), gym-sokoban's procedure."""
    h, w = dim_room
    steps = int(1.7 * (h + w)) if num_gen_steps is None else int(num_gen_steps)
    level = np.zeros((n, h, w), bool)
    direction = _DIRECTIONS[rng.integers(0, 4, n)]
    pos = np.stack([rng.integers(1, h, n), rng.integers(1, w, n)], axis=1)
    rows = np.arange(n)[:, None, None]
    off = np.arange(-1, 2)
    for _ in range(steps):
        change = rng.random(n) < p_change_directions
        direction = np.where(change[:, None], _DIRECTIONS[rng.integers(0, 4, n)], direction)
        pos = pos + direction
        pos[:, 0] = np.clip(pos[:, 0], 1, h - 2)
        pos[:, 1] = np.clip(pos[:, 1], 1, w - 2)
        mask = _MASKS[rng.integers(0, len(_MASKS), n)]
        rr = (pos[:, 0, None] + off)[:, :, None]
        cc = (pos[:, 1, None] + off)[:, None, :]
        level[rows, rr, cc] |= mask
    level[:, :, [0, w - 1]] = False
    level[:, [0, h - 1], :] = False
    return level


def _reverse_play(rng, walls, targets, player, width, num_walkers, walk_length, pull_prob=1.0,
                  greedy=0.0):
    """Random reverse-play walks of all levels at once; best (score, boxes, player) per level.

    ``walls``: bool (B, H*W); ``targets``: flat (B, nb), box i starts on target i; ``player``: (B,).
    Each step a walker picks a direction; it moves there if the cell is free, pulling the box behind
    it (with probability ``pull_prob``, gym-sokoban's pull vs move action). With probability
    ``greedy`` the direction is the free one whose pull takes a box furthest from its target
    (random tie-break) instead of a uniform one. Displacement and the number of boxes on targets
    are updated incrementally.
    """
    b, hw = walls.shape
    nb = targets.shape[1]
    m = b * num_walkers
    lvl = np.repeat(np.arange(b), num_walkers)
    wall_m = walls[lvl]
    is_target = np.zeros((b, hw), bool)
    is_target[np.arange(b)[:, None], targets] = True
    is_target_m = is_target[lvl]
    boxes = np.repeat(targets, num_walkers, axis=0)
    ar = np.arange(m)
    bid = np.full((m, hw), -1, np.int8)  # box index per cell, -1 = no box
    bid[ar[:, None], boxes] = np.arange(nb, dtype=np.int8)
    tr, tc = np.divmod(boxes, width)
    p = np.repeat(player, num_walkers)
    pulls = np.zeros(m, np.int64)
    disp = np.zeros(m, np.int64)
    on_target = np.full(m, nb, np.int64)
    best_score = np.zeros(m, np.int64)
    best_boxes = boxes.copy()
    best_p = p.copy()
    delta_tab = _CHANGE[:, 0] * width + _CHANGE[:, 1]
    for _ in range(walk_length):
        direction = rng.integers(0, 4, m)
        if greedy > 0:
            g = np.nonzero(rng.random(m) < greedy)[0]
            pg = p[g]
            cand = pg[:, None] + delta_tab
            back = pg[:, None] - delta_tab
            ok = ~wall_m[g[:, None], cand] & (bid[g[:, None], cand] < 0)
            j = bid[g[:, None], back].astype(np.int64)
            has = j >= 0
            j = np.maximum(j, 0)
            t_r, t_c = tr[g[:, None], j], tc[g[:, None], j]
            pr, pc = np.divmod(pg, width)
            br_, bc_ = np.divmod(back, width)
            gain = (np.abs(pr[:, None] - t_r) + np.abs(pc[:, None] - t_c)
                    - np.abs(br_ - t_r) - np.abs(bc_ - t_c)) * has
            key = np.where(ok, gain + rng.random(gain.shape) * 0.5, -np.inf)
            direction[g] = key.argmax(axis=1)
        delta = delta_tab[direction]
        nxt = p + delta
        free = ~wall_m[ar, nxt] & (bid[ar, nxt] < 0)
        behind = p - delta
        pull = free & (bid[ar, behind] >= 0)
        if pull_prob < 1.0:
            pull &= rng.random(m) < pull_prob
        pi = np.nonzero(pull)[0]
        if pi.size:
            src, dst = behind[pi], p[pi]
            j = bid[pi, src].astype(np.int64)
            bid[pi, src] = -1
            bid[pi, dst] = j
            boxes[pi, j] = dst
            r0, c0 = np.divmod(src, width)
            r1, c1 = np.divmod(dst, width)
            t_r, t_c = tr[pi, j], tc[pi, j]
            disp[pi] += (np.abs(r1 - t_r) + np.abs(c1 - t_c)) - (np.abs(r0 - t_r) + np.abs(c0 - t_c))
            on_target[pi] += is_target_m[pi, dst].astype(np.int64) - is_target_m[pi, src]
            pulls[pi] += 1
        p = np.where(free, nxt, p)
        score = pulls * disp * ((on_target == 0) & ~is_target_m[ar, p])
        better = np.nonzero(score > best_score)[0]
        if better.size:
            best_score[better] = score[better]
            best_boxes[better] = boxes[better]
            best_p[better] = p[better]
    s = best_score.reshape(b, num_walkers)
    k = s.argmax(axis=1)
    sel = np.arange(b) * num_walkers + k
    return s[np.arange(b), k], best_boxes[sel], best_p[sel]


def generate_levels(n: int, dim_room=(10, 10), num_boxes: int = 4, *, seed=None, rng=None,
                    num_gen_steps: int | None = None, num_walkers: int = 32, walk_length: int = 300,
                    pull_prob: float = 1.0, greedy: float | None = None, max_rounds: int = 1000,
                    return_scores: bool = False):
    """Generate ``n`` solvable levels ``(room_fixed, room_state)``, each ``uint8 (n, H, W)``.

    ``room_fixed`` holds walls/floor/targets, ``room_state`` adds boxes (4) and the player (5) like
    gym-sokoban's ``generate_room``. No box starts on a target and the player does not start on a
    target. Reproducible given ``seed`` (or a ``numpy.random.Generator`` ``rng``). Search knobs:
    ``num_walkers``, ``walk_length``, ``pull_prob``, ``greedy`` (see the module docstring).
    """
    h, w = check_request(dim_room, num_boxes)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if num_walkers < 1 or walk_length < 1:
        raise ValueError("num_walkers and walk_length must be >= 1")
    if rng is None:
        rng = np.random.default_rng(seed)
    if greedy is None:
        greedy = GREEDY if (h - 2) * (w - 2) >= GREEDY_MIN_INTERIOR else 0.0
    if not 0.0 <= greedy <= 1.0 or not 0.0 <= pull_prob <= 1.0:
        raise ValueError(f"greedy and pull_prob must be in [0, 1], got {greedy}, {pull_prob}")
    out_fixed, out_state, out_score = [], [], []
    have = 0
    rounds = 0
    while have < n:
        rounds += 1
        if rounds > max_rounds:
            raise RuntimeError(f"could not generate {n} levels of size {(h, w)} with {num_boxes} boxes "
                               f"in {max_rounds} rounds (only {have}); the random-walk topology rarely "
                               "leaves enough room: use fewer boxes or more num_gen_steps")
        need = n - have
        batch = max(8, int(need * 1.3) + 2)
        floor = random_topology(rng, batch, (h, w), num_gen_steps)
        flat_floor = floor.reshape(batch, -1)
        ok = flat_floor.sum(axis=1) > num_boxes + 1
        if not ok.any():
            continue
        flat_floor = flat_floor[ok]
        batch = flat_floor.shape[0]
        keys = rng.random(flat_floor.shape)
        keys[~flat_floor] = 2.0
        order = np.argsort(keys, axis=1)
        player = order[:, 0]
        targets = order[:, 1:1 + num_boxes]
        score, boxes, pl = _reverse_play(rng, ~flat_floor, targets, player, w, num_walkers,
                                         walk_length, pull_prob, greedy)
        good = np.nonzero(score > 0)[0][:need]
        if good.size == 0:
            continue
        fixed = np.where(flat_floor[good], FLOOR, WALL).astype(np.uint8)
        rows = np.arange(good.size)[:, None]
        fixed[rows, targets[good]] = TARGET
        state = fixed.copy()
        state[rows, boxes[good]] = BOX
        state[np.arange(good.size), pl[good]] = PLAYER
        out_fixed.append(fixed.reshape(-1, h, w))
        out_state.append(state.reshape(-1, h, w))
        out_score.append(score[good])
        have += good.size
    if n == 0:
        empty = np.zeros((0, h, w), np.uint8)
        return (empty, empty.copy(), np.zeros(0, np.int64)) if return_scores else (empty, empty.copy())
    fixed = np.concatenate(out_fixed)[:n]
    state = np.concatenate(out_state)[:n]
    if return_scores:
        return fixed, state, np.concatenate(out_score)[:n]
    return fixed, state
