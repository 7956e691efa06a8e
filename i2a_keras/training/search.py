"""The ``search`` subcommand: planners on held-out levels, imagination cost per level (Sec. 4.2-4.3).

``python -m i2a_keras.train search --planner PLANNER --checkpoint AGENT.keras [...]`` plays
``num_levels`` held-out levels (the ``"eval"`` split of the checkpoint's env) and reports the solve
rate with the imagined and simulated steps spent per level (the paper's Table 1):

=========  ===============================================  ==========================================
planner    models                                           cost counted
=========  ===============================================  ==========================================
mcts       ``--checkpoint``: model-free agent (PUCT prior    simulated steps (perfect Sokoban core)
           and leaf value); the simulator is the env core
mc         ``--checkpoint``: model-free agent (its critic   imagined steps: A x tau x n per decision
           scores the rollouts); ``--rollout-policy``: an
           I2A whose distilled pi_hat drives the rollouts
           (default: the checkpoint's own policy);
           ``--env-model``: an env model ``.keras``,
           ``copy`` or ``perfect`` (default: the I2A's)
i2a        ``--checkpoint``: I2A agent                      imagined steps: A x tau per decision
i2a-retry  ``--checkpoint``: I2A agent, up to ``attempts``  imagined steps over all attempts, and the
           episodes per level (outer MC loop, Sec. 4.3)     attempts' simulated steps
=========  ===============================================  ==========================================

Each run appends one JSON line (settings, summary, per-level results) to ``out`` (default
``runs/search.jsonl``) and prints the summary. Settings: ``--set mc.rollout_length=3
mc.temperature=0.5 mcts.num_simulations=200 attempts=10 num_levels=200 env.num_boxes=2``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from i2a_keras.algos.a2c import make_actor
from i2a_keras.search.mc_search import MCSearchConfig
from i2a_keras.search.mcts import MCTSConfig
from i2a_keras.search.outer_loop import MAX_ATTEMPTS
from i2a_keras.training.config import EnvConfig, config_from_dict, config_to_dict

__all__ = ["PLANNERS", "SearchConfig", "build_config", "held_out_levels", "run", "add_arguments",
           "run_command"]

PLANNERS = ("mcts", "mc", "i2a", "i2a-retry")
ENV_MODEL_CHOICES = ("copy", "perfect")


@dataclass
class SearchConfig:
    """Settings of the ``search`` subcommand (see the module docstring for the planners)."""

    planner: str = "mcts"
    """mcts, mc, i2a or i2a-retry"""
    checkpoint: str = ""
    """mcts/mc: a model-free agent (prior, value); i2a/i2a-retry: an I2A agent"""
    env_model: str = ""
    """mc: an env-model .keras file, 'copy' or 'perfect' (default: the rollout-policy I2A's)"""
    rollout_policy: str = ""
    """mc: an I2A checkpoint whose distilled rollout policy drives the rollouts"""
    num_levels: int = 100
    """held-out levels to play"""
    seed: int | None = None
    """levels and action sampling (default: env.eval_seed)"""
    batch_size: int = 100
    """levels played together by the batched planners (mc, i2a, i2a-retry)"""
    attempts: int = 10
    """i2a-retry: episodes per level at most (the paper's N = 10)"""
    greedy: bool = False
    """i2a, i2a-retry: arg-max actions instead of samples"""
    use_run_env: bool = True
    """play the env the checkpoint was trained on (with env.* overrides on top)"""
    out: str = "runs/search.jsonl"
    """JSONL file the run's record is appended to ('' for none)"""
    progress: bool = True
    env: EnvConfig = field(default_factory=EnvConfig)
    mc: MCSearchConfig = field(default_factory=MCSearchConfig)
    mcts: MCTSConfig = field(default_factory=MCTSConfig)

    def __post_init__(self):
        if self.planner not in PLANNERS:
            raise ValueError(f"unknown planner {self.planner!r}; choose from {', '.join(PLANNERS)}")
        if int(self.num_levels) < 1 or int(self.batch_size) < 1:
            raise ValueError("num_levels and batch_size must be >= 1")
        if not 1 <= int(self.attempts) <= MAX_ATTEMPTS:
            raise ValueError(f"attempts must be in 1..{MAX_ATTEMPTS}, got {self.attempts}")


def build_config(preset: str) -> SearchConfig:
    from i2a_keras.training.config import model_free_preset

    return SearchConfig(env=model_free_preset(preset).env)


def load_config(data: dict) -> SearchConfig:
    return config_from_dict(SearchConfig, data)


def held_out_levels(env: EnvConfig, num_levels: int, seed: int):
    """``num_levels`` levels ``(room_fixed, room_state)`` of the held-out split: distinct levels
    of a level file (a seeded permutation, at most all of them), or the seeded generator stream."""
    from i2a_keras.envs import ArraySource, config_level_source
    from i2a_keras.training.actor_critic import env_kwargs

    source = config_level_source(env_kwargs(env, "eval"))
    try:
        source.seed(seed)
        if isinstance(source, ArraySource):
            num_levels = min(num_levels, source.num_levels)
        return source.draw(num_levels)
    finally:
        source.close()


def _load_agent(path: str, what: str, kinds: tuple):
    from i2a_keras.training.checkpoint import load_checkpoint
    from i2a_keras.training.evaluate import checkpoint_kind

    if not path:
        raise ValueError(f"search needs {what}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what}: {path!r} does not exist")
    agent, state, _ = load_checkpoint(path, compile=False)
    kind = checkpoint_kind(agent, state)
    family = "i2a" if type(agent).__name__ == "I2AAgent" else \
        "env-model" if kind == "env-model" else "model-free"
    if family not in kinds:
        raise ValueError(f"{what}: {path} holds a {kind} checkpoint; this planner needs "
                         f"{' or '.join(kinds)}")
    return agent, state


def _env_model(config: SearchConfig, env: EnvConfig, rollout_agent):
    from i2a_keras.envs.core import num_actions
    from i2a_keras.envs.observations import observation_shape
    from i2a_keras.models.env_model import CopyModel, load_env_model
    from i2a_keras.search.perfect_model import PerfectModel

    shape = tuple(observation_shape(tuple(env.dim_room), env.observation))
    actions = num_actions(env.action_set)
    if config.env_model == "perfect":
        return PerfectModel(env.observation, env.action_set)
    if config.env_model == "copy":
        from i2a_keras.envs import observations

        palette = {"one_hot": None, "tiny_rgb": observations.TINY_COLORS}.get(env.observation)
        if env.observation == "rgb":
            palette = observations.RGB_PALETTE
        return CopyModel(obs_shape=shape, num_actions=actions, observation=env.observation,
                         palette=palette)
    if config.env_model:
        if not os.path.isfile(config.env_model):
            raise FileNotFoundError(f"--env-model {config.env_model!r} does not exist (or use "
                                    f"{' / '.join(ENV_MODEL_CHOICES)})")
        model = load_env_model(config.env_model)
        if tuple(model.obs_shape) != shape or model.num_actions != actions:
            raise ValueError(f"--env-model {config.env_model} predicts observations "
                             f"{tuple(model.obs_shape)} for {model.num_actions} actions; the env has "
                             f"{shape} and {actions}")
        return model
    if rollout_agent is None:
        raise ValueError("planner mc needs --env-model (a .keras env model, 'copy' or 'perfect') "
                         "or --rollout-policy I2A.keras (whose env model it then uses)")
    return rollout_agent.env_model


def _search_env(config: SearchConfig, state: dict, path: str, env_overrides) -> EnvConfig:
    from i2a_keras.training.evaluate import held_out_run_env

    return held_out_run_env(path, state, env_overrides) if config.use_run_env else config.env


def _progress(config: SearchConfig, total: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"search {config.planner}", unit="level",
                disable=not config.progress)


def _run_mcts(config, agent, env, levels, bar):
    from i2a_keras import backends
    from i2a_keras.search.mcts import MCTS

    forward = backends.get().forward_fn(
        agent, lambda call, obs: (lambda out: (out["logits"], out["value"]))(call(obs, training=False)))
    evaluate = lambda obs: tuple(np.asarray(x) for x in forward(obs))  # noqa: E731
    mcts = MCTS(evaluate, env.dim_room, env.max_steps, env.action_set, env.observation, config.mcts)
    results = []
    for f, s in zip(*levels):
        results.append(mcts.play(f, s))
        bar.update(1)
        bar.set_postfix(solved=f"{np.mean([r.solved for r in results]):.1%}")
    return results


def _run_batched(config, act, per_decision, attempts, env, levels, rng, bar):
    from i2a_keras.search.outer_loop import play_levels

    results = []
    for start in range(0, len(levels[0]), config.batch_size):
        chunk = slice(start, start + config.batch_size)
        results += play_levels(act, levels[0][chunk], levels[1][chunk], env.max_steps,
                               env.action_set, env.observation, rng, attempts=attempts,
                               imagined_steps_per_decision=per_decision, on_done=bar.update)
        bar.set_postfix(solved=f"{np.mean([r.solved for r in results]):.1%}")
    return results


def run(config: SearchConfig, env_overrides=()) -> dict:
    """Play the held-out levels with ``config.planner``; returns (and appends to ``out``) the record."""
    from i2a_keras.search.mc_search import MCSearch
    from i2a_keras.search.record import summarize
    from i2a_keras.training.evaluate import check_agent_fits

    planner = config.planner
    kinds = ("i2a",) if planner.startswith("i2a") else ("model-free",)
    agent, state = _load_agent(config.checkpoint, "--checkpoint", kinds)
    env = _search_env(config, state, config.checkpoint, env_overrides)
    check_agent_fits(agent, env, config.checkpoint)
    seed = env.eval_seed if config.seed is None else int(config.seed)
    rng = np.random.default_rng(seed)
    settings = {"planner": planner, "checkpoint": os.path.abspath(config.checkpoint)}
    if planner == "mc":
        rollout_agent = None
        if config.rollout_policy:
            rollout_agent, _ = _load_agent(config.rollout_policy, "--rollout-policy", ("i2a",))
            check_agent_fits(rollout_agent, env, config.rollout_policy)
        env_model = _env_model(config, env, rollout_agent)
        policy = rollout_agent.rollout_policy if rollout_agent is not None else agent
        searcher = MCSearch(env_model, policy, agent, agent.num_actions, config.mc)
        act, per_decision, attempts = searcher.act, searcher.imagined_steps_per_decision, 1
        settings.update(mc=dataclasses.asdict(config.mc),
                        env_model=config.env_model or "rollout-policy I2A's",
                        rollout_policy=config.rollout_policy or "checkpoint's policy",
                        value="checkpoint's critic (model-free agent)")
    elif planner in ("i2a", "i2a-retry"):
        act = make_actor(agent, config.greedy)
        per_decision = agent.num_actions * agent.config.rollout_length
        attempts = config.attempts if planner == "i2a-retry" else 1
        settings.update(greedy=config.greedy, attempts=attempts,
                        rollout_length=agent.config.rollout_length)
    else:
        settings.update(mcts=dataclasses.asdict(config.mcts))
    levels = held_out_levels(env, config.num_levels, seed)
    print(f"search: {planner} on {len(levels[0])} held-out levels ({env.dim_room[0]}x"
          f"{env.dim_room[1]}, {env.num_boxes} box(es), levels={env.eval_levels or env.levels})",
          file=sys.stderr)
    start = time.time()
    with _progress(config, len(levels[0])) as bar:
        if planner == "mcts":
            results = _run_mcts(config, agent, env, levels, bar)
        else:
            results = _run_batched(config, act, per_decision, attempts, env, levels, rng, bar)
    summary = summarize(results)
    record = {**settings, **summary, "seconds": round(time.time() - start, 2), "seed": seed,
              "env": config_to_dict(env),
              "levels": {key: [getattr(r, key) for r in results]
                         for key in ("solved", "steps", "imagined_steps", "simulated_steps",
                                     "evaluations", "attempts")}}
    if config.out:
        os.makedirs(os.path.dirname(os.path.abspath(config.out)), exist_ok=True)
        with open(config.out, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        record["out"] = os.path.abspath(config.out)
    print(json.dumps({"planner": planner, **summary}))
    return record


def add_arguments(parser):
    from i2a_keras.training.cli import add_common_arguments

    parser.add_argument("--planner", choices=PLANNERS, default=None,
                        help="mcts (perfect model), mc (MC search agent), i2a, i2a-retry (outer "
                             "loop, up to `attempts` episodes)")
    parser.add_argument("--checkpoint", required=True,
                        help="mcts/mc: model-free agent (.keras); i2a/i2a-retry: I2A agent")
    parser.add_argument("--env-model", default=None,
                        help="mc: env model .keras, 'copy' or 'perfect' (default: the "
                             "--rollout-policy I2A's env model)")
    parser.add_argument("--rollout-policy", default=None,
                        help="mc: I2A checkpoint whose distilled rollout policy drives the rollouts "
                             "(default: the --checkpoint agent's policy)")
    parser.add_argument("--out", default=None, help="JSONL file to append the record to "
                                                    "(default runs/search.jsonl)")
    add_common_arguments(parser, flags=("seed",), resume=False)
    return parser


def run_command(args) -> dict | None:
    from i2a_keras.training.cli import config_from_args, print_config

    config = config_from_args(args, build_config, load_config,
                              flag_keys={"seed": "seed", "planner": "planner",
                                         "checkpoint": "checkpoint", "env_model": "env_model",
                                         "rollout_policy": "rollout_policy", "out": "out"})
    if args.print_config:
        print_config(config, args.print_config)
        return None
    env_items = [item for item in args.overrides if item.strip().startswith("env.")]
    record = run(config, env_overrides=env_items)
    return {k: v for k, v in record.items() if k not in ("levels", "env")}
