"""Batched numpy Sokoban rules, identical to gym-sokoban 0.0.6 (Weber et al. 2017, Sec. 4.1).

The paper's Sokoban environment is gym-sokoban's (Schrader, 2018). This module re-implements its
``SokobanEnv.step`` for a whole batch of rooms at once with numpy fancy indexing (no Python loop
over environments), including its quirks:

* ``room_state`` stores the player as ``PLAYER`` (5) even when it stands on a target; the code
  ``PLAYER_ON_TARGET`` (6) only appears in rendered/observed rooms (see :func:`state_to_rooms`).
* A push action (1-4) pushes when a box is ahead and the cell behind it is floor or an empty target,
  otherwise it behaves like the move action in that direction. A move action (5-8) never pushes.
* Reward per step: -0.1; +1 when the number of boxes on targets went up, -1 when it went down; +10
  when every target is covered. "Boxes on target" is counted as gym-sokoban does:
  ``num_boxes - #(empty targets + targets under the player)``, and the counter starts at 0 on reset
  (so a level that starts with boxes on targets pays +1 on its first step, as in gym-sokoban).
* The episode ends when all boxes are on targets (terminated) or after ``max_steps`` steps
  (truncated; gym-sokoban's single ``done`` flag is split the gymnasium way).

Rooms must be surrounded by walls (all generated and Boxoban levels are): then gym-sokoban's
out-of-grid push check can never trigger, and this implementation never indexes outside the grid.

Action sets:

* ``"gym_sokoban"`` (9 actions): 0 no-op, 1-4 push up/down/left/right, 5-8 move up/down/left/right.
* ``"compact"`` (5 actions): 0 no-op, 1-4 up/down/left/right; each is gym-sokoban's push action in
  that direction, i.e. a move that pushes when a box is ahead.
* ``"moves"`` (4 actions): 0-3 up/down/left/right, the compact set without its no-op (a no-op
  only wastes a step and its -0.1). Boxoban agents (e.g. the learned-planner ResNet/DRC anchors)
  use these four; for the I2A it also means 4 imagined rollouts per step instead of 5.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WALL, FLOOR, TARGET, BOX_ON_TARGET, BOX, PLAYER, PLAYER_ON_TARGET = range(7)
NUM_TILE_TYPES = 7
TILE_NAMES = ("wall", "floor", "target", "box_on_target", "box", "player", "player_on_target")

ACTION_SETS = ("gym_sokoban", "compact", "moves")
GYM_SOKOBAN_ACTIONS = (
    "no operation", "push up", "push down", "push left", "push right",
    "move up", "move down", "move left", "move right",
)
COMPACT_ACTIONS = ("no operation", "up", "down", "left", "right")
MOVES_ACTIONS = COMPACT_ACTIONS[1:]
_NUM_ACTIONS = {"gym_sokoban": 9, "compact": 5, "moves": 4}
_ACTION_NAMES = {"gym_sokoban": GYM_SOKOBAN_ACTIONS, "compact": COMPACT_ACTIONS, "moves": MOVES_ACTIONS}
# Row/column change of directions 0-3 (up, down, left, right), as gym-sokoban's CHANGE_COORDINATES.
CHANGE_COORDINATES = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]], dtype=np.int64)

STEP_PENALTY = -0.1
REWARD_BOX_ON_TARGET = 1.0
PENALTY_BOX_OFF_TARGET = -1.0
REWARD_FINISHED = 10.0


def num_actions(action_set: str) -> int:
    """Number of discrete actions of ``action_set`` (9 gym_sokoban, 5 compact, 4 moves)."""
    if action_set in _NUM_ACTIONS:
        return _NUM_ACTIONS[action_set]
    raise ValueError(f"action_set must be one of {ACTION_SETS}, got {action_set!r}")


def action_names(action_set: str) -> tuple[str, ...]:
    """Human-readable action names of ``action_set``."""
    num_actions(action_set)
    return _ACTION_NAMES[action_set]


def to_gym_actions(actions, action_set: str) -> np.ndarray:
    """Map actions of ``action_set`` to gym-sokoban action ids (compact 1-4 and moves 0-3 -> push 1-4)."""
    a = np.asarray(actions)
    n = num_actions(action_set)
    if a.dtype.kind not in "iu":
        if a.dtype.kind == "f" and np.all(a == np.round(a)):
            a = a.astype(np.int64)
        else:
            raise ValueError(f"actions must be integers, got dtype {a.dtype}")
    if a.size and (a.min() < 0 or a.max() >= n):
        raise ValueError(f"actions must be in [0, {n}) for action_set={action_set!r}, got {a}")
    return a.astype(np.int64) + (1 if action_set == "moves" else 0)


def state_to_rooms(room_state: np.ndarray, room_fixed: np.ndarray) -> np.ndarray:
    """Rooms with all 7 tile codes: like ``room_state`` but the player on a target becomes 6."""
    rooms = np.array(room_state, dtype=np.uint8, copy=True)
    rooms[(rooms == PLAYER) & (np.asarray(room_fixed) == TARGET)] = PLAYER_ON_TARGET
    return rooms


def rooms_to_state(rooms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split rooms with codes 0-6 into gym-sokoban's ``(room_fixed, room_state)``."""
    rooms = np.asarray(rooms)
    if rooms.size and (rooms.min() < 0 or rooms.max() >= NUM_TILE_TYPES):
        raise ValueError(f"room codes must be in [0, {NUM_TILE_TYPES}), got range "
                         f"[{rooms.min()}, {rooms.max()}]")
    rooms = rooms.astype(np.uint8)
    fixed = np.full_like(rooms, FLOOR)
    fixed[rooms == WALL] = WALL
    fixed[np.isin(rooms, (TARGET, BOX_ON_TARGET, PLAYER_ON_TARGET))] = TARGET
    state = rooms.copy()
    state[rooms == PLAYER_ON_TARGET] = PLAYER
    return fixed, state


