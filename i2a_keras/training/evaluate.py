"""Held-out evaluation: % of unseen levels solved (Weber et al., 2017, Sec. 4: "% levels solved").

:func:`evaluate_agent` plays exactly ``num_levels`` episodes on levels of the held-out ``"eval"``
split (disjoint from training levels). The levels are a fixed list: the first ``num_levels`` that
the split's source draws after ``seed`` (distinct levels of a level set), dealt to the env slots
in a fixed order, ``num_levels / num_envs`` consecutive episodes per slot, so that quick (solved)
episodes do not bias the count and every agent, ``env.max_steps`` and ``num_envs`` plays the same
levels (paired comparisons; ``per_level=True`` returns each level's outcome, and
:func:`evaluation_levels` the list itself). A level counts as
solved when the episode ends with all boxes on targets (``info["solved"]``) within
``env.max_steps`` steps.
``greedy=False`` (default, ``eval.greedy``) samples from the policy with a numpy generator seeded
by ``seed`` (the env's ``eval_seed`` by default), so evaluations are reproducible;
``greedy=True`` acts with the arg-max action (deterministic policies can get stuck in loops).

MiniPacman (Sec. 5) has no "solved": its evaluation reports the mean episode return of the run's
task (the paper's Fig. 6 score), the mean length and the mean count of each event per episode
(``mean_events``), on games seeded by ``eval_seed``.

This module is also the ``evaluate`` subcommand: ``python -m i2a_keras.train evaluate
--checkpoint RUN_DIR/checkpoints/latest.keras [--set eval.num_levels=1000 env.num_boxes=3]
[--out FILE.json]``: it says which kind of checkpoint it got, plays it on the env of its run with
the given ``env.*`` settings on top, and writes the result, with ``solved_by_level``, next to the
run's checkpoint (or to ``--out``; a checkpoint outside a run directory, e.g.
``assets/pretrained``, is never written to).
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from dataclasses import dataclass, field

import numpy as np

from i2a_keras.algos.a2c import final_obs_rows, make_actor
from i2a_keras.envs.levels import check_level_spec, level_paths_unchecked
from i2a_keras.training.config import EnvConfig, EvalConfig, apply_overrides, config_from_dict

__all__ = ["evaluate_agent", "episode_frames", "record_episode_gif", "EvaluateConfig", "build_config", "run",
           "add_arguments", "run_command", "checkpoint_kind", "run_env_config", "held_out_run_env",
           "check_agent_fits", "named_checkpoints", "evaluation_levels"]


def evaluate_agent(agent, env: EnvConfig, num_levels: int, num_envs: int = 50, greedy: bool = False,
                   seed: int | None = None, per_level: bool = False, final_rooms: bool = False) -> dict:
    """Play ``num_levels`` held-out levels (episodes); returns ``mean_return``, ``mean_length`` and
    ``solve_rate`` (Sokoban) or ``task`` and ``mean_events`` (MiniPacman). ``per_level=True`` adds
    ``solved_by_level`` (Sokoban): a string with one ``"1"`` (solved) or ``"0"`` per level of the
    evaluation's list, in list order. ``final_rooms=True`` adds ``final_rooms`` (Sokoban): each
    level's room when its episode ended, ``uint8 (num_levels, H, W)`` in list order (gym-sokoban
    codes; where a failed agent left the boxes)."""
    from i2a_keras.envs.observations import observation_to_rooms
    from i2a_keras.training.actor_critic import make_env

    if num_levels < 1:
        raise ValueError(f"num_levels must be >= 1, got {num_levels}")
    if final_rooms and env.game != "sokoban":
        raise ValueError(f"final_rooms needs a Sokoban env, got game={env.game!r}")
    num_envs = int(min(num_envs, num_levels))
    seed = env.eval_seed if seed is None else int(seed)
    venv = make_env(env, num_envs, "eval", seed, num_levels=num_levels)
    rng = np.random.default_rng(seed)
    quota = np.full(num_envs, num_levels // num_envs)
    quota[: num_levels % num_envs] += 1
    played = np.zeros(num_envs, np.int64)  # slot i's k-th episode plays level i + k * num_envs
    by_level = np.zeros(num_levels, np.int8)
    last_rooms = np.zeros((num_levels, *env.dim_room), np.uint8) if final_rooms else None
    act = make_actor(agent, greedy)
    obs, _ = venv.reset(seed=seed)
    ep_return = np.zeros(num_envs)
    ep_length = np.zeros(num_envs, np.int64)
    ep_events = None
    returns, lengths, solved, events = [], [], [], []
    try:
        while quota.any():
            obs, reward, terminated, truncated, info = venv.step(act(obs, rng))
            ep_return += reward
            ep_length += 1
            if "events" in info:
                ep_events = info["events"] + (0 if ep_events is None else ep_events)
            for i in np.flatnonzero(terminated | truncated):
                if quota[i] > 0:
                    quota[i] -= 1
                    returns.append(float(ep_return[i]))
                    lengths.append(int(ep_length[i]))
                    if "solved" in info:
                        solved.append(bool(info["solved"][i]))
                        by_level[i + played[i] * num_envs] = solved[-1]
                    if final_rooms:
                        last_rooms[i + played[i] * num_envs] = observation_to_rooms(
                            final_obs_rows(info, [i])[0], env.observation)
                    played[i] += 1
                    if ep_events is not None:
                        events.append(ep_events[i].copy())
                ep_return[i] = 0.0
                ep_length[i] = 0
                if ep_events is not None:
                    ep_events[i] = 0
    finally:
        venv.close()
    result = {"mean_return": float(np.mean(returns)), "mean_length": float(np.mean(lengths)),
              "num_levels": len(returns), "greedy": bool(greedy)}
    if env.game == "minipacman":
        from i2a_keras.envs.minipacman_core import EVENTS

        result["task"] = env.task
        result["mean_events"] = dict(zip(EVENTS, np.mean(events, axis=0).round(4).tolist()))
    else:
        result["solve_rate"] = float(np.mean(solved))
        if per_level:
            result["solved_by_level"] = "".join("01"[int(x)] for x in by_level)
        if final_rooms:
            result["final_rooms"] = last_rooms
    return result


def evaluation_levels(env: EnvConfig, num_levels: int, seed: int | None = None):
    """``(room_fixed, room_state)``: the Sokoban levels :func:`evaluate_agent` plays with these
    arguments, in the order of its ``solved_by_level`` (which level an agent failed)."""
    from i2a_keras.envs.levels import deal_levels
    from i2a_keras.envs.sokoban_env import config_level_source
    from i2a_keras.training.actor_critic import env_kwargs

    if env.game != "sokoban":
        raise ValueError(f"evaluation_levels needs a Sokoban env, got game={env.game!r}")
    seed = env.eval_seed if seed is None else int(seed)
    dealt = deal_levels(config_level_source(env_kwargs(env, "eval")), num_levels, 1, seed)
    return dealt.room_fixed, dealt.room_state


def _frame_rgb(obs, env: EnvConfig) -> np.ndarray:
    """RGB images of a batch of observations: gym-sokoban sprites (16 px per tile) or MiniPacman's
    colours at 8 px per cell (``MiniPacmanEnv.render``)."""
    if env.game == "minipacman":
        from i2a_keras.envs.minipacman import RENDER_PIXELS

        return np.repeat(np.repeat(obs, RENDER_PIXELS, axis=-3), RENDER_PIXELS, axis=-2)
    from i2a_keras.envs.observations import observation_to_rooms, render_rgb

    return render_rgb(observation_to_rooms(obs, env.observation))


def episode_frames(agent, env: EnvConfig, greedy: bool = False, seed: int | None = None,
                   fps: float = 4.0, episodes: int = 1) -> list[np.ndarray]:
    """RGB frames (:func:`_frame_rgb`) of ``episodes`` consecutive held-out episodes played by
    ``agent``, on the first ``episodes`` levels of :func:`evaluate_agent`'s list for ``seed``; each
    episode's last frame is held for a second (``fps`` frames)."""
    from i2a_keras.training.actor_critic import make_env

    if int(episodes) < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    seed = env.eval_seed if seed is None else int(seed)
    venv = make_env(env, 1, "eval", seed, num_levels=int(episodes))
    rng = np.random.default_rng(seed)
    act = make_actor(agent, greedy)
    obs, _ = venv.reset(seed=seed)
    frames = [_frame_rgb(obs, env)[0]]
    try:
        for episode in range(int(episodes)):
            if episode:
                frames.append(_frame_rgb(obs, env)[0])
            for _ in range(env.max_steps):
                obs, _, terminated, truncated, info = venv.step(act(obs, rng))
                if terminated[0] or truncated[0]:
                    last_frame = _frame_rgb(final_obs_rows(info, [0]), env)[0]
                    frames.extend([last_frame] * max(1, int(round(fps))))
                    break
                frames.append(_frame_rgb(obs, env)[0])
    finally:
        venv.close()
    return frames


