"""Planning baselines and imagination efficiency (Weber et al. 2017, Sec. 4.2-4.3, Table 1).

- :mod:`~i2a_keras.search.perfect_model`: the Sokoban core behind the env-model API;
- :mod:`~i2a_keras.search.mc_search`: the MC search agent (imagined rollouts + value, no encoder);
- :mod:`~i2a_keras.search.mcts`: PUCT with a perfect model, a model-free prior and value;
- :mod:`~i2a_keras.search.outer_loop`: playing levels, the I2A's outer retry loop;
- :mod:`~i2a_keras.search.record`: per-level records (imagined and simulated steps).

The ``search`` subcommand (:mod:`i2a_keras.training.search`) evaluates them on held-out levels.
"""
from i2a_keras.search.mc_search import MCSearch, MCSearchConfig
from i2a_keras.search.mcts import MCTS, MCTSConfig
from i2a_keras.search.outer_loop import play_levels
from i2a_keras.search.perfect_model import PerfectModel
from i2a_keras.search.record import LevelResult, summarize

__all__ = ["MCSearch", "MCSearchConfig", "MCTS", "MCTSConfig", "play_levels", "PerfectModel",
           "LevelResult", "summarize"]