def validate_levels(room_fixed: np.ndarray, room_state: np.ndarray, what: str = "level") -> None:
    """Raise ValueError unless ``(room_fixed, room_state)`` (shape (H, W) or (N, H, W)) is playable.

    Checks: same shape, codes in range, fixed in {wall, floor, target}, exactly one player, as many
    boxes as targets (at least one), walls on the border, state consistent with fixed.
    """
    f = np.asarray(room_fixed)
    s = np.asarray(room_state)
    if f.shape != s.shape or f.ndim not in (2, 3):
        raise ValueError(f"{what}: room_fixed {f.shape} and room_state {s.shape} must have the same "
                         "shape (H, W) or (N, H, W)")
    if f.ndim == 2:
        f, s = f[None], s[None]
    if f.shape[1] < 3 or f.shape[2] < 3:
        raise ValueError(f"{what}: rooms must be at least 3x3, got {f.shape[1:]}")
    if f.size and (f.min() < 0 or f.max() > TARGET):
        raise ValueError(f"{what}: room_fixed may only contain wall/floor/target codes 0, 1, 2")
    if s.size and (s.min() < 0 or s.max() > PLAYER):
        raise ValueError(f"{what}: room_state may only contain codes 0-5 (player is 5, also on a target)")
    # Vectorised over levels; the message names the first failing level.
    n = f.shape[0]

    def fail(bad, message):
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            tag = what if n == 1 else f"{what} {i}"
            raise ValueError(f"{tag}: {message(i)}")

    players = (s == PLAYER).reshape(n, -1).sum(axis=1)
    fail(players != 1, lambda i: f"needs exactly one player, found {players[i]}")
    n_t = (f == TARGET).reshape(n, -1).sum(axis=1)
    n_b = ((s == BOX) | (s == BOX_ON_TARGET)).reshape(n, -1).sum(axis=1)
    fail((n_b == 0) | (n_b != n_t), lambda i: f"needs as many boxes as targets (>= 1), found "
                                             f"{n_b[i]} boxes and {n_t[i]} targets")
    border = np.concatenate([f[:, 0], f[:, -1], f[:, :, 0], f[:, :, -1]], axis=1)
    fail((border != WALL).any(axis=1), lambda i: "the border of the room must be walls")
    fail(((s == WALL) != (f == WALL)).reshape(n, -1).any(axis=1),
         lambda i: "walls of room_state and room_fixed differ")
    bad = (((s == TARGET) | (s == BOX_ON_TARGET)) & (f != TARGET)) | \
        (((s == FLOOR) | (s == BOX)) & (f != FLOOR))
    fail(bad.reshape(n, -1).any(axis=1), lambda i: "room_state is inconsistent with room_fixed targets")


def uncovered_targets(room_state: np.ndarray, room_fixed: np.ndarray) -> np.ndarray:
    """Targets without a box (empty or under the player) per room; gym-sokoban's box count is
    ``num_boxes - uncovered`` and its win check ``uncovered == 0``."""
    uncovered = (room_state == TARGET) | ((room_fixed == TARGET) & (room_state == PLAYER))
    return uncovered.reshape(uncovered.shape[0], -1).sum(axis=1)


