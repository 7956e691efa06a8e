"""A scripted MiniPacman player that reaches the rare events, for environment-model data (Sec. 5).

The environment model of Sec. 5 must predict every event of every task, but a uniform-random
player almost never eats a ghost (29 of 250,000 transitions here) and early agents do not either,
so an env model trained on their play cannot show an I2A on *hunt* or *ambush* what eating a ghost
looks like. This player reads only the observation (the 15x19 RGB frame) and follows the maze's
shortest paths:

1. while the ghosts are edible (their colour shows power left), to the nearest ghost;
2. otherwise, if a ghost is within ``danger`` steps, the move that keeps the nearest ghost farthest;
3. otherwise to the nearest power pill, and with both pills gone to the nearest food.

It is a data-collection policy (``collect --policy scripted``), mixed with uniform-random actions
by ``epsilon``; it is not a baseline.
"""
from __future__ import annotations

import numpy as np

from .minipacman_core import (FOOD, FREE, GHOST, HEIGHT, MOVES, NUM_ACTIONS, NUM_CELLS, PACMAN,
                              PALETTE_FLOAT, PALETTE_UINT8, PILL, WIDTH)

__all__ = ["ScriptedPlayer", "maze_distances", "frame_cells"]


def maze_distances() -> tuple[np.ndarray, np.ndarray]:
    """``(dist, first_move)`` over the flat cells: ``dist[a, b]`` the number of moves from ``a`` to
    ``b`` (a large number for walls), ``first_move[a, b]`` an action that starts a shortest path
    (0, stay, when ``a == b``)."""
    far = NUM_CELLS + 1
    dist = np.full((NUM_CELLS, NUM_CELLS), far, np.int64)
    for src in np.flatnonzero(FREE):  # one breadth-first search per free cell
        dist[src, src] = 0
        frontier, d = [src], 0
        while frontier:
            d += 1
            nxt = np.unique(MOVES[frontier, 1:].reshape(-1))
            nxt = nxt[dist[src, nxt] == far]
            dist[src, nxt] = d
            frontier = nxt.tolist()
    # first_move[a, b]: the first action (1-4) whose cell is one step closer to b.
    closer = dist[MOVES[:, 1:], :] == dist[:, None, :] - 1  # (cell, action - 1, target)
    first_move = np.where(closer.any(axis=1), closer.argmax(axis=1) + 1, 0)
    return dist, first_move


def frame_cells(obs: np.ndarray) -> np.ndarray:
    """Cell classes ``(N, 15, 19)`` of MiniPacman frames ``(N, 15, 19, 3)`` (uint8 or float in [0,
    1]); ValueError for a colour that is not in the palette."""
    obs = np.asarray(obs)
    if obs.ndim != 4 or obs.shape[1:] != (HEIGHT, WIDTH, 3):
        raise ValueError(f"MiniPacman frames must be (N, {HEIGHT}, {WIDTH}, 3), got {obs.shape}")
    palette = PALETTE_UINT8 if obs.dtype == np.uint8 else PALETTE_FLOAT
    match = np.all(obs[..., None, :] == palette, axis=-1)  # (N, H, W, classes)
    if not match.any(axis=-1).all():
        raise ValueError("a MiniPacman frame holds a colour that is not in the palette")
    return match.argmax(axis=-1).astype(np.uint8)


class ScriptedPlayer:
    """Batched scripted player: ``player(obs)`` returns one action per frame.

    Args:
        epsilon: probability of a uniform-random action instead of the scripted one.
        danger: flee when an unedible ghost is this many moves away or closer.
        rng: numpy generator for the random actions.
    """

    def __init__(self, epsilon: float = 0.0, danger: int = 2, rng: np.random.Generator | None = None):
        if not 0.0 <= float(epsilon) <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        if int(danger) < 0:
            raise ValueError(f"danger must be >= 0, got {danger}")
        self.epsilon, self.danger = float(epsilon), int(danger)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.dist, self.first_move = maze_distances()

    def _nearest(self, pacman: int, cells: np.ndarray) -> int:
        return int(cells[np.argmin(self.dist[pacman, cells])])

    def _act(self, cells: np.ndarray) -> int:
        pacman = int(np.flatnonzero(cells == PACMAN)[0])
        ghosts = np.flatnonzero(cells >= GHOST)
        edible = ghosts.size > 0 and int(cells[ghosts[0]]) > GHOST  # colour GHOST + power left
        if edible:
            return int(self.first_move[pacman, self._nearest(pacman, ghosts)])
        if ghosts.size and self.dist[pacman, ghosts].min() <= self.danger:
            after = MOVES[pacman]  # cell after each action
            return int(np.argmax(self.dist[after][:, ghosts].min(axis=1)))
        for kind in (PILL, FOOD):
            targets = np.flatnonzero(cells == kind)
            if targets.size:
                return int(self.first_move[pacman, self._nearest(pacman, targets)])
        return 0

    def act_on_cells(self, cells: np.ndarray) -> np.ndarray:
        """Actions for frames already decoded to cell classes ``(N, 15, 19)`` (see
        :func:`frame_cells`; data collection decodes its frames once and passes them here)."""
        cells = np.asarray(cells).reshape(len(cells), -1)
        actions = np.array([self._act(c) for c in cells], np.int64)
        explore = self.rng.uniform(size=len(cells)) < self.epsilon
        return np.where(explore, self.rng.integers(0, NUM_ACTIONS, len(cells)), actions)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.act_on_cells(frame_cells(obs))
