"""Batched numpy MiniPacman rules (Weber et al. 2017, Sec. 5 and its appendix).

The rules are those of DeepMind's released ``PillEater`` (the NIPS 2017 I2A workshop colab by
S. Racaniere; higgsfield/Imagination-Augmented-Agents ``common/deepmind.py`` carries a copy),
re-implemented here for a whole batch of games at once:

* The 15x19 maze ``STANDARD_MAP`` (138 free cells). Actions 0-4: stay, right, up, left, down;
  a move into a wall leaves Pacman in place.
* A level fills every free cell with food and places 2 power pills, Pacman and
  ``1 + (level - 1) // 2`` ghosts uniformly at random on free cells (pills may share a cell). Ghosts
  start outside the 10x10 box of rows ``[max(r - 5, 1), min(r + 5, 15))`` and columns
  ``[max(c - 5, 1), min(c + 5, 19))`` around Pacman's cell ``(r, c)``.
* A step: the power counter drops by one (to 0 at least); Pacman moves and eats the food on his
  cell, then the first power pill there (power = 20, so the ghosts are edible on this step and the
  19 following ones). Then each ghost in turn: if it is on Pacman's cell, Pacman dies (unpowered)
  or eats it (powered); then it moves one cell with probability ``speed = 0.5 + 0.1 (level - 1)``
  (halved while powered; from level 6 on, unpowered, every step) and the same check follows its
  move. Eating a ghost ends the ghost loop
  (the ghosts after it do not move this step); a death does not, so a step can count several deaths.
* A ghost's move: with one exit it takes it; with two it keeps its direction, or else takes the exit
  that does not reverse it; at a junction (3-4 exits) it never reverses and takes the exit whose
  direction is closest to the direction of Pacman (unpowered; with probability 0.05 a uniformly
  random exit instead) or farthest from it (powered). Ties go to the first exit in the order
  right, up, left, down.
* The reference stores ghost directions as action + 1 (2-5 = right, up, left, down) but draws a new
  ghost's direction from {0, 1, 2, 3}. Copied here: 0 and 1 match no exit and their reverses are
  right and up (as if heading left and down); a ghost on Pacman's cell at a junction keeps its
  stored direction, and moves down with 0, stays with 1.
* Events per step, ``EVENTS``: (step, food, power pill, ghost eaten, killed) counts. A task's
  reward is ``events . TASKS[task].weights`` (the reference adds the same terms in this order).
* A new level (``level + 1``: more and faster ghosts, fresh food and pills, power 0) starts when the
  task's ``clear`` condition holds: all food eaten (regular, avoid), both pills eaten (rush; the
  pill's power is lost), all ghosts eaten (hunt, ambush); avoid also starts one every 128 steps of a
  level. A food or pill clear happens inside Pacman's move, so the ghosts of the new level move
  in the same step. The reference starts the 128-step level after drawing the frame; here it
  starts at the beginning of the next step (``pending_level``), which gives the same frames.
* The episode ends on a death (``terminated``, in every task, even where death costs nothing) or
  after ``max_steps`` steps (``truncated``; the reference's ``frame_cap``, default 3000).

Ghost randomness comes from per-step noise ``(N, G, 3)`` uniforms per ghost slot (move, random
choice, random exit): :meth:`MiniPacmanBatch.step` draws it or takes it as an argument, so tests
can force ghost moves. Level layouts come from :meth:`MiniPacmanBatch.draw_level`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STANDARD_MAP = np.array([
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    [1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1],
    [1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1],
    [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    [1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1],
    [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1],
    [1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1],
    [1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1],
    [1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1],
    [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1],
    [1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1],
    [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    [1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1],
    [1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1],
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]], dtype=np.uint8)
HEIGHT, WIDTH = STANDARD_MAP.shape
NUM_CELLS = HEIGHT * WIDTH
FREE = (STANDARD_MAP == 0).reshape(-1)
FREE_CELLS = np.flatnonzero(FREE)

ACTIONS = ("stay", "right", "up", "left", "down")
NUM_ACTIONS = 5
_STEPS = np.array([[0, 0], [0, 1], [-1, 0], [0, -1], [1, 0]])


def _move_table() -> np.ndarray:
    """``MOVES[cell, action]``: the flat cell reached from ``cell`` (into a wall: ``cell``)."""
    r, c = np.divmod(np.arange(NUM_CELLS), WIDTH)
    rr = np.clip(r[:, None] + _STEPS[:, 0], 0, HEIGHT - 1)
    cc = np.clip(c[:, None] + _STEPS[:, 1], 0, WIDTH - 1)
    target = rr * WIDTH + cc
    ok = FREE[:, None] & FREE[target]
    return np.where(ok, target, np.arange(NUM_CELLS)[:, None])


MOVES = _move_table()
# Exits of each cell in the reference's direction codes 2-5 (right, up, left, down).
EXITS = MOVES[:, 1:] != np.arange(NUM_CELLS)[:, None]
# The reference's reverse_dir[d - 2] with Python's negative indexing, for codes 0-5.
REVERSE = np.array([2, 3, 4, 5, 2, 3])
# The action a stored direction code moves by (update_2d_pos indexes act_def[d - 1]).
DIRECTION_ACTION = np.array([4, 0, 1, 2, 3, 4])
DIRECTION_CODES = np.arange(2, 6)

PILL_DURATION = 20
NUM_PILLS = 2
RANDOM_MOVE_PROB = 0.05
SAFE_DISTANCE = 5
DEFAULT_MAX_STEPS = 3000

EVENTS = ("step", "food", "pill", "ghost", "killed")


@dataclass(frozen=True)
class Task:
    """A MiniPacman task (Sec. 5): reward weights over ``EVENTS``, the level-clear condition
    (``"food"``, ``"pills"`` or ``"ghosts"``) and, for avoid, a new level every ``level_steps``."""

    weights: tuple[float, float, float, float, float]
    clear: str
    level_steps: int | None = None


TASKS = {
    "regular": Task((0.0, 1.0, 2.0, 5.0, 0.0), "food"),
    "avoid": Task((0.1, -0.1, -5.0, -10.0, -20.0), "food", 128),
    "hunt": Task((0.0, 0.0, 1.0, 10.0, -20.0), "ghosts"),
    "ambush": Task((0.0, -0.1, 0.0, 10.0, -20.0), "ghosts"),
    "rush": Task((0.0, -0.1, 10.0, 0.0, 0.0), "pills"),
}


def get_task(task: str) -> Task:
    """The :class:`Task` called ``task``; ValueError naming the five tasks otherwise."""
    if task not in TASKS:
        raise ValueError(f"unknown MiniPacman task {task!r}; choose from {tuple(TASKS)}")
    return TASKS[task]


def task_rewards(events, task: str) -> np.ndarray:
    """Rewards ``events . weights`` (float64) of event counts ``(..., 5)`` under ``task``."""
    return np.asarray(events, np.float64) @ np.asarray(get_task(task).weights, np.float64)


def num_ghosts(level) -> np.ndarray:
    """Ghosts on ``level`` (1-based): ``1 + floor((level - 1) / 2)``."""
    return 1 + (np.asarray(level) - 1) // 2


def ghost_speed(level) -> np.ndarray:
    """Probability that a ghost moves in a step on ``level``: ``0.5 + 0.1 (level - 1)``."""
    return 0.5 + 0.1 * (np.asarray(level, np.float64) - 1)


# Cell classes of a rendered frame and their colours (the reference's observation_as_rgb).
EMPTY, WALL, FOOD, PILL, PACMAN, GHOST = range(6)
NUM_CELL_CLASSES = GHOST + PILL_DURATION + 1  # a ghost's colour shows the power left, 0-20
_BACKGROUND = np.where(FREE, EMPTY, WALL).astype(np.uint8)


def _palette_float() -> np.ndarray:
    pal = np.zeros((NUM_CELL_CLASSES, 3), np.float32)
    pal[WALL], pal[FOOD], pal[PILL], pal[PACMAN] = [1, 1, 1], [0, 0, 1], [0, 1, 1], [0, 1, 0]
    for p in range(PILL_DURATION + 1):
        edible = p / float(PILL_DURATION)
        g, ge = np.float32(1.0 - edible), np.float32(edible)
        pal[GHOST + p] = [g + ge, ge, 0]
    return pal


PALETTE_FLOAT = _palette_float()
# uint8 colours: x 255; a ghost's green 255 p / 20 is rounded half up in exact arithmetic.
PALETTE_UINT8 = (np.round(PALETTE_FLOAT) * 255).astype(np.uint8)
_POWER = np.arange(PILL_DURATION + 1)
PALETTE_UINT8[GHOST:, 1] = (2 * 255 * _POWER + PILL_DURATION) // (2 * PILL_DURATION)


def check_actions(actions, num_envs: int) -> np.ndarray:
    """Validate a batch of actions: integers in [0, 5), shape ``(num_envs,)``."""
    a = np.asarray(actions)
    if a.shape != (num_envs,):
        raise ValueError(f"actions must have shape ({num_envs},), got {a.shape}")
    if a.dtype.kind not in "iu":
        if a.dtype.kind == "f" and np.all(a == np.round(a)):
            a = a.astype(np.int64)
        else:
            raise ValueError(f"actions must be integers, got dtype {a.dtype}")
    if a.size and (a.min() < 0 or a.max() >= NUM_ACTIONS):
        raise ValueError(f"actions must be in [0, {NUM_ACTIONS}) ({', '.join(ACTIONS)}), got {a}")
    return a.astype(np.int64)


def _nth_true(mask: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Index of the ``n``-th (0-based) True along the last axis of ``mask``."""
    return (np.cumsum(mask, axis=-1) > n[..., None]).argmax(axis=-1)


