"""Shared command-line helpers for the training subcommands (``python -m i2a_keras.train``).

A subcommand built on a config dataclass can reuse :func:`add_common_arguments` and
:func:`config_from_args`: ``--preset``, ``--set KEY=VALUE ...`` (repeatable), ``--run-dir``,
``--resume RUN_DIR`` (reads the run's config: ``RUN_DIR/config.json`` + its resume log),
``--total-frames``, ``--seed``, ``--num-envs``, ``--mixed-precision``, ``--algo``,
``--distributed``, ``--ray-address``, ``--print-config``. Flags
map to dotted config keys via ``flag_keys`` (default :data:`DEFAULT_FLAG_KEYS`); a flag whose key
the config lacks is an error.

Errors: :class:`ArgumentValueError` is a usage error (exit status 2); the exceptions in
:data:`USER_ERRORS` (bad level file, existing or locked run, bad checkpoint, divergence) are
reported by ``python -m i2a_keras.train`` as one line (:func:`error_line`, exit status 1, a
traceback with ``--debug``); anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import contextlib
import json
import os

from i2a_keras.training.config import (MIXED_PRECISION_POLICIES, apply_override, apply_overrides,
                                       check_finite_config, config_to_dict)

__all__ = ["ArgumentValueError", "PRESETS", "DEFAULT_PRESET", "DEFAULT_FLAG_KEYS", "USER_ERRORS",
           "add_common_arguments", "config_from_args", "print_config", "error_line", "refuse_on_resume"]

PRESETS = ("tiny", "small", "boxoban", "paper", "minipacman_tiny", "minipacman", "minipacman_paper")
DEFAULT_PRESET = "small"


class ArgumentValueError(ValueError):
    """A bad command-line value (unknown preset/key, wrong type); the CLI reports it as a usage
    error (exit status 2) instead of a traceback."""


DEFAULT_FLAG_KEYS = {
    "run_dir": "run.run_dir",
    "total_frames": "run.total_frames",
    "seed": "run.seed",
    "num_envs": "a2c.num_envs",
    "mixed_precision": "run.mixed_precision",
    "algo": "algo",
    "distributed": "run.distributed",
    "ray_address": "run.ray_address",
}

USER_ERRORS = (ValueError, OSError, FloatingPointError)
"""User errors: bad values and files (``ValueError``, e.g. ``CheckpointError``), file-system and
run-directory problems (``OSError``, e.g. ``RunDirLockedError``), divergence (``NonFiniteError``)."""

# Runs that a subcommand may resume besides its own kind (an i2a run of the model-free agent).
RESUMABLE_KINDS = {"i2a": ("model-free",)}


def error_line(exc: BaseException) -> str | None:
    """The one-line message of a user error (:data:`USER_ERRORS`), or None for a bug."""
    if not isinstance(exc, USER_ERRORS):
        return None
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename and exc.filename not in text:
        text = f"{text}: {exc.filename}"
    return text


def refuse_on_resume(args, *flags) -> None:
    """Raise :class:`ArgumentValueError` if ``--resume`` comes with one of ``flags`` (attribute
    names) set: they choose what a new run is, which a resumed run keeps from its config."""
    if not getattr(args, "resume", None):
        return
    given = [f"--{f.replace('_', '-')}" for f in flags if getattr(args, f, None) not in (None, False)]
    if given:
        raise ArgumentValueError(f"{', '.join(given)} cannot be used with --resume: the run keeps its "
                                 f"own {'preset' if given == ['--preset'] else 'settings'} (only "
                                 "run length, logging and evaluation settings may change on resume)")


def add_common_arguments(parser, flags=tuple(DEFAULT_FLAG_KEYS), resume: bool = True):
    """Add ``--preset``, ``--set``, ``--print-config`` and the given common flags to ``parser``."""
    parser.add_argument("--preset", default=None,
                        help="config preset: tiny (tests), small (CPU), boxoban (10x10 Boxoban, one-hot), paper (GPU); "
                             "MiniPacman (Sec. 5): minipacman_tiny (tests), minipacman (CPU), "
                             "minipacman_paper (GPU), task via --set env.task=NAME; default small "
                             "(not with --resume: a run keeps its config)")
    parser.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[],
                        metavar="KEY=VALUE", help="config overrides, e.g. a2c.learning_rate=3e-4 "
                        "env.num_boxes=1 (repeatable)")
    helps = {
        "run_dir": ("--run-dir", dict(help="run directory (default runs/<subcommand>_<preset>)")),
        "total_frames": ("--total-frames", dict(type=int, help="environment frames to train for")),
        "seed": ("--seed", dict(type=int, help="random seed (weights, actions)")),
        "num_envs": ("--num-envs", dict(type=int, help="parallel environments (per worker)")),
        "mixed_precision": ("--mixed-precision", dict(
            nargs="?", const="float16", default=None, choices=tuple(MIXED_PRECISION_POLICIES),
            help="mixed-precision compute: float16 with loss scaling (the default of the bare "
                 "flag; GPUs, TensorFlow), bfloat16 (CPUs with AVX512-BF16/AMX, recent GPUs; "
                 "both backends) or off (float32; a resume may switch off <-> bfloat16)")),
        "algo": ("--algo", dict(choices=("a2c", "a3c"), default=None,
                                help="synchronous A2C (default) or asynchronous A3C "
                                     "(a2c.num_workers threads)")),
        "distributed": ("--distributed", dict(choices=("local", "ray"), default=None,
                                              help="ray: a2c.num_workers rollout workers as Ray "
                                                   "actors, the learner in this process (needs "
                                                   "pip install -e '.[ray]')")),
        "ray_address": ("--ray-address", dict(default=None, metavar="ADDRESS",
                                              help="with --distributed ray: join this Ray cluster "
                                                   "(auto, HOST:6379; default: start a local one)")),
    }
    for flag in flags:
        name, kwargs = helps[flag]
        parser.add_argument(name, dest=flag, **kwargs)
    if resume:
        parser.add_argument("--resume", metavar="RUN_DIR",
                            help="continue the run in RUN_DIR from checkpoints/latest.keras (the "
                                 "subcommand is read from the run)")
    parser.add_argument("--print-config", nargs="?", const="json", default=None, choices=("json", "keys"),
                        help="print the config and exit: as JSON, or 'keys': every key --set takes, "
                             "with its value and meaning")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return parser


def config_from_args(args, build_config, load_config, flag_keys=None):
    """Config from ``--preset`` (or ``--resume``'s config.json), then flags, then ``--set``.

    Raises :class:`ArgumentValueError` (a ``ValueError``) for an unknown preset/key or a bad value.
    """
    from i2a_keras.envs.levels import level_paths_unchecked

    # On resume the trainer opens the levels, wherever they now are.
    paths = level_paths_unchecked() if getattr(args, "resume", None) else contextlib.nullcontext()
    try:
        with paths:
            return _config_from_args(args, build_config, load_config, flag_keys)
    except ArgumentValueError:
        raise
    except ValueError as exc:
        raise ArgumentValueError(str(exc)) from exc


def _config_from_args(args, build_config, load_config, flag_keys):
    flag_keys = {**DEFAULT_FLAG_KEYS, **(flag_keys or {})}
    resume = getattr(args, "resume", None)
    if resume:
        from i2a_keras.training.run_dir import RunDir, run_subcommand

        refuse_on_resume(args, "preset")
        path = os.path.join(resume, "config.json")
        if not os.path.isfile(path):
            raise ValueError(f"--resume {resume}: no config.json in that directory")
        kind, wanted = run_subcommand(resume), getattr(args, "subcommand", None)
        if wanted and kind and kind != wanted and kind not in RESUMABLE_KINDS.get(wanted, ()):
            raise ValueError(f"--resume {resume}: that run was made by the {kind} subcommand, not "
                             f"{wanted}; resume it with `python -m i2a_keras.train --resume {resume}`")
        config = RunDir(resume).saved_config(load_config)
        run_dir = getattr(args, "run_dir", None)
        if run_dir and os.path.abspath(run_dir) != os.path.abspath(resume):
            raise ValueError("--run-dir and --resume name different directories")
        args.run_dir = resume
    else:
        args.preset = args.preset or DEFAULT_PRESET
        if args.preset not in PRESETS:
            raise ValueError(f"unknown preset {args.preset!r}; choose from {', '.join(PRESETS)}")
        config = build_config(args.preset)
    for flag, key in flag_keys.items():
        value = getattr(args, flag, None)
        if value is None:
            continue
        try:
            config = apply_override(config, key, str(value))
        except ValueError as exc:
            raise ValueError(f"--{flag.replace('_', '-')}: {exc}") from exc
    config = apply_overrides(config, args.overrides)
    check_finite_config(config)
    return config


def print_config(config, style: str = "json") -> None:
    """Print ``config`` as JSON, or (``style="keys"``) one line per ``--set`` key: value, meaning."""
    if style != "keys":
        print(json.dumps(config_to_dict(config), indent=2))
        return
    from i2a_keras.training.config import describe_config

    rows = describe_config(config)
    key_width = max(len(k) for k, _, _ in rows)
    value_width = min(24, max(len(v) for _, v, _ in rows))
    for key, value, meaning in rows:
        print(f"{key:<{key_width}}  {value:<{value_width}}  {meaning}".rstrip())
