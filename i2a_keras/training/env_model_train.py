"""Pretraining the environment model by maximum likelihood (Weber et al., 2017, Sec. 3.2, App.).

``python -m i2a_keras.train env-model --preset small --data DIR[,DIR] --eval-data DIR --run-dir R``
trains an :class:`~i2a_keras.models.env_model.EnvModel` on transition data sets written by
``python -m i2a_keras.train collect`` (:mod:`i2a_keras.training.collect`), with the same run-dir,
checkpoint, resume and TensorBoard conventions as the agent trainer (``training/run_dir.py``,
``training/checkpoint.py``). "frames" in ``run.*`` count training transitions processed.

The loop is Keras's: ``model.compile(optimizer=Adam(linear decay, global_clipnorm))`` and
``model.fit`` on :class:`~i2a_keras.training.env_model_data.TransitionBatches` (memory-mapped
shards, seeded order fixed by the step index) with the loss of ``EnvModel.compute_loss``. The same
config and checkpoints train under any Keras backend (``KERAS_BACKEND=tensorflow`` or ``jax``).
One ``fit`` call is one Keras epoch covering the session's remaining steps; logging, evaluation,
checkpoints and the SIGINT/SIGTERM stop are callbacks that fire on global frame counts:

* :class:`ScalarLogCallback`: ``metrics.jsonl`` / ``tb/`` through ``run_dir.ScalarLogger``
  (``losses/total``, ``losses/frame_nll``, ``losses/reward_nll``, ``charts/SPS``,
  ``charts/learning_rate``, ``train/cell_acc``, ``train/frame_acc``, ``train/reward_acc``,
  ``train/reward_acc_nonstep``), averages over each log interval (it resets the model's metrics).
  Keras's ``TensorBoard`` callback is not used because it names scalars ``epoch_*``/``batch_*``
  and steps them by epoch/batch, not by frames.
* :class:`CheckpointCallback`: the project's atomic ``checkpoints/latest.keras`` (model + Adam state,
  whose ``iterations`` is the step counter, + training state) every
  ``run.checkpoint_interval_frames``. ``keras.callbacks.BackupAndRestore`` is not used: it restores
  an interrupted epoch from its start (here, the whole session), writes ``.weights.h5`` files
  outside the project's atomic, self-describing ``.keras`` checkpoints and deletes its backup when
  training ends. Since the model has no randomness and the batch of a step is fixed, resuming from
  ``latest.keras`` repeats exactly the steps an uninterrupted run takes (tested bit for bit).
* :class:`EvalCallback` (``eval_interval_frames``), :class:`StopOnSignal` (``run_dir.StopFlag``)
  and a progress bar.

The run dir gets ``checkpoints/latest.keras`` (loadable with ``load_env_model``),
``checkpoints/final.keras``, ``metrics.jsonl`` / ``tb/``, ``eval.jsonl`` (``eval/*``) and
``env_model_eval.json`` (held-out metrics, see :mod:`i2a_keras.training.env_model_eval`) and
``env_model_rollout.png``.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field

import keras
import numpy as np
from keras import ops

from i2a_keras.models.env_model import EnvModel, EnvModelConfig
from i2a_keras.training.config import RunConfig, config_from_dict

__all__ = ["EnvModelTrainConfig", "env_model_preset", "train_env_model", "add_env_model_parser",
           "add_collect_parser", "run_env_model_command", "run_collect_command", "lr_schedule",
           "ScalarLogCallback", "CheckpointCallback", "EvalCallback", "StopOnSignal",
           "RESUMABLE_KEYS"]

# Settings that may change when a run is resumed (the others are fixed by the checkpoint).
RESUMABLE_KEYS = ("run.total_frames", "run.log_interval_frames", "run.checkpoint_interval_frames",
                  "run.progress", "eval_data", "eval_samples", "eval_windows", "rollout_k",
                  "eval_interval_frames", "figure")


@dataclass
class EnvModelTrainConfig:
    """Config of an environment-model pretraining run (``run.total_frames`` = transitions seen).

    ``model.obs_shape``, ``model.observation``, ``model.num_actions`` and ``model.palette`` are
    taken from the data set's metadata.
    """

    model: EnvModelConfig = field(default_factory=lambda: EnvModelConfig.preset("small"))
    """EnvModelConfig"""
    data: tuple[str, ...] = ()
    """transition data set directories to train on (made by `collect`)"""
    eval_data: tuple[str, ...] = ()
    """held-out data set directories (levels not trained on) for the accuracy report"""
    batch_size: int = 64
    """transitions per training step"""
    learning_rate: float = 1e-3
    """Adam's initial learning rate"""
    lr_final_fraction: float = 0.1
    """the learning rate decays linearly to this fraction of learning_rate"""
    clip_norm: float = 10.0
    """global gradient-norm clip"""
    max_transitions: int = 0
    """use at most this many training transitions (0: all)"""
    eval_samples: int = 5000
    """held-out transitions scored one step ahead"""
    eval_windows: int = 1000
    """held-out open-loop windows of rollout_k steps scored"""
    rollout_k: int = 5
    """open-loop steps of the evaluation windows and the rollout figure"""
    eval_interval_frames: int = 0
    """also evaluate every this many transitions seen (0: at the end only)"""
    figure: bool = True
    """save real vs imagined frames (env_model_rollout.png)"""
    data_workers: int = 1
    """PyDataset threads preparing batches ahead of the training step (1: in the training thread)"""
    run: RunConfig = field(default_factory=lambda: RunConfig(
        total_frames=2_000_000, log_interval_frames=20_000, checkpoint_interval_frames=200_000))
    """RunConfig (run.total_frames: transitions seen)"""

    def __post_init__(self):
        self.data = tuple(self.data)
        self.eval_data = tuple(self.eval_data)
        if self.batch_size < 1 or self.learning_rate <= 0 or self.rollout_k < 1:
            raise ValueError("batch_size and rollout_k must be >= 1 and learning_rate > 0")
        if not 0.0 < self.lr_final_fraction <= 1.0:
            raise ValueError(f"lr_final_fraction must be in (0, 1], got {self.lr_final_fraction}")
        if self.data_workers < 1 or self.max_transitions < 0 or self.eval_interval_frames < 0:
            raise ValueError("data_workers must be >= 1, max_transitions and eval_interval_frames >= 0")
        if self.run.mixed_precision != "off":
            raise ValueError("env-model pretraining runs in float32 (run.mixed_precision=off): the "
                             "frozen model an I2A imagines with is the float32 one it was trained as")


