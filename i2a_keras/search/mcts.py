"""MCTS with a perfect model, the paper's search baseline (Weber et al. 2017, Sec. 4.3, Table 1).

The simulator is the project's own Sokoban core (:class:`~i2a_keras.envs.core.SokobanBatch`),
cloned and restored with ``get_state``/``set_state``. The search is PUCT (AlphaGo Zero style):
a trained model-free agent supplies the prior (its policy) and the value at the leaves (its
critic). Statistics live in a transposition table keyed by the position (player cell + box
cells, :attr:`~i2a_keras.envs.core.RoomState.key`), kept for the whole level, so the tree is
reused after every real move and positions reached by different paths share their statistics.

One simulation restores the root, walks down the table choosing
``argmax_a Q(s, a) + c_puct P(s, a) sqrt(N(s) + 1) / (1 + N(s, a))`` (Q min-max normalised over
the table, unvisited edges valued at V(s); the +1 lets the prior order the first visits),
stepping the simulator once per edge, until it reaches a position not yet in the table (evaluated
by the agent: prior and value), the end of the episode (solved: value 0 after the solve bonus;
step limit: value 0), or a position already on its path (a loop, valued at that position's mean
backed-up value, so a loop is worth less than the position it returns to by the step penalties it
paid). The discounted return is backed up along the path. The real move is the most visited root
action.

``simulated_steps`` counts every simulator transition of the search (each edge of each
simulation, re-simulated from the restored root, as a simulator without stored states would);
``evaluations`` counts agent calls. Both are exact (tested).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from i2a_keras.envs.core import SokobanBatch, state_to_rooms
from i2a_keras.envs.observations import rooms_to_observation
from i2a_keras.search.record import LevelResult

__all__ = ["MCTSConfig", "MCTS"]


@dataclass
class MCTSConfig:
    """Settings of the perfect-model MCTS baseline (Sec. 4.3)."""

    num_simulations: int = 100
    """simulations per real move"""
    c_puct: float = 1.25
    """weight of the prior term of PUCT (Q is normalised to [0, 1])"""
    gamma: float = 0.99
    """discount of simulated rewards and leaf values"""
    max_simulated_steps: int = 0
    """stop the level (unsolved) once its search has simulated this many steps; 0: no cap"""

    def __post_init__(self):
        if int(self.num_simulations) < 1:
            raise ValueError(f"mcts.num_simulations must be >= 1, got {self.num_simulations}")
        if not float(self.c_puct) >= 0:
            raise ValueError(f"mcts.c_puct must be >= 0, got {self.c_puct}")
        if not 0.0 <= float(self.gamma) <= 1.0:
            raise ValueError(f"mcts.gamma must be in [0, 1], got {self.gamma}")
        if int(self.max_simulated_steps) < 0:
            raise ValueError(f"mcts.max_simulated_steps must be >= 0, got {self.max_simulated_steps}")


class _Node:
    """Table entry of one position: prior P, value V, edge visits N and value sums W."""

    __slots__ = ("prior", "value", "visits", "value_sum")

    def __init__(self, prior: np.ndarray, value: float):
        self.prior = prior
        self.value = value
        self.visits = np.zeros(len(prior), np.int64)
        self.value_sum = np.zeros(len(prior), np.float64)

    def mean_value(self) -> float:
        """The position's value so far: its evaluation and every return backed up through it."""
        return float((self.value + self.value_sum.sum()) / (1 + self.visits.sum()))


