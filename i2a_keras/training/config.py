"""Dataclass configs shared by the training subcommands: presets, ``--set`` overrides, JSON I/O.

A subcommand's config is a tree of dataclasses. :func:`apply_override` sets a dotted key
(``a2c.learning_rate=3e-4``) with the value parsed according to the field's type annotation and
raises ``ValueError`` on unknown keys or unparsable values. :func:`config_to_dict` /
:func:`config_from_dict` round-trip a config through ``config.json``.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Union

from i2a_keras.envs.levels import check_level_spec
from i2a_keras.algos.a2c import A2CConfig
from i2a_keras.models.model_free import ModelFreeConfig

__all__ = ["EnvConfig", "RunConfig", "EvalConfig", "ActorCriticConfig", "apply_override",
           "apply_overrides", "config_to_dict", "config_from_dict", "config_keys", "parse_value",
           "model_free_preset", "MODEL_FREE_PRESETS", "GAMES", "minipacman_env", "save_config", "check_finite_config"]


GAMES = ("sokoban", "minipacman")
# Fields that only Sokoban reads; a MiniPacman config must leave them at their defaults.
SOKOBAN_ONLY_FIELDS = ("dim_room", "num_boxes", "action_set", "levels", "eval_levels",
                       "holdout_fraction")


@dataclass
class EnvConfig:
    """Environment settings: Sokoban (Sec. 4) or MiniPacman (Sec. 5), see docs/design.md.

    Training envs draw levels from the ``"train"`` split and evaluation envs from the held-out
    ``"eval"`` split of the level source, unless ``eval_levels`` names a held-out source of its own
    (e.g. Boxoban's ``unfiltered/valid``). With ``game="minipacman"`` the Sokoban-only fields
    (:data:`SOKOBAN_ONLY_FIELDS`) must keep their defaults.
    """

    game: str = "sokoban"
    """'sokoban' or 'minipacman' (Sec. 5: 15x19 RGB frames, 5 actions)"""
    task: str = ""
    """MiniPacman task: regular, avoid, hunt, ambush or rush (its reward weights and episode ends)"""
    dim_room: tuple = (7, 7)
    """Sokoban room size (rows, columns), walls included; the paper's is 10,10"""
    num_boxes: int = 2
    """boxes (and targets) per Sokoban level; the paper's is 4"""
    max_steps: int = 50
    """episode cap in steps (the paper's Sokoban: 120)"""
    observation: str = "one_hot"
    """'one_hot' (a channel per tile type, a pixel per tile), 'tiny_rgb' (an RGB pixel per tile) or 'rgb' (the paper's 80x80 sprites)"""
    action_set: str = "compact"
    """Sokoban actions: 'compact' (no-op + up/down/left/right, 5), 'moves' (the 4 without the no-op) or 'gym_sokoban' (its 9)"""
    levels: str = "generator"
    """level source: 'generator' (our I2A-style generator), 'boxoban:FOLDER' (DeepMind's level files), 'pool:FILE.npz' or 'gym_sokoban'"""
    eval_levels: str = ""
    """held-out level source for evaluation ('' = the eval split of levels)"""
    holdout_fraction: float = 0.1
    """share of a single level source kept for evaluation (disjoint by level content)"""
    train_seed: int = 0
    """seed of the training level stream (MiniPacman: of the training games)"""
    eval_seed: int = 1_000_003
    """seed of the evaluation level stream, kept apart from train_seed"""

    def __post_init__(self):
        self.dim_room = tuple(int(v) for v in self.dim_room)
        if self.game not in GAMES:
            raise ValueError(f"env.game must be one of {GAMES}, got {self.game!r}")
        if self.game == "minipacman":
            self._check_minipacman()
        elif self.task:
            raise ValueError(f"env.task={self.task!r} is a MiniPacman setting; Sokoban has no tasks "
                             "(set env.game=minipacman)")
        if len(self.dim_room) != 2 or min(self.dim_room) < 3:
            raise ValueError(f"env.dim_room must be two sizes >= 3, got {self.dim_room}")
        if self.num_boxes < 1 or self.max_steps < 1:
            raise ValueError(f"env.num_boxes and env.max_steps must be >= 1, got "
                             f"{self.num_boxes}, {self.max_steps}")
        if not 0.0 < self.holdout_fraction < 1.0:
            raise ValueError(f"env.holdout_fraction must be in (0, 1), got {self.holdout_fraction}")
        for key in ("levels", "eval_levels"):
            spec = getattr(self, key)
            if key == "eval_levels" and not spec:
                continue
            try:
                check_level_spec(spec)
            except ValueError as exc:
                raise ValueError(f"env.{key}: {exc}") from exc

    def _check_minipacman(self):
        from i2a_keras.envs.minipacman_core import TASKS

        if self.task not in TASKS:
            raise ValueError(f"env.task must be a MiniPacman task {tuple(TASKS)} with "
                             f"env.game=minipacman, got {self.task!r}")
        if self.observation != "rgb":
            raise ValueError(f"MiniPacman agents see uint8 RGB frames: env.observation must be 'rgb', "
                             f"got {self.observation!r}")
        default = EnvConfig()
        changed = [k for k in SOKOBAN_ONLY_FIELDS if getattr(self, k) != getattr(default, k)]
        if changed:
            raise ValueError(f"{', '.join('env.' + k for k in changed)}: Sokoban setting(s), not "
                             "used by env.game=minipacman (leave them at their defaults)")


MIXED_PRECISION_POLICIES = {"off": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}
"""``run.mixed_precision`` -> Keras dtype policy."""


@dataclass
class RunConfig:
    """Run-level settings: where, how long, seeds, logging and checkpoint cadence."""

    run_dir: str = ""
    """run directory: config.json, metrics.jsonl, TensorBoard events, checkpoints/"""
    total_frames: int = 1_000_000
    """environment frames to train for (all envs together)"""
    seed: int = 0
    """seed of the weights and the actions (CPU runs are reproducible)"""
    log_interval_frames: int = 10_000
    """frames between metrics.jsonl/TensorBoard rows"""
    checkpoint_interval_frames: int = 100_000
    """frames between checkpoints/latest.keras writes (a killed run resumes from the last)"""
    mixed_precision: str = "off"
    """'off' (float32), 'float16' (compute in float16 with loss scaling: GPUs, TensorFlow only) or
    'bfloat16' (no loss scaling: CPUs with AVX512-BF16 or AMX, recent GPUs, both backends);
    variables, logits and values stay float32"""
    progress: bool = True
    """show a tqdm progress bar"""
    deterministic: bool = False
    """TensorFlow op determinism (bit-identical reruns, slower)"""
    distributed: str = "local"
    """'local' (one process) or 'ray' (a2c.num_workers Ray actors collect; algos/ray_workers.py)"""
    ray_address: str = ""
    """with distributed=ray: '' starts a local Ray, 'auto' or 'HOST:6379' joins a cluster"""

    def __post_init__(self):
        legacy = {True: "float16", False: "off", "true": "float16", "false": "off"}
        if isinstance(self.mixed_precision, (bool, str)) and self.mixed_precision in legacy:
            self.mixed_precision = legacy[self.mixed_precision]  # written before the bfloat16 option
        if self.mixed_precision not in MIXED_PRECISION_POLICIES:
            raise ValueError(f"run.mixed_precision must be one of {sorted(MIXED_PRECISION_POLICIES)}, "
                             f"got {self.mixed_precision!r}")
        if self.distributed not in ("local", "ray"):
            raise ValueError(f"run.distributed must be 'local' or 'ray', got {self.distributed!r}")
        if self.total_frames < 1:
            raise ValueError(f"run.total_frames must be >= 1, got {self.total_frames}")
        if self.log_interval_frames < 1 or self.checkpoint_interval_frames < 1:
            raise ValueError("run.log_interval_frames and run.checkpoint_interval_frames must be >= 1")


@dataclass
class EvalConfig:
    """Held-out evaluation: % of ``num_levels`` unseen levels solved within ``env.max_steps``.

    Sampled actions (the default) are how the agent acts in training; greedy ones can loop forever
    in Sokoban (measured on the tiny preset: 31% greedy vs ~70% sampled after 40k frames).
    """

    num_levels: int = 200
    """held-out levels (MiniPacman: episodes) per evaluation"""
    num_envs: int = 50
    """envs that play them in parallel"""
    greedy: bool = False
    """take the arg-max action instead of sampling the policy (seeded, reproducible)"""
    interval_frames: int = 0
    """also evaluate every this many training frames (0: only the final evaluation)"""
    gif: bool = True
    """save a GIF of held-out episodes after training"""

    def __post_init__(self):
        if self.num_levels < 1 or self.num_envs < 1 or self.interval_frames < 0:
            raise ValueError("eval.num_levels and eval.num_envs must be >= 1, eval.interval_frames >= 0")


@dataclass
class ActorCriticConfig:
    """Config of an actor-critic training run (model-free baseline; reused by the I2A).

    ``agent`` is a name from :func:`i2a_keras.models.build_agent`; ``model`` its config dataclass.
    ``algo`` is ``"a2c"`` (synchronous, default) or ``"a3c"`` (``a2c.num_workers`` threads).
    """

    agent: str = "model-free"
    """agent name in the registry (i2a_keras.models.build_agent): model-free, i2a, i2a-copy-model, i2a-no-reward"""
    algo: str = "a2c"
    """'a2c' (synchronous) or 'a3c' (a2c.num_workers threads)"""
    env: EnvConfig = field(default_factory=EnvConfig)
    """EnvConfig"""
    model: Any = field(default_factory=ModelFreeConfig)
    """the agent's architecture config (ModelFreeConfig or I2AConfig)"""
    a2c: A2CConfig = field(default_factory=A2CConfig)
    """A2CConfig: the actor-critic hyper-parameters"""
    run: RunConfig = field(default_factory=RunConfig)
    """RunConfig"""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """EvalConfig"""

    def __post_init__(self):
        if self.algo not in ("a2c", "a3c"):
            raise ValueError(f"algo must be 'a2c' or 'a3c', got {self.algo!r}")
        if self.algo == "a3c" and self.a2c.num_minibatches != 1:
            raise ValueError("a2c.num_minibatches > 1 is for algo=a2c: an A3C worker applies one "
                             "gradient per rollout")


def _model_free_tiny() -> ActorCriticConfig:
    return ActorCriticConfig(
        env=EnvConfig(dim_room=(5, 5), num_boxes=1, max_steps=20),
        model=ModelFreeConfig(conv_filters=(8,), fc_units=32),
        a2c=A2CConfig(num_envs=8, num_steps=5),
        run=RunConfig(total_frames=2_000, log_interval_frames=400, checkpoint_interval_frames=1_000,
                      progress=False),
        eval=EvalConfig(num_levels=8, num_envs=8, gif=True))


def _model_free_small() -> ActorCriticConfig:
    return ActorCriticConfig(
        env=EnvConfig(dim_room=(7, 7), num_boxes=2, max_steps=50),
        a2c=A2CConfig(num_envs=32, num_steps=5, learning_rate=7e-4),
        run=RunConfig(total_frames=5_000_000, log_interval_frames=20_000,
                      checkpoint_interval_frames=200_000),
        eval=EvalConfig(num_levels=500, num_envs=100, interval_frames=1_000_000))


def _model_free_paper() -> ActorCriticConfig:
    return ActorCriticConfig(
        env=EnvConfig(dim_room=(10, 10), num_boxes=4, max_steps=120, observation="rgb",
                      action_set="compact"),
        a2c=A2CConfig(num_envs=128, num_steps=5, optimizer="adam", learning_rate=4e-4,
                      lr_schedule="linear", gamma=0.97, value_coef=0.25),
        run=RunConfig(total_frames=1_000_000_000, log_interval_frames=200_000,
                      checkpoint_interval_frames=5_000_000),
        eval=EvalConfig(num_levels=1000, num_envs=100, interval_frames=50_000_000))


def boxoban_env() -> EnvConfig:
    """The paper's task on one-hot grids (10x10, 4 boxes, 120 steps, Sec. 4.1) with 4 actions.

    Levels: DeepMind's Boxoban unfiltered train set, evaluated on unfiltered valid, when the level
    folder is found (:func:`i2a_keras.envs.boxoban.find_boxoban_dir`); otherwise our generator
    with a held-out hash split. Actions: ``moves`` (up/down/left/right): no no-op, as the Boxoban
    anchors use, and 4 imagined rollouts per I2A step instead of 5.
    """
    from i2a_keras.envs.boxoban import find_boxoban_dir

    root = find_boxoban_dir()
    train = os.path.join(root, "unfiltered", "train") if root else ""
    valid = os.path.join(root, "unfiltered", "valid") if root else ""
    found = bool(root) and os.path.isdir(train) and os.path.isdir(valid)
    return EnvConfig(dim_room=(10, 10), num_boxes=4, max_steps=120, observation="one_hot",
                     action_set="moves", levels=f"boxoban:{train}" if found else "generator",
                     eval_levels=f"boxoban:{valid}" if found else "")


def _model_free_boxoban() -> ActorCriticConfig:
    return ActorCriticConfig(
        env=boxoban_env(),
        model=ModelFreeConfig(conv_filters=(32, 32, 32), strides=(1, 1, 2)),
        a2c=A2CConfig(num_envs=128, num_steps=5, optimizer="adam", learning_rate=4e-4,
                      lr_schedule="linear", gamma=0.97, value_coef=0.25),
        run=RunConfig(total_frames=50_000_000, log_interval_frames=200_000,
                      checkpoint_interval_frames=1_000_000),
        eval=EvalConfig(num_levels=1000, num_envs=200, interval_frames=2_500_000))


def minipacman_env(task: str = "regular", max_steps: int = 300) -> EnvConfig:
    """MiniPacman ``task`` (Sec. 5) on 15x19 RGB frames, 5 actions, episodes cut at ``max_steps``."""
    return EnvConfig(game="minipacman", task=task, max_steps=max_steps, observation="rgb")


def _model_free_minipacman_tiny() -> ActorCriticConfig:
    return ActorCriticConfig(
        env=minipacman_env("regular", max_steps=30),
        model=ModelFreeConfig(conv_filters=(8,), fc_units=32),
        a2c=A2CConfig(num_envs=8, num_steps=5),
        run=RunConfig(total_frames=1_000, log_interval_frames=200, checkpoint_interval_frames=400,
                      progress=False),
        eval=EvalConfig(num_levels=8, num_envs=8, gif=True))


def _model_free_minipacman() -> ActorCriticConfig:
    return ActorCriticConfig(
        env=minipacman_env("regular", max_steps=300),
        a2c=A2CConfig(num_envs=32, num_steps=5, learning_rate=7e-4),
        run=RunConfig(total_frames=2_000_000, log_interval_frames=20_000,
                      checkpoint_interval_frames=200_000),
        eval=EvalConfig(num_levels=100, num_envs=50, interval_frames=500_000))


def _model_free_minipacman_paper() -> ActorCriticConfig:
    # The reference's episode cap (frame_cap 3000); A2C settings of the paper preset.
    return ActorCriticConfig(
        env=minipacman_env("regular", max_steps=3000),
        a2c=A2CConfig(num_envs=64, num_steps=5, optimizer="adam", learning_rate=4e-4,
                      lr_schedule="linear", gamma=0.99, value_coef=0.25),
        run=RunConfig(total_frames=40_000_000, log_interval_frames=200_000,
                      checkpoint_interval_frames=2_000_000),
        eval=EvalConfig(num_levels=200, num_envs=100, interval_frames=5_000_000))


MODEL_FREE_PRESETS = {"tiny": _model_free_tiny, "small": _model_free_small,
                      "boxoban": _model_free_boxoban, "paper": _model_free_paper,
                      "minipacman_tiny": _model_free_minipacman_tiny,
                      "minipacman": _model_free_minipacman,
                      "minipacman_paper": _model_free_minipacman_paper}


def model_free_preset(name: str) -> ActorCriticConfig:
    """``tiny`` (tests, seconds), ``small`` (CPU, 7x7 / 2 boxes), ``boxoban`` (10x10 / 4 boxes,
    one-hot, Boxoban levels), ``paper`` (GPU, 80x80 RGB), ``minipacman`` (CPU, MiniPacman regular,
    300-step episodes), ``minipacman_tiny`` (tests) or ``minipacman_paper`` (GPU, 3000-step episodes); pick the MiniPacman task
    with ``--set env.task=hunt``."""
    if name not in MODEL_FREE_PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(MODEL_FREE_PRESETS)}")
    return MODEL_FREE_PRESETS[name]()


