"""The ``i2a`` training subcommand: I2A and its controls trained with the shared A2C/A3C code.

``python -m i2a_keras.train i2a --agent {i2a,i2a-copy-model,i2a-no-reward,model-free}
--env-model PATH --preset small --set i2a.rollout_length=3 --run-dir runs/x`` trains the
imagination-augmented agent (Weber et al., 2017, Sec. 3.3: "the rest of the parameters [with the
env model fixed] were trained with A3C") or one of the paper's baselines on the same budget. The
config is :class:`~i2a_keras.training.config.ActorCriticConfig` with ``model`` an
:class:`~i2a_keras.models.i2a.I2AConfig` (``model-free``: a ``ModelFreeConfig``); ``--set i2a.X``
is an alias of ``--set model.X``. Checkpoints are self-contained ``.keras`` files: the frozen env
model is saved inside the agent, so ``--resume RUN_DIR`` does not need ``--env-model``.

MiniPacman (Sec. 5): ``--preset minipacman --set env.task=hunt`` trains on one task; the env model
(trained on all tasks' events) imagines that task's rewards (``model.reward_task``, set from
``env.task`` by :func:`sync_reward_task`).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import warnings

import keras

from i2a_keras.models.i2a import I2AConfig  # registers the I2A agents and their classes
from i2a_keras.models.model_free import ModelFreeConfig
from i2a_keras.training.config import (ActorCriticConfig, apply_overrides, config_from_dict,
                                       model_free_preset)

__all__ = ["I2A_AGENTS", "i2a_preset", "build_i2a_config", "sync_reward_task", "add_i2a_arguments",
           "run_i2a", "main"]

I2A_AGENTS = ("i2a", "i2a-copy-model", "i2a-no-reward", "model-free")
DEFAULT_RUN_DIR = "runs/{agent}_{preset}"


def i2a_preset(name: str, agent: str = "i2a") -> ActorCriticConfig:
    """``tiny`` (tests), ``small`` (CPU: 7x7, 2 boxes, one-hot, 5 actions), ``paper`` (GPU:
    80x80 RGB, 10x10, 4 boxes, tau 5) or a MiniPacman preset for ``agent``; A2C/env/run settings
    are the model-free presets' so that every agent kind gets the same budget."""
    if agent not in I2A_AGENTS:
        raise ValueError(f"unknown agent {agent!r} for the i2a subcommand; choose from {I2A_AGENTS}")
    base = model_free_preset(name)
    if agent == "model-free":
        return dataclasses.replace(base, agent="model-free")
    model = I2AConfig.preset(name)
    return dataclasses.replace(base, agent=agent, model=model)


def sync_reward_task(config: ActorCriticConfig) -> ActorCriticConfig:
    """An I2A imagines the rewards of the task it plays: ``model.reward_task = env.task`` on
    MiniPacman, ``""`` on Sokoban (Sec. 5: one env model, the task's reward weights)."""
    if not isinstance(config.model, I2AConfig):
        return config
    task = config.env.task if config.env.game == "minipacman" else ""
    if config.model.reward_task == task:
        return config
    return dataclasses.replace(config, model=dataclasses.replace(config.model, reward_task=task))


def _normalise_overrides(overrides):
    out = []
    for item in overrides or ():
        key, sep, value = item.partition("=")
        if key.strip().startswith("i2a."):
            item = "model." + key.strip()[len("i2a."):] + sep + value
        out.append(item)
    return out


def build_i2a_config(preset: str = "small", agent: str = "i2a", env_model: str | None = None,
                     overrides=(), run_dir: str | None = None, check: bool = True) -> ActorCriticConfig:
    """The full run config from a preset, an agent kind, ``--env-model`` and ``--set`` items
    (``check``: require an env model for the agents that need one)."""
    config = i2a_preset(preset, agent)
    if env_model:
        if agent == "model-free":
            raise ValueError("--env-model is meaningless for --agent model-free")
        if not os.path.isfile(env_model):
            raise ValueError(f"--env-model {env_model!r} is not a file")
        config = dataclasses.replace(config, model=dataclasses.replace(config.model,
                                                                       env_model_path=env_model))
    items = _normalise_overrides(overrides)
    if agent == "model-free" and any(i.startswith("model.") and not _is_model_free_key(i) for i in items):
        raise ValueError("I2A settings (i2a.*) do not apply to --agent model-free")
    config = sync_reward_task(apply_overrides(config, items))
    if run_dir:
        config = dataclasses.replace(config, run=dataclasses.replace(config.run, run_dir=run_dir))
    if check:
        _check_env_model(config)
    return config


def _check_env_model(config: ActorCriticConfig) -> None:
    if config.agent in ("i2a", "i2a-no-reward") and not config.model.env_model_path:
        raise ValueError(f"--agent {config.agent} needs a pretrained environment model: --env-model PATH")


def _is_model_free_key(item: str) -> bool:
    key = item.partition("=")[0][len("model."):]
    return key in {f.name for f in dataclasses.fields(ModelFreeConfig)}


def add_i2a_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of the ``i2a`` subcommand: the trainer's common flags (``--preset``, ``--set``,
    ``--run-dir``, ``--resume``, ``--total-frames``, ``--algo``, ...) plus the agent kind and env
    model."""
    from i2a_keras.training.cli import add_common_arguments

    add_common_arguments(parser)
    parser.add_argument("--agent", default=None, choices=I2A_AGENTS,
                        help="i2a (learned env model, default), i2a-copy-model, i2a-no-reward, "
                             "model-free")
    parser.add_argument("--env-model", default=None, help="pretrained .keras environment model")
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow intra/inter-op threads (0: TensorFlow's default); the "
                             "TensorFlow backend only, ignored with a warning under JAX")
    return parser


def _set_threads(threads: int):
    if threads <= 0:
        return
    if keras.backend.backend() != "tensorflow":
        warnings.warn(f"--threads {threads} sets TensorFlow's thread pools and has no effect under the "
                      f"{keras.backend.backend()} backend", stacklevel=2)
        return
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def run_i2a(args) -> dict | None:
    """Run the subcommand from parsed arguments; returns the training summary.

    Bad arguments raise :class:`~i2a_keras.training.cli.ArgumentValueError` (a usage error)."""
    from i2a_keras.training.actor_critic import train_actor_critic
    from i2a_keras.training.cli import (ArgumentValueError, config_from_args, print_config,
                                        refuse_on_resume)

    _set_threads(getattr(args, "threads", 0))
    refuse_on_resume(args, "agent", "env_model")
    args.agent = args.agent or "i2a"
    args.overrides = _normalise_overrides(args.overrides)
    config = config_from_args(
        args, lambda preset: build_i2a_config(preset, args.agent, args.env_model,
                                              run_dir=DEFAULT_RUN_DIR.format(agent=args.agent, preset=preset),
                                              check=False),
        lambda data: config_from_dict(ActorCriticConfig, data))
    config = sync_reward_task(config)
    if not args.resume:
        try:
            _check_env_model(config)
        except ValueError as exc:
            raise ArgumentValueError(str(exc)) from exc
    if args.print_config:
        print_config(config, args.print_config)
        return None
    return train_actor_critic(config, resume=bool(args.resume))


def main(argv=None) -> dict:
    parser = add_i2a_arguments(argparse.ArgumentParser(prog="i2a_keras.train i2a", description=__doc__))
    summary = run_i2a(parser.parse_args(argv))
    print(json.dumps(summary, indent=2, default=str))
    return summary