def env_model_preset(name: str) -> EnvModelTrainConfig:
    """``tiny`` (tests, seconds), ``small`` (CPU, 7x7 one-hot, compact model), ``boxoban`` (the
    compact model on 10x10 one-hot Boxoban data), ``paper`` (GPU); MiniPacman (frames + events,
    :mod:`i2a_keras.models.minipacman_env_model`): ``minipacman_tiny`` (tests), ``minipacman``
    (CPU, 32 channels) and ``minipacman_paper`` (GPU, the paper-size trunk)."""
    if name == "tiny":
        return EnvModelTrainConfig(model=EnvModelConfig.preset("tiny"), batch_size=32, eval_samples=300,
                                   eval_windows=50, rollout_k=3, figure=False,
                                   run=RunConfig(total_frames=3_200, log_interval_frames=640,
                                                 checkpoint_interval_frames=1_600, progress=False))
    if name == "small":
        return EnvModelTrainConfig()
    if name == "boxoban":  # the compact model on 10x10 one-hot frames (shape taken from the data)
        return EnvModelTrainConfig(run=RunConfig(total_frames=4_000_000, log_interval_frames=40_000,
                                                 checkpoint_interval_frames=400_000))
    if name.startswith("minipacman"):  # one model for all five tasks: frames + events (Sec. 5)
        from i2a_keras.models.minipacman_env_model import minipacman_env_model_config
        if name == "minipacman_tiny":
            return EnvModelTrainConfig(model=minipacman_env_model_config("tiny"), batch_size=32,
                                       eval_samples=300, eval_windows=50, rollout_k=3, figure=False,
                                       run=RunConfig(total_frames=1_600, log_interval_frames=320,
                                                     checkpoint_interval_frames=800, progress=False))
        if name == "minipacman":
            return EnvModelTrainConfig(model=minipacman_env_model_config("small"),
                                       run=RunConfig(total_frames=2_000_000, log_interval_frames=20_000,
                                                     checkpoint_interval_frames=200_000))
        return EnvModelTrainConfig(model=minipacman_env_model_config("paper_size"), learning_rate=5e-4,
                                   data_workers=4,
                                   run=RunConfig(total_frames=20_000_000, log_interval_frames=100_000,
                                                 checkpoint_interval_frames=1_000_000))
    if name == "paper":
        return EnvModelTrainConfig(model=EnvModelConfig.preset("paper"),
                                   batch_size=64, learning_rate=5e-4, data_workers=4,
                                   run=RunConfig(total_frames=20_000_000, log_interval_frames=100_000,
                                                 checkpoint_interval_frames=1_000_000))
    raise ValueError(f"unknown env-model preset {name!r}; choose from ['boxoban', 'paper', 'small', "
                     "'tiny', 'minipacman_tiny', 'minipacman', 'minipacman_paper']")