# ---------------------------------------------------------------------------------------------
# Overrides and JSON round trip


def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _strip_optional(tp):
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return (args[0] if len(args) == 1 else tp), True
    return tp, False


def parse_value(text: str, tp, current=None, key: str = "value"):
    """Parse the string ``text`` as type ``tp`` (``int``, ``float``, ``bool``, ``str``, tuples,
    ``X | None``); ``Any`` uses the type of ``current``. Raises ``ValueError`` naming ``key``."""
    tp, optional = _strip_optional(tp)
    stripped = text.strip()
    if optional and stripped.lower() in ("none", "null"):
        return None
    if tp is Any:
        if current is None or dataclasses.is_dataclass(current):
            raise ValueError(f"cannot infer the type of {key}; set its sub-fields instead")
        tp = type(current)
    origin = typing.get_origin(tp) or tp
    try:
        if tp is bool:
            low = stripped.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if tp is int:
            value = float(stripped) if any(c in stripped.lower() for c in ".e") else int(stripped)
            if not math.isfinite(value) or float(value) != int(value):
                raise ValueError
            return int(value)
        if tp is float:
            value = float(stripped)
            if not math.isfinite(value):
                raise ValueError(f"invalid value for {key}: {text!r} is not a finite number")
            return value
        if tp is str:
            return stripped
        if origin in (tuple, list):
            inner = stripped.strip("()[] ")
            items = [s for s in inner.split(",") if s.strip()] if inner else []
            args = typing.get_args(tp)
            item_tp = args[0] if args else (type(current[0]) if current else int)
            return tuple(parse_value(s, item_tp, key=key) for s in items)
    except ValueError as exc:
        if "not a finite number" in str(exc):
            raise
    else:
        raise ValueError(f"unsupported type {tp} for {key}")
    raise ValueError(f"invalid value for {key}: {text!r} is not a valid {getattr(tp, '__name__', tp)}")


