"""Pretraining the environment model by maximum likelihood (Weber et al., 2017, Sec. 3.2, App.).

``python -m i2a_keras.train env-model --preset small --data DIR[,DIR] --eval-data DIR --run-dir R``
trains an :class:`~i2a_keras.models.env_model.EnvModel` on transition data sets written by
``python -m i2a_keras.train collect`` (:mod:`i2a_keras.training.collect`), with the same run-dir,
checkpoint, resume and TensorBoard conventions as the agent trainer (``training/run_dir.py``,
``training/checkpoint.py``). "frames" in ``run.*`` count training transitions processed.

The run dir gets ``checkpoints/latest.keras`` (model + Adam state + counters + numpy/TF RNG
states; loadable with ``load_env_model``), ``checkpoints/final.keras``, ``metrics.jsonl`` /
``tb/`` (``losses/total``, ``losses/frame_nll``, ``losses/reward_nll``, ``charts/SPS``,
``eval/*``), ``eval.jsonl`` and ``env_model_eval.json`` (held-out metrics, see
:mod:`i2a_keras.training.env_model_eval`) and ``env_model_rollout.png``.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field

import numpy as np

from i2a_keras.models.env_model import (EnvModel, EnvModelConfig, env_model_loss, frame_classes,
                                        reward_classes)
from i2a_keras.training.config import RunConfig, config_from_dict

__all__ = ["EnvModelTrainConfig", "env_model_preset", "train_env_model", "add_env_model_parser",
           "add_collect_parser", "run_env_model_command", "run_collect_command", "RESUMABLE_KEYS"]

# Settings that may change when a run is resumed (the others are fixed by the checkpoint).
RESUMABLE_KEYS = ("run.total_frames", "run.log_interval_frames", "run.checkpoint_interval_frames",
                  "run.progress", "eval_data", "eval_samples", "eval_windows", "rollout_k",
                  "eval_interval_frames", "figure")


@dataclass
class EnvModelTrainConfig:
    """Config of an environment-model pretraining run (``run.total_frames`` = transitions seen).

    ``data``/``eval_data``: transition data set directories (training levels / held-out levels).
    ``model.obs_shape``, ``model.observation``, ``model.num_actions`` and ``model.palette`` are
    taken from the data set's metadata.
    """

    model: EnvModelConfig = field(default_factory=lambda: EnvModelConfig.preset("small"))
    data: tuple[str, ...] = ()
    eval_data: tuple[str, ...] = ()
    batch_size: int = 64
    learning_rate: float = 1e-3
    lr_final_fraction: float = 0.1
    clip_norm: float = 10.0
    max_transitions: int = 0
    eval_samples: int = 5000
    eval_windows: int = 1000
    rollout_k: int = 5
    eval_interval_frames: int = 0
    figure: bool = True
    run: RunConfig = field(default_factory=lambda: RunConfig(
        total_frames=2_000_000, log_interval_frames=20_000, checkpoint_interval_frames=200_000))

    def __post_init__(self):
        self.data = tuple(self.data)
        self.eval_data = tuple(self.eval_data)
        if self.batch_size < 1 or self.learning_rate <= 0 or self.rollout_k < 1:
            raise ValueError("batch_size and rollout_k must be >= 1 and learning_rate > 0")
        if not 0.0 < self.lr_final_fraction <= 1.0:
            raise ValueError(f"lr_final_fraction must be in (0, 1], got {self.lr_final_fraction}")


def env_model_preset(name: str) -> EnvModelTrainConfig:
    """``tiny`` (tests, seconds), ``small`` (CPU, 7x7 one-hot, compact model), ``paper`` (GPU)."""
    if name == "tiny":
        return EnvModelTrainConfig(model=EnvModelConfig.preset("tiny"), batch_size=32, eval_samples=300,
                                   eval_windows=50, rollout_k=3, figure=False,
                                   run=RunConfig(total_frames=3_200, log_interval_frames=640,
                                                 checkpoint_interval_frames=1_600, progress=False))
    if name == "small":
        return EnvModelTrainConfig()
    if name == "paper":
        return EnvModelTrainConfig(model=EnvModelConfig.preset("paper"),
                                   batch_size=64, learning_rate=5e-4,
                                   run=RunConfig(total_frames=20_000_000, log_interval_frames=100_000,
                                                 checkpoint_interval_frames=1_000_000))
    raise ValueError(f"unknown env-model preset {name!r}; choose from ['paper', 'small', 'tiny']")


def _prepare(data: dict, model_cfg: EnvModelConfig) -> dict:
    return {"obs": data["obs"], "actions": data["actions"].astype(np.int32),
            "frame_targets": frame_classes(data["next_obs"], model_cfg.observation, model_cfg.palette),
            "reward_targets": reward_classes(data["rewards"], model_cfg.reward_values)}


def _model_cfg_from_data(cfg: EnvModelTrainConfig, meta: dict) -> EnvModelConfig:
    palette = None if meta.get("palette") is None else tuple(tuple(c) for c in meta["palette"])
    return dataclasses.replace(cfg.model, observation=meta["observation"], obs_shape=tuple(meta["obs_shape"]),
                               num_actions=int(meta["num_actions"]), palette=palette)


def _lr(cfg: EnvModelTrainConfig, frames: int) -> float:
    """Linear decay from ``learning_rate`` to ``lr_final_fraction * learning_rate``."""
    frac = min(1.0, frames / max(1, cfg.run.total_frames))
    return cfg.learning_rate * (1.0 - (1.0 - cfg.lr_final_fraction) * frac)


def train_env_model(cfg: EnvModelTrainConfig, resume: bool = False) -> dict:
    """Train (or resume) an env model; returns the final held-out metrics (or {} without eval data).

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
    import keras
    import tensorflow as tf

    from i2a_keras.training.checkpoint import (CheckpointError, NonFiniteError, check_finite_metrics,
                                               last_good_checkpoint, load_checkpoint, numpy_rng_state,
                                               read_training_state, restore_numpy_rng, restore_tf_rng,
                                               save_checkpoint, tf_rng_state)
    from i2a_keras.training.collect import load_transitions
    from i2a_keras.training.env_model_eval import evaluate_env_model, save_rollout_figure
    from i2a_keras.training.run_dir import ScalarLogger, StopFlag, progress_bar

    if resume:
        changes = run_dir.check_resume(cfg, RESUMABLE_KEYS)
        state = read_training_state(run_dir.latest_checkpoint)[0]
        if state.get("kind") != "env_model" or "numpy_rng" not in state:
            raise CheckpointError(f"{run_dir.latest_checkpoint} is not an env-model training checkpoint")
    train_raw, meta = load_transitions(list(cfg.data), cfg.max_transitions or None)
    model_cfg = _model_cfg_from_data(cfg, meta)
    cfg = dataclasses.replace(cfg, model=model_cfg)
    train = _prepare(train_raw, model_cfg)
    eval_raw = None
    if cfg.eval_data:
        eval_raw, eval_meta = load_transitions(list(cfg.eval_data))
        if eval_meta["obs_shape"] != meta["obs_shape"] or eval_meta["observation"] != meta["observation"]:
            raise ValueError("eval data and training data have different observations")

    if resume:
        model, state, _ = load_checkpoint(run_dir.latest_checkpoint, compile=True)
        optimizer = model.optimizer
        frames, rng = int(state["frames"]), restore_numpy_rng(state["numpy_rng"])
        restore_tf_rng(state["tf_rng"])
        run_dir.record_resume(frames, changes)
    else:
        run_dir.start_fresh(cfg)
        keras.utils.set_random_seed(cfg.run.seed)
        model = EnvModel.from_env_model_config(model_cfg, name="env_model")
        optimizer = keras.optimizers.Adam(cfg.learning_rate)
        model.compile(optimizer=optimizer)
        optimizer.build(model.trainable_variables)
        frames, rng = 0, np.random.default_rng(cfg.run.seed)
    logger = ScalarLogger(run_dir, resume_from_frames=frames if resume else None)
    variables = model.trainable_variables

    @tf.function
    def train_step(obs, actions, frame_targets, reward_targets, lr):
        optimizer.learning_rate.assign(lr)
        with tf.GradientTape() as tape:
            losses = env_model_loss(model(obs, actions, training=True), frame_targets, reward_targets,
                                    model.reward_weight, model.predict_reward)
        grads = tape.gradient(losses["total"], variables)
        grads, _ = tf.clip_by_global_norm(grads, cfg.clip_norm)
        optimizer.apply_gradients(zip(grads, variables))
        return losses

    def checkpoint(path):
        save_checkpoint(path, model, state={"frames": frames, "numpy_rng": numpy_rng_state(rng),
                                            "tf_rng": tf_rng_state(), "kind": "env_model"})

    def evaluate():
        metrics = evaluate_env_model(model, eval_raw, cfg.rollout_k, cfg.eval_samples, cfg.eval_windows,
                                     seed=cfg.run.seed)
        scalars = {f"eval/{k}": v for k, v in metrics.items() if isinstance(v, float) and np.isfinite(v)}
        for key in ("rollout_cell_acc", "rollout_frame_acc", "rollout_reward_acc"):
            for k, v in enumerate(metrics.get(key, []), start=1):
                scalars[f"eval/{key}_{k}"] = v
        logger.log(frames, scalars, file="eval.jsonl")
        return metrics

    n = len(train["actions"])
    bar = progress_bar(cfg.run.total_frames, frames, cfg.run.progress, desc="env-model")
    next_log = (frames // cfg.run.log_interval_frames + 1) * cfg.run.log_interval_frames
    next_ckpt = (frames // cfg.run.checkpoint_interval_frames + 1) * cfg.run.checkpoint_interval_frames
    every = cfg.eval_interval_frames
    next_eval = (frames // every + 1) * every if every else None
    sums, count, t0, f0 = {}, 0, time.time(), frames
    with StopFlag() as stop_flag:
        while frames < cfg.run.total_frames and not stop_flag.stop:
            idx = rng.integers(0, n, cfg.batch_size)
            losses = train_step(train["obs"][idx], train["actions"][idx], train["frame_targets"][idx],
                                train["reward_targets"][idx], np.float32(_lr(cfg, frames)))
            losses = {k: float(v) for k, v in losses.items()}
            try:
                check_finite_metrics(losses)
            except NonFiniteError as exc:
                raise NonFiniteError(f"env-model training diverged after {frames} frames: {exc}. "
                                     f"{last_good_checkpoint(run_dir.latest_checkpoint)}") from exc
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value
            count += 1
            frames += cfg.batch_size
            bar.update(cfg.batch_size)
            if frames >= next_log or frames >= cfg.run.total_frames:
                sps = (frames - f0) / max(1e-9, time.time() - t0)
                logger.log(frames, {**{f"losses/{k}": v / count for k, v in sums.items()}, "charts/SPS": sps,
                                    "charts/learning_rate": _lr(cfg, frames)})
                bar.set_postfix(loss=f"{sums['total'] / count:.3f}")
                sums, count, t0, f0 = {}, 0, time.time(), frames
                next_log += cfg.run.log_interval_frames
            if next_eval is not None and eval_raw is not None and frames >= next_eval:
                evaluate()
                next_eval += every
            if frames >= next_ckpt:
                checkpoint(run_dir.latest_checkpoint)
                next_ckpt += cfg.run.checkpoint_interval_frames
        stopped = stop_flag.signal_name
    bar.close()
    checkpoint(run_dir.latest_checkpoint)
    if stopped:  # SIGTERM/SIGINT: the checkpoint above lets --resume continue from here
        logger.close()
        return {"frames": frames, "stopped_early": True, "checkpoint": run_dir.latest_checkpoint,
                "signal": stopped}
    checkpoint(run_dir.final_checkpoint)
    result = {"frames": frames}
    if eval_raw is not None:
        result = {**evaluate(), "frames": frames}
        with open(run_dir.join("env_model_eval.json"), "w") as fh:
            json.dump(result, fh, indent=2)
        if cfg.figure:
            save_rollout_figure(model, eval_raw, run_dir.join("env_model_rollout.png"), k=cfg.rollout_k,
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


def run_env_model_command(args) -> dict:
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
        print_config(cfg)
        return {}
    return train_env_model(cfg, resume=bool(args.resume))


def add_collect_parser(subparsers):
    """``collect`` subcommand (hook style "subparsers", see ``i2a_keras/train.py``)."""
    from i2a_keras.training.cli import add_common_arguments
    p = subparsers.add_parser("collect", help="collect transitions for environment-model pretraining")
    add_common_arguments(p, flags=("seed", "num_envs"), resume=False)
    p.add_argument("--out", required=True, help="output data set directory (must not exist yet)")
    p.add_argument("--split", default=None, choices=["train", "eval"],
                   help="train: training levels (env.train_seed); eval: held-out levels (env.eval_seed)")
    p.add_argument("--policy", default=None, choices=["random", "agent"])
    p.add_argument("--agent-checkpoint", dest="agent_checkpoint", default=None,
                   help="model-free .keras checkpoint (implies --policy agent)")
    p.add_argument("--epsilon", type=float, default=None, help="probability of a uniform-random action")
    p.add_argument("--num-transitions", dest="num_transitions", type=int, default=None)
    p.set_defaults(func=run_collect_command)
    return p


def run_collect_command(args) -> dict:
    from i2a_keras.training.cli import config_from_args, print_config
    from i2a_keras.training.collect import collect, collect_preset
    if args.agent_checkpoint and args.policy is None:
        args.policy = "agent"
    cfg = config_from_args(args, collect_preset, None,
                           flag_keys={"seed": "seed", "num_envs": "num_envs", "split": "split",
                                      "agent_checkpoint": "agent_checkpoint", "policy": "policy",
                                      "epsilon": "epsilon", "num_transitions": "num_transitions"})
    if args.print_config:
        print_config(cfg)
        return {}
    meta = collect(cfg, args.out)
    return {"out": args.out, "num_transitions": meta["num_transitions"], "reward_counts": meta["reward_counts"],
            "seconds": meta["seconds"]}