def _model_cfg_from_data(cfg: EnvModelTrainConfig, meta: dict) -> EnvModelConfig:
    from i2a_keras.models.minipacman_env_model import EVENT_COUNT_VALUES
    if bool(meta.get("events")) != (tuple(cfg.model.reward_values) == EVENT_COUNT_VALUES):
        kind = "MiniPacman (event)" if meta.get("events") else "Sokoban (reward)"
        raise ValueError(f"the data are {kind} transitions but the model config is not: use the "
                         f"{'minipacman' if meta.get('events') else 'tiny/small/boxoban/paper'} "
                         "env-model presets for them")
    palette = None if meta.get("palette") is None else tuple(tuple(c) for c in meta["palette"])
    return dataclasses.replace(cfg.model, observation=meta["observation"], obs_shape=tuple(meta["obs_shape"]),
                               num_actions=int(meta["num_actions"]), palette=palette)


def lr_schedule(cfg: EnvModelTrainConfig) -> keras.optimizers.schedules.LearningRateSchedule:
    """Linear decay per step from ``learning_rate`` to ``lr_final_fraction * learning_rate`` over
    ``run.total_frames`` (``total_frames / batch_size`` steps), then constant."""
    return keras.optimizers.schedules.PolynomialDecay(
        cfg.learning_rate, decay_steps=max(1.0, cfg.run.total_frames / cfg.batch_size),
        end_learning_rate=cfg.learning_rate * cfg.lr_final_fraction, power=1.0)


def _int(value) -> int:
    return int(ops.convert_to_numpy(value))


# ---------------------------------------------------------------------------------------------
# Callbacks: each acts when the global frame count crosses a multiple of its interval.


class _OnFrames(keras.callbacks.Callback):
    """Counts global steps from ``start_step``; ``on_frames(step, logs)`` runs whenever
    ``step * batch_size`` crosses a multiple of ``interval_frames`` (and at ``last_step`` when
    ``at_last``). Subclasses read the model through ``self.model`` (which syncs the JAX state)."""

    def __init__(self, batch_size: int, interval_frames: int, start_step: int, last_step: int,
                 at_last: bool = False):
        super().__init__()
        self.batch_size, self.interval = int(batch_size), int(interval_frames)
        self.step, self.last_step, self.at_last = int(start_step), int(last_step), at_last

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        frames = self.step * self.batch_size
        if (self.interval and frames // self.interval > (frames - self.batch_size) // self.interval) or (
                self.at_last and self.step == self.last_step):
            self.on_frames(self.step, logs or {})

    def on_frames(self, step: int, logs: dict) -> None:
        raise NotImplementedError


class ScalarLogCallback(_OnFrames):
    """Training scalars averaged over each log interval, to TensorBoard and ``metrics.jsonl``."""

    NAMES = {"loss": "losses/total", "frame_nll": "losses/frame_nll", "reward_nll": "losses/reward_nll",
             "cell_acc": "train/cell_acc", "frame_acc": "train/frame_acc", "reward_acc": "train/reward_acc",
             "reward_acc_nonstep": "train/reward_acc_nonstep"}

    def __init__(self, logger, batch_size, interval_frames, start_step, last_step, bar=None):
        super().__init__(batch_size, interval_frames, start_step, last_step, at_last=True)
        self.logger, self.bar = logger, bar
        self._t0, self._s0 = time.time(), start_step

    def on_frames(self, step, logs):
        model = self.model
        scalars = {self.NAMES[k]: float(v) for k, v in logs.items() if k in self.NAMES}
        scalars["charts/SPS"] = (step - self._s0) * self.batch_size / max(1e-9, time.time() - self._t0)
        scalars["charts/learning_rate"] = float(ops.convert_to_numpy(model.optimizer.learning_rate))
        self.logger.log(step * self.batch_size, scalars)
        if self.bar is not None and "losses/total" in scalars:
            self.bar.set_postfix(loss=f"{scalars['losses/total']:.3f}")
        model.reset_metrics()  # the next row averages the next interval only
        self._t0, self._s0 = time.time(), step