def config_keys(config, prefix: str = "") -> list[str]:
    """All dotted leaf keys of a config tree."""
    keys = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            keys.extend(config_keys(value, f"{prefix}{f.name}."))
        else:
            keys.append(prefix + f.name)
    return keys


def check_finite_config(config, _prefix: str = "") -> None:
    """Raise ``ValueError`` naming every float field (also inside tuples, in nested configs) that
    is NaN or inf."""
    bad = _non_finite_fields(config, _prefix)
    if bad:
        raise ValueError("non-finite config values: " + ", ".join(f"{k}={v!r}" for k, v in bad)
                         + " (every float setting must be a finite number)")


def _non_finite_fields(config, prefix):
    bad = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            bad += _non_finite_fields(value, f"{prefix}{f.name}.")
            continue
        items = value if isinstance(value, (tuple, list)) else (value,)
        flat = [v for item in items for v in (item if isinstance(item, (tuple, list)) else (item,))]
        if any(isinstance(v, float) and not math.isfinite(v) for v in flat):
            bad.append((prefix + f.name, value))
    return bad


def apply_override(config, key: str, text: str, _prefix: str = ""):
    """Return a copy of ``config`` with dotted ``key`` set to ``text`` parsed by the field type."""
    head, _, rest = key.partition(".")
    full = _prefix + key
    names = {f.name for f in dataclasses.fields(config)}
    if head not in names:
        raise ValueError(f"unknown config key {full!r}; valid keys: "
                         f"{', '.join(config_keys(config, _prefix))}")
    current = getattr(config, head)
    if rest:
        if not dataclasses.is_dataclass(current):
            raise ValueError(f"unknown config key {full!r}: {_prefix + head!r} has no sub-fields")
        return dataclasses.replace(
            config, **{head: apply_override(current, rest, text, _prefix + head + ".")})
    if dataclasses.is_dataclass(current):
        raise ValueError(f"config key {full!r} is a section; set one of its fields, e.g. "
                         f"{config_keys(current, _prefix + head + '.')[0]}")
    value = parse_value(text, _hints(type(config))[head], current, full)
    return dataclasses.replace(config, **{head: value})


