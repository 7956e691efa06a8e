"""Playing held-out levels, with the I2A's outer MC search loop (Weber et al. 2017, Sec. 4.3).

Sec. 4.3 equips the I2A with an outer loop: with a (nearly) perfect model the agent may run an
episode from the start again when it fails, up to N = 10 times, and the level counts as solved
when one attempt solves it. :func:`play_levels` plays a batch of levels with any batched policy
(the I2A, the MC search agent) for up to ``attempts`` attempts each, stopping a level at its first
solve, and counts per level:

- ``imagined_steps``: decisions x ``imagined_steps_per_decision`` over all attempts (the I2A
  imagines A rollouts of tau steps per decision: A x tau env-model calls);
- ``simulated_steps``: with ``attempts`` > 1 the attempts run in the simulator (the project's
  Sokoban core), so every move of every attempt is a simulated step; 0 for a single attempt (that
  episode is the real one).
"""
from __future__ import annotations

import numpy as np

from i2a_keras.envs.core import SokobanBatch
from i2a_keras.envs.observations import rooms_to_observation
from i2a_keras.search.record import LevelResult

__all__ = ["play_levels", "MAX_ATTEMPTS"]

MAX_ATTEMPTS = 100


def play_levels(act, room_fixed, room_state, max_steps: int, action_set: str, observation: str,
                rng: np.random.Generator, attempts: int = 1, imagined_steps_per_decision: int = 0,
                on_done=None) -> list[LevelResult]:
    """Play every level ``(room_fixed, room_state)`` (``(L, H, W)``) together.

    ``act(obs, rng) -> actions`` is called on the observations of the levels still playing.
    ``on_done(k)`` is called with the number of levels that finished after each step (progress).
    """
    if not 1 <= int(attempts) <= MAX_ATTEMPTS:
        raise ValueError(f"attempts must be in 1..{MAX_ATTEMPTS}, got {attempts}")
    room_fixed, room_state = np.asarray(room_fixed, np.uint8), np.asarray(room_state, np.uint8)
    n = len(room_fixed)
    batch = SokobanBatch(n, room_fixed.shape[1:], max_steps, action_set)
    batch.load(np.arange(n), room_fixed, room_state)
    attempt = np.ones(n, np.int64)
    decisions = np.zeros(n, np.int64)
    solved = np.zeros(n, bool)
    done = np.zeros(n, bool)
    while not done.all():
        playing = np.flatnonzero(~done)
        actions = np.zeros(n, np.int64)  # finished rooms are stepped too; their results are unused
        actions[playing] = act(rooms_to_observation(batch.rooms()[playing], observation), rng)
        _, is_solved, truncated, _, _ = batch.step(actions)
        decisions[playing] += 1
        ended = ~done & (is_solved | truncated)
        solved |= ended & is_solved
        # Outer loop: an unsolved attempt restarts the level from its first position.
        retry = np.flatnonzero(ended & ~is_solved & (attempt < attempts))
        if retry.size:
            batch.load(retry, room_fixed[retry], room_state[retry])
            attempt[retry] += 1
        finished = ended.copy()
        finished[retry] = False
        done |= finished
        if on_done is not None and finished.any():
            on_done(int(finished.sum()))
    multi = attempts > 1
    return [LevelResult(bool(solved[i]), int(decisions[i]),
                        imagined_steps=int(decisions[i]) * int(imagined_steps_per_decision),
                        simulated_steps=int(decisions[i]) if multi else 0,
                        attempts=int(attempt[i])) for i in range(n)]
