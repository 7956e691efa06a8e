"""Command line entry point: ``python -m i2a_keras.train [SUBCOMMAND] [options]``.

Subcommands (default ``model-free``) live in modules under ``i2a_keras/training/``; only the
chosen one is imported:

===========  =====================================================  =======
subcommand   hook (module: add-arguments function, run function)    issue
===========  =====================================================  =======
model-free   training.model_free: add_arguments, run_command         3
evaluate     training.evaluate: add_arguments, run_command           3
collect      training.env_model_train: add_collect_parser            4
env-model    training.env_model_train: add_env_model_parser          4
i2a          training.i2a_train: add_i2a_arguments, run_i2a          5
===========  =====================================================  =======

Hook styles (see docs/design.md): ``("parser", module, add_fn, run_fn)``: ``add_fn(parser)`` adds
the arguments to the subcommand's parser and ``run_fn(args)`` runs it; ``("subparsers", module,
add_fn)``: ``add_fn(subparsers)`` creates the sub-parser itself and sets ``func`` to its runner.
Bad arguments (unknown preset/key, wrong type) exit with status 2 and a clear message.

Examples::

    python -m i2a_keras.train --preset tiny --run-dir runs/try
    python -m i2a_keras.train model-free --preset small --set a2c.learning_rate=3e-4 env.num_boxes=1
    python -m i2a_keras.train --resume runs/model_free_small
    python -m i2a_keras.train evaluate --checkpoint runs/model_free_small/checkpoints/final.keras
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys

from i2a_keras.training.cli import ArgumentValueError

SUBCOMMANDS = {
    "model-free": ("parser", "i2a_keras.training.model_free", "add_arguments", "run_command", "issue 3",
                   "train the standard model-free baseline (A2C/A3C)"),
    "evaluate": ("parser", "i2a_keras.training.evaluate", "add_arguments", "run_command", "issue 3",
                 "evaluate a checkpoint on held-out levels"),
    "collect": ("subparsers", "i2a_keras.training.env_model_train", "add_collect_parser", None,
                "issue 4", "collect transitions for environment-model pretraining"),
    "env-model": ("subparsers", "i2a_keras.training.env_model_train", "add_env_model_parser", None,
                  "issue 4", "pretrain the environment model"),
    "i2a": ("parser", "i2a_keras.training.i2a_train", "add_i2a_arguments", "run_i2a", "issue 5",
            "train the I2A agent (and its controls)"),
}
DEFAULT_SUBCOMMAND = "model-free"


def _load_hook(name: str):
    style, module_name, add_name, run_name, issue, _ = SUBCOMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise NotImplementedError(
            f"subcommand {name!r} is not implemented yet ({issue}): expected module "
            f"{module_name.replace('.', '/')}.py with {add_name}()") from exc
    missing = [n for n in (add_name, run_name) if n and not hasattr(module, n)]
    if missing:
        raise NotImplementedError(f"subcommand {name!r} is not implemented yet ({issue}): "
                                  f"{module_name} lacks {', '.join(missing)}")
    return style, getattr(module, add_name), getattr(module, run_name) if run_name else None


def build_parser(subcommand: str) -> argparse.ArgumentParser:
    """Top-level parser with the sub-parser of ``subcommand`` (its module is imported)."""
    parser = argparse.ArgumentParser(
        prog="python -m i2a_keras.train",
        description="Imagination-Augmented Agents (Weber et al., 2017) on Sokoban: training CLI. "
                    f"The default subcommand is {DEFAULT_SUBCOMMAND}.",
        epilog="subcommands: " + "; ".join(f"{k}: {v[5]}" for k, v in SUBCOMMANDS.items()))
    subparsers = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
    style, add_fn, run_fn = _load_hook(subcommand)
    if style == "parser":
        sub = subparsers.add_parser(subcommand, help=SUBCOMMANDS[subcommand][5])
        add_fn(sub)
        sub.set_defaults(func=run_fn)
    else:
        add_fn(subparsers)
    return parser


def _split_subcommand(argv: list[str]) -> tuple[str, list[str]]:
    if argv and not argv[0].startswith("-"):
        if argv[0] not in SUBCOMMANDS:
            raise SystemExit(f"python -m i2a_keras.train: error: unknown subcommand {argv[0]!r}; "
                             f"choose from {', '.join(SUBCOMMANDS)}")
        return argv[0], argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        raise SystemExit(0)
    return DEFAULT_SUBCOMMAND, [DEFAULT_SUBCOMMAND] + argv


def main(argv=None):
    """Parse ``argv`` and run the chosen subcommand; returns its result (a dict or None)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    subcommand, argv = _split_subcommand(argv)
    parser = build_parser(subcommand)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ArgumentValueError as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    result = main()
    if isinstance(result, dict):
        print(json.dumps(result, indent=2, default=str))
