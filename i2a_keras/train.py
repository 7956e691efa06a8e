"""Command line entry point: ``python -m i2a_keras.train [SUBCOMMAND] [options]``.

Subcommands (default ``model-free``) live in modules under ``i2a_keras/training/``; only the
chosen one is imported:

===========  =====================================================  ==================================
subcommand   hook (module: add-arguments function, run function)    docs/design.md section
===========  =====================================================  ==================================
model-free   training.model_free: add_arguments, run_command         Actor-critic training
evaluate     training.evaluate: add_arguments, run_command           Training conventions
collect      training.env_model_train: add_collect_parser            Environment-model pretraining
env-model    training.env_model_train: add_env_model_parser          Environment-model pretraining
i2a          training.i2a_train: add_i2a_arguments, run_i2a          I2A agent
search       training.search: add_arguments, run_command             Planning baselines
===========  =====================================================  ==================================

Hook styles (see docs/design.md): ``("parser", module, add_fn, run_fn)``: ``add_fn(parser)`` adds
the arguments to the subcommand's parser and ``run_fn(args)`` runs it; ``("subparsers", module,
add_fn)``: ``add_fn(subparsers)`` creates the sub-parser itself and sets ``func`` to its runner.

``--resume RUN_DIR`` without a subcommand resumes the run with the subcommand that made it.

Exit status: 0 done; 1 a user error (bad level file, existing or locked run, unreadable
checkpoint, divergence), reported as one line on stderr (``--debug`` shows the traceback);
2 bad arguments (unknown preset/key, wrong type, a setting a resume cannot change);
130 (SIGINT) or 143 (SIGTERM): stopped by the signal after writing a checkpoint.

Examples::

    python -m i2a_keras.train --preset tiny --run-dir runs/try
    python -m i2a_keras.train model-free --preset small --set a2c.learning_rate=3e-4 env.num_boxes=1
    python -m i2a_keras.train --resume runs/model_free_small --total-frames 10000000
    python -m i2a_keras.train evaluate --checkpoint runs/model_free_small/checkpoints/final.keras
    python -m i2a_keras.train search --planner mcts --checkpoint assets/pretrained/model_free_small_1box.keras
"""
from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys

from i2a_keras.training.cli import ArgumentValueError, error_line

PROG = "python -m i2a_keras.train"

_DESIGN = "docs/design.md#"
SUBCOMMANDS = {  # name -> (hook style, module, add function, run function, design section, help)
    "model-free": ("parser", "i2a_keras.training.model_free", "add_arguments", "run_command",
                   _DESIGN + "actor-critic-training-extension-points",
                   "train the standard model-free baseline (A2C/A3C)"),
    "evaluate": ("parser", "i2a_keras.training.evaluate", "add_arguments", "run_command",
                 _DESIGN + "training-conventions-i2a_kerastraining-i2a_kerastrain",
                 "evaluate a checkpoint on held-out levels"),
    "collect": ("subparsers", "i2a_keras.training.env_model_train", "add_collect_parser", None,
                _DESIGN + "environment-model-pretraining",
                "collect transitions for environment-model pretraining"),
    "env-model": ("subparsers", "i2a_keras.training.env_model_train", "add_env_model_parser", None,
                  _DESIGN + "environment-model-pretraining", "pretrain the environment model"),
    "i2a": ("parser", "i2a_keras.training.i2a_train", "add_i2a_arguments", "run_i2a",
            _DESIGN + "i2a-agent", "train the I2A agent (and its controls)"),
    "search": ("parser", "i2a_keras.training.search", "add_arguments", "run_command",
               _DESIGN + "planning-baselines-and-imagination-efficiency",
               "planners (MCTS, MC search, I2A with retries) on held-out levels: solve rate vs "
               "imagined/simulated steps"),
}
DEFAULT_SUBCOMMAND = "model-free"


def _load_hook(name: str):
    style, module_name, add_name, run_name, design, _ = SUBCOMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise NotImplementedError(
            f"subcommand {name!r} is not implemented yet (see {design}): expected module "
            f"{module_name.replace('.', '/')}.py with {add_name}()") from exc
    missing = [n for n in (add_name, run_name) if n and not hasattr(module, n)]
    if missing:
        raise NotImplementedError(f"subcommand {name!r} is not implemented yet (see {design}): "
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


def _resumed_run(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--resume" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--resume="):
            return arg.split("=", 1)[1]
    return None


def _split_subcommand(argv: list[str]) -> tuple[str, list[str]]:
    if argv and not argv[0].startswith("-"):
        if argv[0] not in SUBCOMMANDS:
            raise SystemExit(f"{PROG}: error: unknown subcommand {argv[0]!r}; "
                             f"choose from {', '.join(SUBCOMMANDS)}")
        return argv[0], argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        raise SystemExit(0)
    resumed = _resumed_run(argv)
    if resumed:
        from i2a_keras.training.run_dir import run_subcommand

        subcommand = run_subcommand(resumed) or DEFAULT_SUBCOMMAND
        return subcommand, [subcommand] + argv
    return DEFAULT_SUBCOMMAND, [DEFAULT_SUBCOMMAND] + argv


def main(argv=None):
    """Parse ``argv`` and run the chosen subcommand; returns its result (a dict or None).

    Bad arguments exit with status 2 (``SystemExit``); other errors propagate as exceptions
    (:func:`cli`, the ``python -m`` entry point, turns user errors into one line).
    """
    argv = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--debug"]
    subcommand, argv = _split_subcommand(argv)
    parser = build_parser(subcommand)
    args = parser.parse_args(argv)
    import keras

    policy = keras.mixed_precision.global_policy()
    try:
        return args.func(args)
    except ArgumentValueError as exc:
        parser.error(str(exc))
    finally:  # a run's --mixed-precision does not leak into the caller (e.g. a notebook)
        keras.mixed_precision.set_global_policy(policy)


def cli(argv=None) -> int:
    """``python -m i2a_keras.train``: run :func:`main`, print its result; returns the exit status.

    A user error (see :func:`i2a_keras.training.cli.error_line`) prints one line on stderr and
    returns 1 (``--debug``: raise it with its traceback); a run stopped by SIGINT/SIGTERM returns
    128 + the signal number after its checkpoint.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        result = main(argv)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except Exception as exc:
        message = None if debug else error_line(exc)
        if message is None:
            raise
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 1
    if isinstance(result, dict):
        print(json.dumps(result, indent=2, default=str))
        if result.get("signal"):
            return 128 + signal.Signals[result["signal"]].value
    return 0


if __name__ == "__main__":
    sys.exit(cli())