class MiniPacmanBatch:
    """State of ``num_envs`` MiniPacman games stepped together (rules in the module docstring).

    Cells are flat indices ``r * WIDTH + c``. Ghosts live in ``G`` slots per game
    (``ghost_pos``, ``ghost_dir``, ``ghost_alive``, all ``(N, G)``) that keep the reference's list
    order; ``G`` grows when a level needs more ghosts. ``rng`` is a ``numpy.random.Generator``.
    """

    def __init__(self, num_envs: int, task: str = "regular", max_steps: int = DEFAULT_MAX_STEPS,
                 rng: np.random.Generator | None = None):
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if int(max_steps) < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        self.task_name, self.task = task, get_task(task)
        self.num_envs, self.max_steps = int(num_envs), int(max_steps)
        self.rng = rng if rng is not None else np.random.default_rng()
        n = self.num_envs
        self.pacman = np.zeros(n, np.int64)
        self.food = np.zeros((n, NUM_CELLS), bool)
        self.pill_pos = np.zeros((n, NUM_PILLS), np.int64)
        self.pill_alive = np.zeros((n, NUM_PILLS), bool)
        self.ghost_pos = np.zeros((n, 1), np.int64)
        self.ghost_dir = np.zeros((n, 1), np.int64)
        self.ghost_alive = np.zeros((n, 1), bool)
        self.power = np.zeros(n, np.int64)
        self.level = np.ones(n, np.int64)
        self.timer = np.zeros(n, np.int64)  # steps since the level started
        self.steps = np.zeros(n, np.int64)  # steps since the episode started
        self.pending_level = np.zeros(n, bool)
        self.started = np.zeros(n, bool)

    @property
    def ghost_slots(self) -> int:
        return self.ghost_pos.shape[1]

    def _ensure_ghost_slots(self, g: int) -> None:
        extra = int(g) - self.ghost_slots
        if extra > 0:
            pad = ((0, 0), (0, extra))
            self.ghost_pos = np.pad(self.ghost_pos, pad)
            self.ghost_dir = np.pad(self.ghost_dir, pad)
            self.ghost_alive = np.pad(self.ghost_alive, pad)

    def draw_level(self, levels: np.ndarray) -> dict:
        """Random layout of new levels ``levels (k,)``: ``pills (k, 2)``, ``pacman (k,)``,
        ``ghost_pos``/``ghost_dir (k, G)``: cells uniform over free cells, ghosts outside the box
        around Pacman."""
        k, g = len(levels), self.ghost_slots
        pills = FREE_CELLS[self.rng.integers(0, FREE_CELLS.size, (k, NUM_PILLS))]
        pacman = FREE_CELLS[self.rng.integers(0, FREE_CELLS.size, k)]
        pr, pc = np.divmod(pacman, WIDTH)
        fr, fc = np.divmod(FREE_CELLS, WIDTH)
        d = SAFE_DISTANCE
        near = ((fr >= np.maximum(pr - d, 1)[:, None]) & (fr < np.minimum(pr + d, HEIGHT)[:, None])
                & (fc >= np.maximum(pc - d, 1)[:, None]) & (fc < np.minimum(pc + d, WIDTH)[:, None]))
        allowed = ~near
        pick = np.floor(self.rng.random((k, g)) * allowed.sum(axis=1)[:, None]).astype(np.int64)
        ghost_pos = FREE_CELLS[_nth_true(allowed[:, None, :], pick)]
        ghost_dir = self.rng.integers(0, 4, (k, g))
        return {"pills": pills, "pacman": pacman, "ghost_pos": ghost_pos, "ghost_dir": ghost_dir}

    def new_level(self, idx, levels) -> None:
        """Start level ``levels`` in games ``idx``: food everywhere, new pills, Pacman, ghosts."""
        idx = np.atleast_1d(np.asarray(idx, np.int64))
        if idx.size == 0:
            return
        levels = np.broadcast_to(np.asarray(levels, np.int64), idx.shape)
        ng = num_ghosts(levels)
        self._ensure_ghost_slots(ng.max())
        lay = self.draw_level(levels)
        self.level[idx] = levels
        self.food[idx] = FREE
        self.pill_pos[idx] = lay["pills"]
        self.pill_alive[idx] = True
        self.pacman[idx] = lay["pacman"]
        g = self.ghost_slots
        self.ghost_pos[idx] = lay["ghost_pos"][:, :g]
        self.ghost_dir[idx] = lay["ghost_dir"][:, :g]
        self.ghost_alive[idx] = np.arange(g)[None] < ng[:, None]
        self.power[idx] = 0
        self.timer[idx] = 0
        self.pending_level[idx] = False

    def reset(self, idx=None) -> None:
        """Start new episodes (level 1) in games ``idx`` (all by default)."""
        idx = np.arange(self.num_envs) if idx is None else np.atleast_1d(np.asarray(idx, np.int64))
        self.steps[idx] = 0
        self.started[idx] = True
        self.new_level(idx, 1)

    def set_state(self, i: int, *, pacman, ghosts=(), pills=(), food=None, power: int = 0,
                  level: int = 1, timer: int = 0, steps: int = 0) -> None:
        """Put game ``i`` in a hand-built state (tests, checks against the reference).

        ``pacman``: ``(row, col)``; ``ghosts``: ``(row, col, direction code)`` each (codes as in the
        reference: 2-5 right, up, left, down; 0-3 for a ghost that has not moved); ``pills``:
        ``(row, col)`` each, at most 2; ``food``: bool ``(15, 19)`` (default: every free cell).
        """
        def cell(rc, what):
            r, c = (int(x) for x in rc)
            if not (0 <= r < HEIGHT and 0 <= c < WIDTH) or not FREE[r * WIDTH + c]:
                raise ValueError(f"{what} {(r, c)} is not a free cell of the maze")
            return r * WIDTH + c

        if len(pills) > NUM_PILLS:
            raise ValueError(f"at most {NUM_PILLS} pills, got {len(pills)}")
        self._ensure_ghost_slots(max(len(ghosts), 1))
        self.pacman[i] = cell(pacman, "pacman")
        self.ghost_alive[i] = False
        for k, (r, c, d) in enumerate(ghosts):
            if int(d) not in range(6):
                raise ValueError(f"ghost direction codes are 0-5, got {d}")
            self.ghost_pos[i, k], self.ghost_dir[i, k] = cell((r, c), "ghost"), int(d)
            self.ghost_alive[i, k] = True
        self.pill_alive[i] = False
        for k, rc in enumerate(pills):
            self.pill_pos[i, k], self.pill_alive[i, k] = cell(rc, "pill"), True
        f = FREE if food is None else np.asarray(food, bool).reshape(-1)
        if f.shape != FREE.shape or (f & ~FREE).any():
            raise ValueError("food must be a (15, 19) bool mask on free cells")
        self.food[i] = f
        if not 0 <= int(power) <= PILL_DURATION:
            raise ValueError(f"power must be in [0, {PILL_DURATION}], got {power}")
        self.power[i], self.level[i], self.timer[i], self.steps[i] = power, level, timer, steps
        self.pending_level[i] = False
        self.started[i] = True

    def _choose_directions(self, powered, u_random, u_exit):
        """Direction codes ``(N, G)`` each ghost would move in (the reference's ``_move_ghost``)."""
        pos, d = self.ghost_pos, self.ghost_dir
        pac = self.pacman[:, None]
        exits = EXITS[pos]
        n_exits = exits.sum(axis=-1)
        first = exits.argmax(axis=-1) + 2
        last = 5 - exits[..., ::-1].argmax(axis=-1)
        rev = REVERSE[d]
        # Two exits: keep going, else take the exit that does not turn back.
        keeps = (d >= 2) & np.take_along_axis(exits, np.clip(d - 2, 0, 3)[..., None], -1)[..., 0]
        corridor = np.where(keeps, d, np.where(rev == first, last, first))
        # Junction: never turn back; chase Pacman (5% random exit) or, powered, flee.
        open_ = exits & (DIRECTION_CODES != rev[..., None])
        drow = pac // WIDTH - pos // WIDTH
        dcol = pac % WIDTH - pos % WIDTH
        toward = np.stack([dcol, -drow, -dcol, drow], axis=-1)  # right, up, left, down
        chase = np.where(open_, toward, -10 ** 6).argmax(axis=-1)
        flee = np.where(open_, toward, 10 ** 6).argmin(axis=-1)
        pick = _nth_true(open_, np.floor(u_exit * open_.sum(axis=-1)).astype(np.int64))
        junction = 2 + np.where(powered, flee, np.where(u_random < RANDOM_MOVE_PROB, pick, chase))
        junction = np.where(pos == pac, d, junction)
        return np.where(n_exits == 1, first, np.where(n_exits == 2, corridor, junction))

    def step(self, actions, noise=None):
        """Advance every game one step with ``actions (N,)``.

        ``noise``: optional uniforms ``(N, G', 3)`` with ``G' >= ghost_slots`` at ghost time (per
        ghost slot: move draw, random-choice draw, random-exit draw); drawn from ``rng`` if None.
        Returns ``(events int64 (N, 5), terminated, truncated)``.
        """
        if not self.started.all():
            raise RuntimeError("every game needs reset() before step()")
        a = check_actions(actions, self.num_envs)
        n, rows = self.num_envs, np.arange(self.num_envs)
        clear = self.task.clear
        pend = np.flatnonzero(self.pending_level)
        self.new_level(pend, self.level[pend] + 1)
        self.steps += 1
        self.timer += 1
        self.power = np.maximum(self.power - 1, 0)
        events = np.zeros((n, len(EVENTS)), np.int64)
        events[:, 0] = 1

        # Pacman moves and eats food, then the first power pill on his cell.
        self.pacman = MOVES[self.pacman, a]
        ate = np.flatnonzero(self.food[rows, self.pacman])
        self.food[ate, self.pacman[ate]] = False
        events[ate, 1] = 1
        if clear == "food":
            done = ate[~self.food[ate].any(axis=1)]
            self.new_level(done, self.level[done] + 1)
        on_pill = self.pill_alive & (self.pill_pos == self.pacman[:, None])
        got = np.flatnonzero(on_pill.any(axis=1))
        self.pill_alive[got, on_pill[got].argmax(axis=1)] = False
        self.power[got] = PILL_DURATION
        events[got, 2] = 1
        if clear == "pills":
            done = got[~self.pill_alive[got].any(axis=1)]
            self.new_level(done, self.level[done] + 1)

        # Ghosts in slot order: collide, move with probability speed, collide again.
        g = self.ghost_slots
        if noise is None:
            noise = self.rng.random((n, g, 3))
        noise = np.asarray(noise, np.float64)
        if noise.ndim != 3 or noise.shape[0] != n or noise.shape[1] < g or noise.shape[2] != 3:
            raise ValueError(f"noise must have shape ({n}, >={g}, 3), got {noise.shape}")
        powered = (self.power > 0)[:, None]
        alive = self.ghost_alive
        pac = self.pacman[:, None]
        before = alive & (self.ghost_pos == pac)
        speed = ghost_speed(self.level) * np.where(self.power > 0, 0.5, 1.0)
        moves = alive & (noise[:, :g, 0] < speed[:, None])
        new_dir = self._choose_directions(powered, noise[:, :g, 1], noise[:, :g, 2])
        new_pos = MOVES[self.ghost_pos, DIRECTION_ACTION[new_dir]]
        after = moves & (new_pos == pac)
        # Powered: the first ghost met (before or after its move) is eaten and the loop stops.
        eaten = powered & (before | after)
        any_eaten = eaten.any(axis=1)
        stop = np.where(any_eaten, eaten.argmax(axis=1), g)
        update = moves & (np.arange(g)[None] < stop[:, None])
        self.ghost_pos = np.where(update, new_pos, self.ghost_pos)
        self.ghost_dir = np.where(update, new_dir, self.ghost_dir)
        hit = np.flatnonzero(any_eaten)
        self.ghost_alive[hit, stop[hit]] = False
        events[hit, 3] = 1
        # Unpowered: every meeting kills (the loop goes on).
        events[:, 4] = np.where(powered[:, 0], 0, before.sum(axis=1) + after.sum(axis=1))
        if clear == "ghosts":
            done = hit[~self.ghost_alive[hit].any(axis=1)]
            self.new_level(done, self.level[done] + 1)
        if self.task.level_steps is not None:
            self.pending_level |= self.timer == self.task.level_steps

        terminated = events[:, 4] > 0
        truncated = (self.steps >= self.max_steps) & ~terminated
        return events, terminated, truncated

    def cell_classes(self, idx=None) -> np.ndarray:
        """Cell classes ``uint8 (N, 15, 19)`` of games ``idx`` (all by default): EMPTY, WALL, FOOD,
        PILL, PACMAN, or GHOST + power (drawn over one another in this order, as the reference's
        ``observation_as_rgb``)."""
        idx = np.arange(self.num_envs) if idx is None else np.atleast_1d(np.asarray(idx, np.int64))
        rows = np.arange(idx.size)
        out = _BACKGROUND + self.food[idx].astype(np.uint8) * np.uint8(FOOD - EMPTY)
        e, k = np.nonzero(self.pill_alive[idx])
        out[e, self.pill_pos[idx[e], k]] = PILL
        e, k = np.nonzero(self.ghost_alive[idx])
        out[e, self.ghost_pos[idx[e], k]] = GHOST + self.power[idx[e]]
        out[rows, self.pacman[idx]] = PACMAN
        return out.reshape(idx.size, HEIGHT, WIDTH)

    def frames(self, dtype=np.uint8, idx=None) -> np.ndarray:
        """RGB frames ``(N, 15, 19, 3)`` of games ``idx``: uint8 (colours x 255, rounded) or float32
        in [0, 1] (exactly the reference's values)."""
        palette = PALETTE_UINT8 if np.dtype(dtype) == np.uint8 else PALETTE_FLOAT
        return np.take(palette, self.cell_classes(idx), axis=0)


__all__ = [
    "STANDARD_MAP", "HEIGHT", "WIDTH", "ACTIONS", "NUM_ACTIONS", "EVENTS", "Task", "TASKS",
    "get_task", "task_rewards", "num_ghosts", "ghost_speed", "PILL_DURATION", "DEFAULT_MAX_STEPS",
    "NUM_CELL_CLASSES", "PALETTE_FLOAT", "PALETTE_UINT8", "MiniPacmanBatch", "check_actions",
]