def apply_actions(room_state: np.ndarray, room_fixed: np.ndarray, player_pos: np.ndarray,
                  gym_actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply gym-sokoban actions (0-8) to a batch of rooms in place.

    ``room_state``/``room_fixed``: ``uint8 (N, H, W)``; ``player_pos``: ``int (N, 2)`` (updated);
    ``gym_actions``: ``int (N,)``. Returns ``(moved_player, moved_box)`` bool arrays.
    """
    moved, push, _, _, _ = _apply_actions(room_state, room_fixed, player_pos, gym_actions)
    return moved, push


def _apply_actions(room_state, room_fixed, player_pos, a):
    """:func:`apply_actions` also returning the flat cells ``(cur, nxt, beyond)`` per room."""
    n, h, w = room_state.shape
    flat = room_state.reshape(n, h * w)
    fixed_flat = room_fixed.reshape(n, h * w)
    rows = np.arange(n)
    d = CHANGE_COORDINATES[(a - 1) % 4]
    delta = d[:, 0] * w + d[:, 1]
    cur = player_pos[:, 0] * w + player_pos[:, 1]
    nxt = cur + delta
    # The cell two ahead; clipped only when the cell ahead is a border wall (then no push anyway).
    beyond = np.clip(nxt + delta, 0, h * w - 1)
    t1 = flat[rows, nxt]
    t2 = flat[rows, beyond]
    is_push = (a >= 1) & (a <= 4)
    free1 = (t1 == FLOOR) | (t1 == TARGET)
    push = is_push & ((t1 == BOX) | (t1 == BOX_ON_TARGET)) & ((t2 == FLOOR) | (t2 == TARGET))
    moved = push | ((a >= 1) & free1)
    idx = np.nonzero(moved)[0]
    if idx.size:
        flat[idx, cur[idx]] = fixed_flat[idx, cur[idx]]
        flat[idx, nxt[idx]] = PLAYER
        player_pos[idx] += d[idx]
    pidx = np.nonzero(push)[0]
    if pidx.size:
        b = beyond[pidx]
        flat[pidx, b] = np.where(fixed_flat[pidx, b] == TARGET, BOX_ON_TARGET, BOX).astype(np.uint8)
    return moved, push, cur, nxt, beyond


@dataclass(frozen=True)
class RoomState:
    """Snapshot of one room of a :class:`SokobanBatch`: everything ``step`` reads and writes.

    ``get_state(i)``/``set_state(i, state)`` clone and restore a room exactly (tree search with a
    perfect model, Weber et al. 2017 Sec. 4.3). :attr:`key` identifies the position (player and
    box cells), the transposition-table key; step counters are not part of it.
    """

    room_fixed: np.ndarray
    room_state: np.ndarray
    player_pos: tuple[int, int]
    num_boxes: int
    boxes_on_target: int
    num_env_steps: int
    uncovered: int

    @property
    def key(self) -> tuple[int, bytes]:
        """``(player cell, box cells)`` as flat indices: equal keys, equal positions."""
        flat = self.room_state.reshape(-1)
        boxes = np.flatnonzero((flat == BOX) | (flat == BOX_ON_TARGET)).astype(np.int32)
        return self.player_pos[0] * self.room_state.shape[1] + self.player_pos[1], boxes.tobytes()


class SokobanBatch:
    """State of N Sokoban rooms stepped together with gym-sokoban's rules and rewards.

    All rooms share one shape (H, W). ``load(idx, fixed, state)`` (re)starts episodes of the rooms
    ``idx``; ``step(actions)`` advances every room by one step; ``get_state(i)``/``set_state(i,
    s)`` clone and restore room ``i`` (:class:`RoomState`).
    """

    def __init__(self, num_envs: int, dim_room: tuple[int, int], max_steps: int = 120,
                 action_set: str = "gym_sokoban"):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        num_actions(action_set)
        h, w = dim_room
        self.num_envs, self.dim_room = num_envs, (int(h), int(w))
        self.max_steps, self.action_set = int(max_steps), action_set
        self.room_state = np.zeros((num_envs, h, w), np.uint8)
        self.room_fixed = np.zeros((num_envs, h, w), np.uint8)
        self.player_pos = np.zeros((num_envs, 2), np.int64)
        self.num_boxes = np.zeros(num_envs, np.int64)
        self.boxes_on_target = np.zeros(num_envs, np.int64)
        self.num_env_steps = np.zeros(num_envs, np.int64)
        self.uncovered = np.zeros(num_envs, np.int64)  # targets without a box (incl. under player)
        self.loaded = np.zeros(num_envs, bool)
        # flat cells touched by the last step: (cur, nxt, beyond) and masks (moved, pushed)
        self.last_cells = None

    def load(self, idx, room_fixed: np.ndarray, room_state: np.ndarray) -> None:
        """Start new episodes in rooms ``idx`` from levels ``(k, H, W)`` (counters as gym's reset)."""
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        room_fixed = np.asarray(room_fixed, np.uint8).reshape(len(idx), *self.dim_room)
        room_state = np.asarray(room_state, np.uint8).reshape(len(idx), *self.dim_room)
        self.room_fixed[idx] = room_fixed
        self.room_state[idx] = room_state
        flat = (room_state.reshape(len(idx), -1) == PLAYER).argmax(axis=1)
        self.player_pos[idx, 0], self.player_pos[idx, 1] = np.divmod(flat, self.dim_room[1])
        self.num_boxes[idx] = (room_fixed == TARGET).reshape(len(idx), -1).sum(axis=1)
        self.uncovered[idx] = uncovered_targets(room_state, room_fixed)
        self.boxes_on_target[idx] = 0
        self.num_env_steps[idx] = 0
        self.loaded[idx] = True

    def get_state(self, i: int) -> RoomState:
        """A copy of room ``i``'s full state (restored bit for bit by :meth:`set_state`)."""
        if not self.loaded[i]:
            raise RuntimeError(f"room {i} has no level: call load() first")
        return RoomState(self.room_fixed[i].copy(), self.room_state[i].copy(),
                         (int(self.player_pos[i, 0]), int(self.player_pos[i, 1])),
                         int(self.num_boxes[i]), int(self.boxes_on_target[i]),
                         int(self.num_env_steps[i]), int(self.uncovered[i]))

    def set_state(self, i: int, state: RoomState) -> None:
        """Put room ``i`` into ``state`` (from :meth:`get_state` of any batch of the same shape)."""
        if state.room_state.shape != self.dim_room:
            raise ValueError(f"state of a {state.room_state.shape} room, batch rooms are {self.dim_room}")
        self.room_fixed[i] = state.room_fixed
        self.room_state[i] = state.room_state
        self.player_pos[i] = state.player_pos
        self.num_boxes[i] = state.num_boxes
        self.boxes_on_target[i] = state.boxes_on_target
        self.num_env_steps[i] = state.num_env_steps
        self.uncovered[i] = state.uncovered
        self.loaded[i] = True

    def step(self, actions) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One step of every room. Returns ``(reward f64, solved, truncated, moved_player, moved_box)``."""
        if not self.loaded.all():
            raise RuntimeError("every room needs a level: call load()/reset() before step()")
        a = to_gym_actions(actions, self.action_set).reshape(-1)
        if a.shape[0] != self.num_envs:
            raise ValueError(f"expected {self.num_envs} actions, got {a.shape[0]}")
        self.num_env_steps += 1
        moved, pushed, cur, nxt, beyond = _apply_actions(self.room_state, self.room_fixed,
                                                         self.player_pos, a)
        self.last_cells = (moved, pushed, cur, nxt, beyond)
        pidx = np.nonzero(pushed)[0]
        if pidx.size:
            # A push uncovers the target the box left (the player now stands there) and covers the
            # target it lands on; player moves alone never change the count.
            fixed_flat = self.room_fixed.reshape(self.num_envs, -1)
            self.uncovered[pidx] += (fixed_flat[pidx, nxt[pidx]] == TARGET).astype(np.int64) \
                - (fixed_flat[pidx, beyond[pidx]] == TARGET)
        count = self.num_boxes - self.uncovered
        solved = self.uncovered == 0
        reward = np.full(self.num_envs, STEP_PENALTY, np.float64)
        reward += np.where(count > self.boxes_on_target, REWARD_BOX_ON_TARGET, 0.0)
        reward += np.where(count < self.boxes_on_target, PENALTY_BOX_OFF_TARGET, 0.0)
        reward += np.where(solved, REWARD_FINISHED, 0.0)
        self.boxes_on_target = count
        truncated = (self.num_env_steps >= self.max_steps) & ~solved
        return reward, solved, truncated, moved, pushed

    def rooms(self) -> np.ndarray:
        """Current rooms with codes 0-6 (player on target = 6), ``uint8 (N, H, W)``."""
        return state_to_rooms(self.room_state, self.room_fixed)
