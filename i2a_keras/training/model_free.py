"""``model-free`` subcommand: train the standard model-free baseline (Sec. 3.3) with A2C/A3C.

CLI hook (``i2a_keras/train.py``): :func:`add_arguments` / :func:`run_command`; the Python entry
point is :func:`run` (``build_config(preset)`` -> edit -> ``run(config)``).
"""
from __future__ import annotations

from i2a_keras.training.actor_critic import train_actor_critic
from i2a_keras.training.config import (ActorCriticConfig, config_from_dict, model_free_preset)
from i2a_keras.models.model_free import ModelFreeConfig

__all__ = ["build_config", "load_config", "run", "add_arguments", "run_command", "DEFAULT_RUN_DIR"]

DEFAULT_RUN_DIR = "runs/model_free_{preset}"


def build_config(preset: str) -> ActorCriticConfig:
    config = model_free_preset(preset)
    config.run.run_dir = DEFAULT_RUN_DIR.format(preset=preset)
    return config


def load_config(data: dict) -> ActorCriticConfig:
    return config_from_dict(ActorCriticConfig, data, model_class=ModelFreeConfig)


def run(config: ActorCriticConfig, resume: bool = False) -> dict:
    if not config.agent.startswith("model-free"):
        raise ValueError(f"the model-free subcommand trains 'model-free' or 'model-free-large', "
                         f"got agent={config.agent!r}")
    return train_actor_critic(config, resume=resume)


def add_arguments(parser):
    from i2a_keras.training.cli import add_common_arguments

    add_common_arguments(parser)
    parser.add_argument("--large", action="store_true", help="the large model-free variant")
    return parser


def run_command(args) -> dict | None:
    from i2a_keras.training.cli import (ArgumentValueError, config_from_args, print_config,
                                        refuse_on_resume)
    from i2a_keras.training.config import apply_override

    refuse_on_resume(args, "large")
    config = config_from_args(args, build_config, load_config)
    if args.large:
        try:
            config = apply_override(config, "agent", "model-free-large")
        except ValueError as exc:
            raise ArgumentValueError(str(exc)) from exc
    if args.print_config:
        print_config(config, args.print_config)
        return None
    return run(config, resume=bool(args.resume))