def record_episode_gif(agent, env: EnvConfig, path, greedy: bool = False, seed: int | None = None,
                       fps: float = 4.0, episodes: int = 1) -> str:
    """Play ``episodes`` consecutive held-out levels (:func:`episode_frames`) and save them as one
    GIF."""
    from i2a_keras.training.media import save_gif

    return save_gif(episode_frames(agent, env, greedy, seed, fps, episodes), path, fps=fps)


@dataclass
class EvaluateConfig:
    """``evaluate`` subcommand settings.

    With ``use_run_env=True`` (default) the env is the one the checkpoint was trained with (read
    from the checkpoint or its run's config.json) with the ``env.*`` settings given on the command
    line applied on top (e.g. ``--set env.num_boxes=3``: more boxes, Sec. 4.1 generalisation);
    ``use_run_env=false`` uses ``env`` as given (a checkpoint that carries no config).
    ``out``: the results file; by default ``RUN/checkpoints/NAME.eval.json`` for a run's checkpoint
    and none for a checkpoint outside a run directory.
    """

    checkpoint: str = ""
    use_run_env: bool = True
    env: EnvConfig = field(default_factory=EnvConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    seed: int | None = None
    gif: str = ""
    gif_episodes: int = 1
    out: str = ""

    def __post_init__(self):
        if int(self.gif_episodes) < 1:
            raise ValueError(f"gif_episodes must be >= 1, got {self.gif_episodes}")


def build_config(preset: str) -> EvaluateConfig:
    from i2a_keras.training.config import model_free_preset

    base = model_free_preset(preset)
    return EvaluateConfig(env=base.env, eval=base.eval)


def load_config(data: dict) -> EvaluateConfig:
    return config_from_dict(EvaluateConfig, data)


def add_arguments(parser):
    from i2a_keras.training.cli import add_common_arguments

    parser.add_argument("--checkpoint", required=True, help="agent checkpoint (.keras)")
    parser.add_argument("--gif", default=None, help="also save a GIF of held-out episodes here (how many: --set gif_episodes=N)")
    parser.add_argument("--out", default=None,
                        help="results JSON file (default: next to a run's checkpoint, none otherwise)")
    add_common_arguments(parser, flags=("seed",), resume=False)
    return parser


def run_command(args) -> dict | None:
    from i2a_keras.training.cli import config_from_args, print_config

    config = config_from_args(args, build_config, load_config,
                              flag_keys={"seed": "seed", "checkpoint": "checkpoint", "gif": "gif",
                                         "out": "out"})
    if args.print_config:
        print_config(config, args.print_config)
        return None
    env_items = [item for item in args.overrides if item.strip().startswith("env.")]
    return run(config, env_overrides=env_items)


def run_env_config(checkpoint: str, state: dict, overrides=()) -> EnvConfig | None:
    """The env a checkpoint was trained with: its saved config's, else its run directory's
    ``config.json``'s (``RUN/checkpoints/X.keras``); None when neither carries one. ``state``:
    what :func:`~i2a_keras.training.checkpoint.load_checkpoint` returned with the model;
    ``overrides``: ``"env.KEY=VALUE"`` items applied on top. The saved level folders are those of
    the machine the run trained on, so they are not checked here: the overrides may move them,
    and :func:`held_out_run_env` checks the ones that will be played."""
    saved = state.get("config")
    run_config = os.path.join(_run_dir_of(checkpoint) or "", "config.json")
    if saved is None and os.path.isfile(run_config):
        with open(run_config) as fh:
            saved = json.load(fh)
    if saved is None or "env" not in saved:
        return None
    with level_paths_unchecked():
        return apply_overrides(_RunEnv(config_from_dict(EnvConfig, saved["env"])), overrides).env


@dataclass
class _RunEnv:
    """The ``env`` section alone, so that ``env.KEY=VALUE`` overrides apply to a run's env."""
    env: EnvConfig


def held_out_run_env(checkpoint: str, state: dict, overrides=()) -> EnvConfig:
    """:func:`run_env_config` for playing the run's held-out levels (``evaluate``, ``search``):
    raises ``ValueError`` when the checkpoint carries no config, or naming the ``--set`` to pass
    when those levels (a run's saved folder, say from another machine) are not on this one."""
    env = run_env_config(checkpoint, state, overrides)
    if env is None:
        raise ValueError(f"no training config found for {checkpoint}; pass "
                         "--set use_run_env=false env.dim_room=... env.num_boxes=...")
    if env.game != "sokoban":
        return env
    key = "eval_levels" if env.eval_levels else "levels"
    try:
        check_level_spec(getattr(env, key))
    except ValueError as exc:
        raise ValueError(f"{checkpoint}: the held-out levels to play, env.{key}, are not on this "
                         f"machine ({exc}; a run's config names the folders of the machine it "
                         f"trained on); pass --set env.{key}=boxoban:FOLDER (or pool:FILE.npz) "
                         "naming where they are here") from exc
    return env


def named_checkpoints(items) -> dict:
    """``{NAME: CHECKPOINT}`` from ``"NAME=CHECKPOINT"`` items (the benchmark scripts' ``--agent``);
    ``ValueError`` for a malformed item, a repeated name or a missing file."""
    agents = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--agent must look like NAME=CHECKPOINT, got {item!r}")
        if name in agents:
            raise ValueError(f"--agent {name} given twice")
        if not os.path.isfile(path):
            raise ValueError(f"--agent {name}: no such checkpoint {path}")
        agents[name] = path
    return agents


def _run_dir_of(checkpoint: str) -> str | None:
    """The run directory holding ``checkpoint`` (``RUN/checkpoints/X.keras``), or None."""
    folder = os.path.dirname(os.path.abspath(checkpoint))
    run_dir = os.path.dirname(folder)
    is_run = os.path.isfile(os.path.join(run_dir, "config.json"))
    return run_dir if os.path.basename(folder) == "checkpoints" and is_run else None


def checkpoint_kind(model, state: dict) -> str:
    """``"env-model"`` for an environment model, else the agent's name (e.g. ``"model-free"``)."""
    from i2a_keras.models.env_model import CopyModel, EnvModel

    if state.get("kind") == "env_model" or isinstance(model, (EnvModel, CopyModel)):
        return "env-model"
    return (state.get("config") or {}).get("agent") or type(model).__name__


def check_agent_fits(agent, env: EnvConfig, path: str) -> None:
    """Raise a ValueError naming ``path`` when ``agent`` was built for another observation shape
    or action count than ``env`` has."""
    from i2a_keras.training.actor_critic import env_spec

    shape, n_actions = env_spec(env)
    trained = getattr(agent, "observation_shape", None)
    if trained is not None and tuple(trained) != shape:
        raise ValueError(f"{path} was trained on observations of shape {tuple(trained)}; "
                         f"env.game={env.game!r}, env.dim_room={tuple(env.dim_room)}, "
                         f"env.observation={env.observation!r} give {shape}")
    actions = getattr(agent, "num_actions", None)
    if actions is not None and int(actions) != n_actions:
        raise ValueError(f"{path} has {actions} actions; env.game={env.game!r}, "
                         f"env.action_set={env.action_set!r} has {n_actions}")


def run(config: EvaluateConfig, resume: bool = False, env_overrides=()) -> dict:
    """Evaluate ``config.checkpoint`` on held-out levels; returns (and writes) the result.

    ``env_overrides``: ``"env.KEY=VALUE"`` items applied on top of the run's env.
    """
    from i2a_keras.training.checkpoint import load_checkpoint

    if resume:
        raise ValueError("evaluate does not support --resume")
    if not config.checkpoint:
        raise ValueError("evaluate needs --checkpoint PATH.keras")
    path = config.checkpoint
    agent, state, _ = load_checkpoint(path, compile=False)
    kind = checkpoint_kind(agent, state)
    if kind == "env-model":
        raise ValueError(f"{path} is an environment-model checkpoint ({type(agent).__name__}), not "
                         "an agent: evaluate plays agent checkpoints (model-free or i2a runs). An "
                         "env-model run reports its held-out accuracy in env_model_eval.json; train "
                         f"an agent on it with `python -m i2a_keras.train i2a --env-model {path}`")
    env = held_out_run_env(path, state, env_overrides) if config.use_run_env else config.env
    check_agent_fits(agent, env, path)
    run_dir = _run_dir_of(path)
    from i2a_keras.training.actor_critic import env_title

    held_out = f"eval_levels={env.eval_levels}" if env.eval_levels else f"the eval split of levels={env.levels}"
    where = env_title(env) if env.game == "minipacman" else f"{env_title(env)}, {held_out}"
    print(f"evaluate: {kind} agent checkpoint {os.path.abspath(path)} ({state.get('frames', '?')} "
          f"frames{f', run {run_dir}' if run_dir else ''}) on {where}", file=sys.stderr)
    result = evaluate_agent(agent, env, config.eval.num_levels, config.eval.num_envs,
                            greedy=config.eval.greedy, seed=config.seed, per_level=True)
    result.update(checkpoint=os.path.abspath(path), checkpoint_kind=kind, frames=state.get("frames"),
                  env=dataclasses.asdict(env))
    out = config.out or (os.path.splitext(path)[0] + ".eval.json" if run_dir else "")
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as fh:
            json.dump(result, fh, indent=2)
        result["out"] = os.path.abspath(out)
    else:
        print(f"evaluate: {path} is not in a run directory: results not saved (use --out FILE)",
              file=sys.stderr)
    if config.gif:
        result["gif"] = record_episode_gif(agent, env, config.gif, greedy=config.eval.greedy,
                                           episodes=config.gif_episodes)
    print(json.dumps({k: result[k] for k in ("solve_rate", "task", "mean_return", "mean_length",
                                             "num_levels") if k in result}))
    return result