class CheckpointCallback(_OnFrames):
    """Atomic ``latest.keras`` (``training/checkpoint.py``) every ``interval_frames``."""

    def __init__(self, save, batch_size, interval_frames, start_step, last_step):
        super().__init__(batch_size, interval_frames, start_step, last_step)
        self.save = save

    def on_frames(self, step, logs):
        self.save(self.model)


class EvalCallback(_OnFrames):
    """Held-out evaluation (``evaluate(model)``) every ``interval_frames``."""

    def __init__(self, evaluate, batch_size, interval_frames, start_step, last_step):
        super().__init__(batch_size, interval_frames, start_step, last_step)
        self.evaluate = evaluate

    def on_frames(self, step, logs):
        self.evaluate(self.model)


class StopOnSignal(keras.callbacks.Callback):
    """Ends ``fit`` after the current step once ``stop_flag.stop`` is set (SIGINT/SIGTERM)."""

    def __init__(self, stop_flag, model):
        super().__init__()
        self.stop_flag, self.target = stop_flag, model  # no self.model: that would sync JAX state

    def on_train_batch_end(self, batch, logs=None):
        if self.stop_flag.stop:
            self.target.stop_training = True


class _FiniteLoss(keras.callbacks.Callback):
    """Raises :class:`~i2a_keras.training.checkpoint.NonFiniteError` (naming the last good
    checkpoint) as soon as a step's loss is NaN or infinite; no checkpoint is written after it."""

    def __init__(self, checkpoint_path: str, batch_size: int, start_step: int):
        super().__init__()
        self.path, self.batch_size, self.step = checkpoint_path, int(batch_size), int(start_step)

    def on_train_batch_end(self, batch, logs=None):
        from i2a_keras.training.checkpoint import NonFiniteError, last_good_checkpoint

        self.step += 1
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            raise NonFiniteError(f"env-model training diverged after {self.step * self.batch_size} "
                                 f"frames: loss is {float(loss)}. {last_good_checkpoint(self.path)}")


class _ProgressCallback(keras.callbacks.Callback):
    def __init__(self, bar, batch_size):
        super().__init__()
        self.bar, self.batch_size = bar, batch_size

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(self.batch_size)


# ---------------------------------------------------------------------------------------------


def _build_or_resume(cfg: EnvModelTrainConfig, run_dir, resume: bool, num_transitions: int):
    from i2a_keras.training.checkpoint import load_checkpoint, resumable_optimizer

    if resume:
        model, state, _ = load_checkpoint(run_dir.latest_checkpoint, compile=True)
        if not isinstance(model, EnvModel) or state.get("kind") != "env_model":
            raise ValueError(f"{run_dir.latest_checkpoint} is not an env-model training checkpoint")
        for key, now in (("batch_size", cfg.batch_size), ("seed", cfg.run.seed),
                         ("num_transitions", num_transitions)):
            if key in state and int(state[key]) != now:
                raise ValueError(f"{key} is {now} but the run was trained with {state[key]}; the batch "
                                 "order follows from (seed, data, batch size, step), so it cannot change "
                                 "on resume (start a new run instead)")
        step = _int(resumable_optimizer(model, run_dir.latest_checkpoint).iterations)
        if int(state.get("frames", step * cfg.batch_size)) != step * cfg.batch_size:
            raise ValueError(f"checkpoint state says {state['frames']} frames but its optimizer made "
                             f"{step} steps of {cfg.batch_size}")
        model.optimizer.learning_rate = lr_schedule(cfg)  # the config's, also if total_frames changed
    else:
        from i2a_keras.models.minipacman_env_model import EVENT_COUNT_VALUES, MiniPacmanEnvModel
        keras.utils.set_random_seed(cfg.run.seed)
        model_class = MiniPacmanEnvModel if tuple(cfg.model.reward_values) == EVENT_COUNT_VALUES else EnvModel
        model = model_class.from_env_model_config(cfg.model, name="env_model", dtype="float32")
        model.compile(optimizer=keras.optimizers.Adam(lr_schedule(cfg), global_clipnorm=cfg.clip_norm))
        step = 0
    return model, step


def train_env_model(cfg: EnvModelTrainConfig, resume: bool = False) -> dict:
    """Train (or resume) an env model with ``model.fit``; returns the final held-out metrics
    (``{"frames": ...}`` only without eval data, plus ``stopped_early`` after SIGINT/SIGTERM).

    Holds the run directory's lock; a resume may change only :data:`RESUMABLE_KEYS` (recorded in
    the resume log) and its checkpoint is checked before anything is written.
    """
    from i2a_keras.training.config import check_finite_config
    from i2a_keras.training.run_dir import RunDir

    check_finite_config(cfg)
    if not cfg.data:
        raise ValueError("no training data: pass --data DIR (written by `python -m i2a_keras.train collect`)")
    run_dir = RunDir(cfg.run.run_dir)
    with run_dir.lock():
        return _train_env_model(cfg, resume, run_dir.create(resume))