class MCTS:
    """PUCT search over the Sokoban core with a model-free agent's prior and value (Sec. 4.3).

    Args:
        evaluate: ``fn(obs (B, H, W, C) uint8) -> (logits (B, A), values (B,))`` numpy.
        dim_room, max_steps, action_set, observation: the env's settings.
        config: :class:`MCTSConfig`.

    :meth:`play` plays one level to its end and returns a :class:`LevelResult`.
    """

    def __init__(self, evaluate, dim_room, max_steps: int, action_set: str, observation: str,
                 config: MCTSConfig | None = None):
        self.evaluate = evaluate
        self.config = config or MCTSConfig()
        self.observation = observation
        self.simulator = SokobanBatch(1, dim_room, max_steps, action_set)
        self.env = SokobanBatch(1, dim_room, max_steps, action_set)
        self.table: dict = {}
        self.simulated_steps = 0
        self.evaluations = 0
        self._q_min, self._q_max = np.inf, -np.inf

    def _expand(self, batch: SokobanBatch) -> _Node:
        rooms = state_to_rooms(batch.room_state, batch.room_fixed)
        logits, values = self.evaluate(rooms_to_observation(rooms, self.observation))
        self.evaluations += 1
        logits = np.asarray(logits, np.float64)[0]
        prior = np.exp(logits - logits.max())
        node = _Node(prior / prior.sum(), float(np.asarray(values).reshape(-1)[0]))
        return node

    def _select(self, node: _Node) -> int:
        visits = node.visits
        q = np.where(visits > 0, node.value_sum / np.maximum(visits, 1), node.value)
        if self._q_max > self._q_min:
            q = (q - self._q_min) / (self._q_max - self._q_min)
        else:
            q = np.zeros_like(q)
        u = self.config.c_puct * node.prior * np.sqrt(visits.sum() + 1.0) / (1.0 + visits)
        return int(np.argmax(q + u))

    def _simulate(self, root) -> None:
        """One simulation from the restored root position; backs up its return."""
        sim = self.simulator
        sim.set_state(0, root)
        root_key = root.key
        node, path, on_path = self.table[root_key], [], {root_key}
        gamma = self.config.gamma
        while True:
            action = self._select(node)
            reward, solved, truncated, _, _ = sim.step(np.array([action]))
            self.simulated_steps += 1
            path.append((node, action, float(reward[0])))
            if solved[0] or truncated[0]:
                value = 0.0
                break
            key = sim.get_state(0).key
            child = self.table.get(key)
            if child is None:
                child = self.table[key] = self._expand(sim)
                value = child.value
                break
            if key in on_path:
                value = child.mean_value()
                break
            on_path.add(key)
            node = child
        for node, action, reward in reversed(path):
            value = reward + gamma * value
            node.visits[action] += 1
            node.value_sum[action] += value
            q = node.value_sum[action] / node.visits[action]
            self._q_min, self._q_max = min(self._q_min, q), max(self._q_max, q)

    def search(self, root) -> int:
        """Run ``num_simulations`` simulations from ``root`` (a RoomState); the most visited action
        (ties: higher mean value, then prior)."""
        root_key = root.key
        if root_key not in self.table:
            self.table[root_key] = self._expand(self.env)
        cap = self.config.max_simulated_steps
        for _ in range(self.config.num_simulations):
            if cap and self.simulated_steps >= cap:
                break
            self._simulate(root)
        node = self.table[root_key]
        mean = np.where(node.visits > 0, node.value_sum / np.maximum(node.visits, 1), -np.inf)
        return int(np.lexsort((node.prior, mean, node.visits))[-1])

    def play(self, room_fixed: np.ndarray, room_state: np.ndarray) -> LevelResult:
        """Play one level ``(room_fixed, room_state)`` with a search before every move."""
        self.table, self.simulated_steps, self.evaluations = {}, 0, 0
        self._q_min, self._q_max = np.inf, -np.inf
        self.env.load([0], room_fixed[None], room_state[None])
        cap = self.config.max_simulated_steps
        while True:
            action = self.search(self.env.get_state(0))
            _, solved, truncated, _, _ = self.env.step(np.array([action]))
            if solved[0] or truncated[0] or (cap and self.simulated_steps >= cap):
                return LevelResult(bool(solved[0]), int(self.env.num_env_steps[0]),
                                   simulated_steps=self.simulated_steps,
                                   evaluations=self.evaluations)
