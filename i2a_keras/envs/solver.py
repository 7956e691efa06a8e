"""Small Sokoban solver: breadth-first search over pushes (for difficulty checks and tests).

States are (box positions, the player's reachable region), so the search finds the minimum number
of *pushes*; cells from which a box can never reach a target (dead squares) are pruned. The returned
action sequence (compact action ids 1-4 = up/down/left/right, which are also gym-sokoban's push
actions) walks the player between pushes along shortest paths, so it is valid but not move-optimal.
Used to compare level difficulty (Weber et al. 2017 report that unsolvable/hard levels matter for
the Sokoban results, Sec. 4.1 and Appendix).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from .core import BOX, BOX_ON_TARGET, PLAYER, TARGET, WALL, validate_levels

# compact action ids 1-4 -> (drow, dcol): up, down, left, right
_DIRS = ((-1, 0), (1, 0), (0, -1), (0, 1))


@dataclass
class SolveResult:
    """``status``: "solved", "unsolvable" (search space exhausted) or "limit" (max_states hit)."""

    status: str
    pushes: int | None = None
    actions: list[int] | None = None
    explored: int = 0

    @property
    def solved(self) -> bool:
        return self.status == "solved"


def _reach(start, walls, boxes, deltas, parents=False):
    seen = {start: None} if parents else {start}
    queue = deque([start])
    while queue:
        c = queue.popleft()
        for d in deltas:
            x = c + d
            if x not in walls and x not in boxes and x not in seen:
                if parents:
                    seen[x] = c
                else:
                    seen.add(x)
                queue.append(x)
    return seen


def _walk(start, goal, walls, boxes, deltas):
    """Compact actions that walk from start to goal without pushing (shortest path)."""
    par = _reach(start, walls, boxes, deltas, parents=True)
    if goal not in par:
        raise RuntimeError("internal solver error: push position unreachable")
    path = []
    c = goal
    while c != start:
        p = par[c]
        path.append(deltas.index(c - p) + 1)
        c = p
    return path[::-1]


def solve(room_fixed, room_state, max_states: int = 200_000) -> SolveResult:
    """Minimum-push solution of a level ``(room_fixed, room_state)`` (gym-sokoban codes)."""
    fixed = np.asarray(room_fixed)
    state = np.asarray(room_state)
    validate_levels(fixed, state, what="solver level")
    h, w = fixed.shape
    deltas = [dr * w + dc for dr, dc in _DIRS]
    flat_f = fixed.reshape(-1)
    flat_s = state.reshape(-1)
    walls = frozenset(np.nonzero(flat_f == WALL)[0].tolist())
    targets = frozenset(np.nonzero(flat_f == TARGET)[0].tolist())
    boxes0 = frozenset(np.nonzero((flat_s == BOX) | (flat_s == BOX_ON_TARGET))[0].tolist())
    player0 = int(np.nonzero(flat_s == PLAYER)[0][0])
    # Live cells: a box there can still be pushed onto some target (reverse reachability).
    live = set(targets)
    queue = deque(targets)
    while queue:
        c = queue.popleft()
        for d in deltas:
            x = c - d
            if x not in walls and x - d not in walls and x not in live:
                live.add(x)
                queue.append(x)
    if not boxes0 <= live:
        return SolveResult("unsolvable", explored=0)
    if boxes0 == targets:
        return SolveResult("solved", 0, [], 0)
    reach0 = _reach(player0, walls, boxes0, deltas)
    key0 = (boxes0, min(reach0))
    parent = {key0: None}
    queue = deque([(boxes0, reach0, key0)])
    explored = 0
    while queue:
        boxes, reach, key = queue.popleft()
        explored += 1
        if explored > max_states:
            return SolveResult("limit", explored=explored)
        for b in boxes:
            for d in deltas:
                nb = b + d
                if (b - d) not in reach or nb in walls or nb in boxes or nb not in live:
                    continue
                new_boxes = (boxes - {b}) | {nb}
                new_reach = _reach(b, walls, new_boxes, deltas)
                new_key = (new_boxes, min(new_reach))
                if new_key in parent:
                    continue
                parent[new_key] = (key, b, d)
                if new_boxes == targets:
                    return _reconstruct(parent, new_key, player0, walls, deltas, explored)
                queue.append((new_boxes, new_reach, new_key))
    return SolveResult("unsolvable", explored=explored)


def _reconstruct(parent, key, player0, walls, deltas, explored):
    pushes = []
    while parent[key] is not None:
        prev, b, d = parent[key]
        pushes.append((prev[0], b, d))
        key = prev
    pushes.reverse()
    actions, player = [], player0
    for boxes, b, d in pushes:
        actions += _walk(player, b - d, walls, boxes, deltas)
        actions.append(deltas.index(d) + 1)
        player = b
    return SolveResult("solved", len(pushes), actions, explored)