def _train_env_model(cfg: EnvModelTrainConfig, resume: bool, run_dir) -> dict:
    from i2a_keras.training.checkpoint import CheckpointError, read_training_state, save_checkpoint
    from i2a_keras.training.collect import TransitionStore, open_transitions
    from i2a_keras.training.env_model_data import TransitionBatches
    from i2a_keras.training.env_model_eval import evaluate_env_model, save_rollout_figure
    from i2a_keras.training.run_dir import ScalarLogger, StopFlag, progress_bar

    if resume:
        changes = run_dir.check_resume(cfg, RESUMABLE_KEYS)
        state = read_training_state(run_dir.latest_checkpoint)[0]
        if state.get("kind") != "env_model":
            raise CheckpointError(f"{run_dir.latest_checkpoint} is not an env-model training checkpoint")
    store = TransitionStore(list(cfg.data), cfg.max_transitions or None)
    cfg = dataclasses.replace(cfg, model=_model_cfg_from_data(cfg, store.meta))
    eval_data = None
    if cfg.eval_data:
        eval_data, eval_meta = open_transitions(list(cfg.eval_data))
        if eval_meta["obs_shape"] != store.meta["obs_shape"] or eval_meta["observation"] != store.observation:
            raise ValueError("eval data and training data have different observations")
    model, step = _build_or_resume(cfg, run_dir, resume, len(store))
    if resume:  # after the resume checks: a refused resume changes nothing
        run_dir.record_resume(step * cfg.batch_size, changes)
    else:
        run_dir.start_fresh(cfg)
    batch = cfg.batch_size
    total_steps = math.ceil(cfg.run.total_frames / batch)
    logger = ScalarLogger(run_dir, resume_from_frames=step * batch if resume else None)

    def save(m, path=run_dir.latest_checkpoint):
        steps = _int(m.optimizer.iterations)
        save_checkpoint(path, m, state={"frames": steps * batch, "steps": steps, "batch_size": batch,
                                        "seed": cfg.run.seed, "num_transitions": len(store),
                                        "kind": "env_model"})

    def evaluate(m):
        metrics = evaluate_env_model(m, eval_data, cfg.rollout_k, cfg.eval_samples, cfg.eval_windows,
                                     seed=cfg.run.seed)
        scalars = {f"eval/{k}": v for k, v in metrics.items() if isinstance(v, float) and np.isfinite(v)}
        for key in ("rollout_cell_acc", "rollout_frame_acc", "rollout_reward_acc", "rollout_events_acc"):
            for k, v in enumerate(metrics.get(key, []), start=1):
                scalars[f"eval/{key}_{k}"] = v
        logger.log(_int(m.optimizer.iterations) * batch, scalars, file="eval.jsonl")
        return metrics

    bar = progress_bar(total_steps * batch, step * batch, cfg.run.progress, desc="env-model")
    with StopFlag() as stop_flag:
        callbacks = [_ProgressCallback(bar, batch),
                     ScalarLogCallback(logger, batch, cfg.run.log_interval_frames, step, total_steps, bar),
                     CheckpointCallback(save, batch, cfg.run.checkpoint_interval_frames, step, total_steps),
                     StopOnSignal(stop_flag, model),
                     _FiniteLoss(run_dir.latest_checkpoint, batch, step)]
        if eval_data is not None and cfg.eval_interval_frames:
            callbacks.insert(2, EvalCallback(evaluate, batch, cfg.eval_interval_frames, step, total_steps))
        if step < total_steps:
            batches = TransitionBatches(store, batch, total_steps - step, seed=cfg.run.seed, start_step=step,
                                        reward_values=model.reward_values, workers=cfg.data_workers)
            model.fit(batches, epochs=1, shuffle=False, verbose=0, callbacks=callbacks)  # the stream's order
        signal_name = stop_flag.signal_name
    bar.close()
    frames = _int(model.optimizer.iterations) * batch
    save(model)
    if frames < total_steps * batch:  # SIGTERM/SIGINT: the checkpoint above lets --resume continue
        logger.close()
        return {"frames": frames, "stopped_early": True, "checkpoint": run_dir.latest_checkpoint,
                "signal": signal_name}
    save(model, run_dir.final_checkpoint)
    result = {"frames": frames}
    if eval_data is not None:
        result = {**evaluate(model), "frames": frames}
        with open(run_dir.join("env_model_eval.json"), "w") as fh:
            json.dump(result, fh, indent=2)
        if cfg.figure:
            save_rollout_figure(model, eval_data, run_dir.join("env_model_rollout.png"), k=cfg.rollout_k,
                                seed=cfg.run.seed)
    logger.close()
    return result


