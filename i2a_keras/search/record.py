"""Per-level records of the planners and their summary (Weber et al. 2017, Sec. 4.3, Table 1).

Table 1 of the paper compares planners by the levels they solve and the imagination they spend:
imagined steps (env-model calls) for the I2A and the MC search agent, simulated steps (transitions
of a perfect simulator) for MCTS and the I2A's outer retry loop.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["LevelResult", "summarize"]


@dataclass
class LevelResult:
    """One held-out level played by a planner."""

    solved: bool
    steps: int
    """real moves of the episode (with retries: of all attempts)"""
    imagined_steps: int = 0
    """env-model calls (A x tau per I2A decision, A x tau x n per MC search decision)"""
    simulated_steps: int = 0
    """perfect-simulator transitions (MCTS simulations, the attempts of an outer retry loop)"""
    evaluations: int = 0
    """agent calls made by the search (MCTS: prior and value of new positions)"""
    attempts: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(results: list[LevelResult]) -> dict:
    """Solve rate and mean per-level costs of ``results``."""
    if not results:
        raise ValueError("no levels were played")
    mean = lambda key: float(np.mean([getattr(r, key) for r in results]))  # noqa: E731
    return {"num_levels": len(results), "solve_rate": mean("solved"),
            "mean_steps": mean("steps"), "imagined_steps_per_level": mean("imagined_steps"),
            "simulated_steps_per_level": mean("simulated_steps"),
            "evaluations_per_level": mean("evaluations"), "mean_attempts": mean("attempts")}