def apply_overrides(config, overrides):
    """Apply ``["a.b=1", ...]`` overrides in order; raises ``ValueError`` on malformed items."""
    for item in overrides or ():
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {item!r} must look like key=value (e.g. a2c.learning_rate=3e-4)")
        config = apply_override(config, key.strip(), text)
    return config


def field_docs(cls) -> dict:
    """The docstring written under each field of the dataclass ``cls`` (CleanRL style), by name."""
    import ast
    import inspect
    import textwrap

    docs = {}
    for klass in reversed(cls.__mro__[:-1]):
        try:
            body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
        except (OSError, TypeError):
            continue
        for node, after in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def describe_config(config, prefix: str = "") -> list:
    """``(key, value, meaning)`` for every setting of a config tree: the dotted key and the value
    as ``--set key=value`` takes them, and the field's docstring."""
    rows, docs = [], field_docs(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            rows += describe_config(value, f"{prefix}{f.name}.")
            continue
        if isinstance(value, tuple):
            text = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            text = str(value).lower()
        else:
            text = "none" if value is None else str(value)
        rows.append((prefix + f.name, text, docs.get(f.name, "")))
    return rows


def config_to_dict(config) -> dict:
    """Plain JSON-able dict (tuples become lists) with each dataclass's class name."""
    out = {"__class__": type(config).__name__}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            value = config_to_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def config_from_dict(cls, data: dict, model_class: type | None = None):
    """Rebuild a config of type ``cls`` from :func:`config_to_dict` output.

    Fields typed ``Any`` that hold a dataclass (``ActorCriticConfig.model``) are rebuilt as
    ``model_class`` (or, if omitted, the registered config class of the agent named in ``data``).
    """
    hints = _hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        tp, _ = _strip_optional(hints[f.name])
        if isinstance(value, dict) and "__class__" in value:
            sub = tp if dataclasses.is_dataclass(tp) else model_class
            if sub is None and "agent" in data:
                from i2a_keras.models import agent_config_class
                sub = agent_config_class(data["agent"])
            if sub is None:
                raise ValueError(f"cannot rebuild config field {f.name!r}: unknown class "
                                 f"{value['__class__']}")
            value = config_from_dict(sub, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def save_config(config, path) -> None:
    """Write ``config`` as ``config.json`` (the file ``--resume`` reads back)."""
    with open(path, "w") as fh:
        json.dump(config_to_dict(config), fh, indent=2)