# ---------------------------------------------------------------------------------------------
# CLI (hooked into ``python -m i2a_keras.train``)


def add_env_model_parser(subparsers):
    """``env-model`` subcommand (hook style "subparsers", see ``i2a_keras/train.py``)."""
    from i2a_keras.training.cli import add_common_arguments
    p = subparsers.add_parser("env-model", help="pretrain the environment model on collected transitions")
    add_common_arguments(p, flags=("run_dir", "total_frames", "seed"))
    p.add_argument("--data", default=None, help="comma-separated training data set directories")
    p.add_argument("--eval-data", dest="eval_data", default=None,
                   help="comma-separated held-out data set directories (levels not trained on)")
    p.add_argument("--model-preset", dest="model_preset", default=None,
                   choices=["tiny", "small", "compact32", "paper_size", "paper"],
                   help="architecture preset (EnvModelConfig.preset) replacing the run preset's model")
    p.set_defaults(func=run_env_model_command)
    return p


def _load_train_config(data: dict) -> EnvModelTrainConfig:
    return config_from_dict(EnvModelTrainConfig, data, model_class=EnvModelConfig)


def run_env_model_command(args) -> dict | None:
    from i2a_keras.training.cli import config_from_args, print_config, refuse_on_resume

    def build(preset):
        cfg = env_model_preset(preset)
        if args.model_preset:
            cfg = dataclasses.replace(cfg, model=EnvModelConfig.preset(args.model_preset))
        return cfg

    refuse_on_resume(args, "model_preset")
    cfg = config_from_args(args, build, _load_train_config,
                           flag_keys={"total_frames": "run.total_frames", "seed": "run.seed",
                                      "data": "data", "eval_data": "eval_data"})
    if not cfg.run.run_dir:
        cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, run_dir=f"runs/env_model_{args.preset}"))
    if args.print_config:
        print_config(cfg, args.print_config)
        return None
    return train_env_model(cfg, resume=bool(args.resume))


def add_collect_parser(subparsers):
    """``collect`` subcommand (hook style "subparsers", see ``i2a_keras/train.py``)."""
    from i2a_keras.training.cli import add_common_arguments
    p = subparsers.add_parser("collect", help="collect transitions for environment-model pretraining")
    add_common_arguments(p, flags=("seed", "num_envs"), resume=False)
    p.add_argument("--out", required=True, help="output data set directory (must not exist yet)")
    p.add_argument("--split", default=None, choices=["train", "eval"],
                   help="train: training levels (env.train_seed); eval: held-out levels (env.eval_seed)")
    p.add_argument("--policy", default=None, choices=["random", "agent", "scripted"],
                   help="random (default), a model-free agent (--agent-checkpoint) or, for MiniPacman, "
                        "the scripted pill-and-ghost player")
    p.add_argument("--agent-checkpoint", dest="agent_checkpoint", default=None,
                   help="model-free .keras checkpoint (implies --policy agent)")
    p.add_argument("--epsilon", type=float, default=None, help="probability of a uniform-random action")
    p.add_argument("--num-transitions", dest="num_transitions", type=int, default=None)
    p.set_defaults(func=run_collect_command)
    return p


def run_collect_command(args) -> dict | None:
    from i2a_keras.training.cli import config_from_args, print_config
    from i2a_keras.training.collect import collect, collect_preset
    if args.agent_checkpoint and args.policy is None:
        args.policy = "agent"
    cfg = config_from_args(args, collect_preset, None,
                           flag_keys={"seed": "seed", "num_envs": "num_envs", "split": "split",
                                      "agent_checkpoint": "agent_checkpoint", "policy": "policy",
                                      "epsilon": "epsilon", "num_transitions": "num_transitions"})
    if args.print_config:
        print_config(cfg, args.print_config)
        return None
    meta = collect(cfg, args.out)
    return {"out": args.out, "num_transitions": meta["num_transitions"], "reward_counts": meta["reward_counts"],
            "seconds": meta["seconds"]}
