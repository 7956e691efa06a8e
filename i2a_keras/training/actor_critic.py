"""Generic actor-critic training run (A2C or A3C) for any registered agent (Sec. 3.3).

Used by the ``model-free`` subcommand and, with ``config.agent="i2a"`` and an I2A ``model``
config, by the ``i2a`` subcommand. Rollouts come from one local runner (A2C), A3C threads
(:mod:`i2a_keras.algos.a3c`) or, with ``run.distributed=ray``, Ray actors
(:mod:`i2a_keras.algos.ray_workers`); the loop, logging, checkpoints and resume are the same.
Extension points:

- ``train_actor_critic(config, resume=False, agent_factory=None)``: ``agent_factory(obs_shape,
  num_actions, config) -> keras.Model`` overrides :func:`i2a_keras.models.build_agent` (e.g. to
  inject a pretrained, frozen environment model); the agent must follow the agent contract.
- The run directory layout, logging, checkpointing and evaluation are shared (``run_dir.py``,
  ``checkpoint.py``, ``evaluate.py``).

Reproducibility and resume: all randomness comes from ``run.seed`` (weights), a numpy generator
(actions) and the env level streams. At every checkpoint the training envs are re-seeded and
reset with a seed derived from ``(env.train_seed, frames)``; the in-flight episodes are cut there
and their last transition bootstraps from ``V(last obs)`` exactly like a time-limit truncation.
So the checkpoint (weights + RMSprop state + counters + RNG states) is the complete training state
and ``--resume`` continues a killed A2C run exactly as if it had not stopped (up to floating-point
determinism of the TensorFlow kernels; set ``run.deterministic=true`` for op determinism).

Reliability: one process writes a run directory (its lock); a resume checks the checkpoint and the
changed settings (only :data:`RESUMABLE_KEYS` may change; they go to the resume log) before it
writes anything; the train and eval level sources are opened before training starts; the metrics
of every update and the weights of every checkpoint must be finite, else training stops with a
:class:`~i2a_keras.training.checkpoint.NonFiniteError` naming the last good checkpoint.
"""
from __future__ import annotations

import contextlib
import functools
import json
import time
import warnings

import keras
import numpy as np

from i2a_keras import backends
from i2a_keras.algos.a2c import A2CLearner, RolloutRunner, make_optimizer
from i2a_keras.algos.a3c import A3CWorkers, clone_agent
from i2a_keras.training.checkpoint import (CheckpointError, NonFiniteError, check_finite_metrics,
                                           last_good_checkpoint, load_checkpoint, numpy_rng_state,
                                           read_training_state, restore_numpy_rng, resumable_optimizer,
                                           save_checkpoint)
from i2a_keras.training.config import (MIXED_PRECISION_POLICIES, ActorCriticConfig, EnvConfig,
                                       check_finite_config, config_to_dict)
from i2a_keras.training.evaluate import evaluate_agent, record_episode_gif
from i2a_keras.training.media import plot_learning_curve
from i2a_keras.training.run_dir import RunDir, ScalarLogger, StopFlag, progress_bar, read_jsonl

__all__ = ["train_actor_critic", "make_env", "env_spec", "env_title", "env_kwargs", "setup_runtime", "derived_seed",
           "check_level_sources", "RESUMABLE_KEYS"]

# Settings that may change when a run is resumed (run length, logging, evaluation); the others are
# fixed by the checkpoint (model, optimizer, envs, seeds).
# The level sources may only move: another folder of Boxoban level files (a fresh machine, Colab,
# the GPU machine), never a switch between generated levels and files.
RELOCATABLE_LEVEL_KEYS = ("env.levels", "env.eval_levels")
RESUMABLE_KEYS = ("run.total_frames", "run.log_interval_frames", "run.checkpoint_interval_frames",
                  "run.progress", "run.ray_address", "run.mixed_precision", "eval.",
                  *RELOCATABLE_LEVEL_KEYS)


def env_kwargs(env: EnvConfig, split: str) -> dict:
    """Keyword arguments of :func:`i2a_keras.envs.make_vec` for ``split`` ("train" or "eval").

    With an explicit ``env.eval_levels`` the two splits are two sources, each used whole.
    """
    levels = env.levels
    if env.eval_levels:
        levels, split = (env.eval_levels if split == "eval" else env.levels), "all"
    return dict(dim_room=tuple(env.dim_room), num_boxes=env.num_boxes, max_steps=env.max_steps,
                observation=env.observation, action_set=env.action_set, levels=levels,
                split=split, holdout_fraction=env.holdout_fraction)


def make_env(env: EnvConfig, num_envs: int, split: str, seed: int, num_levels: int | None = None):
    """A native batched vector env (SAME_STEP autoreset): Sokoban on the given level split, or
    MiniPacman's ``env.task`` (whose random levels have no split: ``seed`` alone tells the
    training games from the evaluation games).

    With ``num_levels`` (Sokoban; what evaluation uses) the env plays a fixed list: the
    ``num_levels`` levels the split's source draws after ``seed``, dealt to the env slots in a
    fixed order (``make_vec(fixed_levels=)``), so the list does not depend on the agent,
    ``env.max_steps`` or ``num_envs``.
    """
    if env.game == "minipacman":
        from i2a_keras.envs.minipacman import make_vec as make_minipacman

        return make_minipacman(int(num_envs), task=env.task, max_steps=env.max_steps,
                               observation=env.observation, seed=int(seed))
    from i2a_keras.envs import make_vec

    return make_vec(int(num_envs), env_kwargs(env, split), seed=int(seed), fixed_levels=num_levels)


def env_spec(env: EnvConfig) -> tuple[tuple, int]:
    """``(observation shape, number of actions)`` of the env ``env`` describes."""
    if env.game == "minipacman":
        from i2a_keras.envs.minipacman_core import HEIGHT, NUM_ACTIONS, WIDTH

        return (HEIGHT, WIDTH, 3), NUM_ACTIONS
    from i2a_keras.envs.core import num_actions
    from i2a_keras.envs.observations import observation_shape

    return tuple(observation_shape(tuple(env.dim_room), env.observation)), num_actions(env.action_set)


def env_title(env: EnvConfig) -> str:
    """A short description of the env for plot titles and messages."""
    if env.game == "minipacman":
        return f"MiniPacman {env.task}, {env.max_steps}-step episodes"
    return (f"{env.dim_room[0]}x{env.dim_room[1]}, {env.num_boxes} box"
            f"{'es' if env.num_boxes != 1 else ''}")


def check_level_sources(env: EnvConfig) -> None:
    """Open the training and evaluation level sources once, so that an unreadable level file, an
    empty split or impossible generator settings fail before training starts."""
    if env.game != "sokoban":
        return
    for split, key in (("train", "levels"), ("eval", "eval_levels" if env.eval_levels else "levels")):
        try:
            make_env(env, 1, split, env.eval_seed).close()
        except (ValueError, OSError, RuntimeError) as exc:
            spec = getattr(env, key)
            moved = (f" (if the files moved, resume with --set env.{key}=boxoban:FOLDER)"
                     if str(spec).startswith("boxoban:") else "")
            raise ValueError(f"cannot open the {split} levels of env.{key}={spec!r}: "
                             f"{' '.join(str(exc).split())}{moved}") from exc


def derived_seed(*parts: int) -> int:
    """A 31-bit seed derived from integers (e.g. base seed, frame count, worker index)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0] & 0x7FFFFFFF)


def setup_runtime(seed: int, mixed_precision: str = "off", deterministic: bool = False) -> str:
    """Seed Python/numpy/the backend, set the dtype policy of ``run.mixed_precision`` ('off',
    'float16' or 'bfloat16'); returns the backend and device."""
    if mixed_precision not in MIXED_PRECISION_POLICIES:
        raise ValueError(f"mixed_precision must be one of {sorted(MIXED_PRECISION_POLICIES)}, "
                         f"got {mixed_precision!r}")
    if mixed_precision == "float16" and keras.backend.backend() == "jax":
        raise ValueError("run.mixed_precision=float16 (loss scaling) is TensorFlow-only; under JAX "
                         "use bfloat16")
    device = backends.get().setup(seed, deterministic)
    if mixed_precision == "bfloat16" and device.split(", ")[-1].startswith("CPU") \
            and backends.cpu_has_native_bfloat16() is False:
        warnings.warn("run.mixed_precision=bfloat16 on a CPU without bfloat16 instructions (no "
                      "avx512_bf16, amx_bf16 or bf16 in /proc/cpuinfo): the backend emulates it, "
                      "which can train several times slower than float32 (7x measured with "
                      "TensorFlow on an AMD Zen 3); --mixed-precision off is faster here, and a "
                      "resume may switch", RuntimeWarning, stacklevel=2)
    keras.mixed_precision.set_global_policy(MIXED_PRECISION_POLICIES[mixed_precision])
    return device


def _mean_metrics(rows: list[dict]) -> dict:
    if not rows:
        return {}
    keys = rows[0].keys()
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}


def _episode_scalars(episodes: list[dict], solvable: bool = True) -> dict:
    """Means over finished episodes; ``solvable=False`` (MiniPacman) has no solve rate."""
    if not episodes:
        return {}
    scalars = {
        "charts/episodic_return": float(np.mean([e["return"] for e in episodes])),
        "charts/episodic_length": float(np.mean([e["length"] for e in episodes])),
        "charts/episodes": float(len(episodes)),
    }
    if solvable:
        scalars["charts/solve_rate"] = float(np.mean([e["solved"] for e in episodes]))
    return scalars


class Every:
    """A training hook (SB3's ``CheckpointCallback._on_step``): calls ``action()`` once each
    time training passes a multiple of ``interval`` frames; ``interval=0`` never fires. It stands
    down from ``until`` frames on (the run's end, which has its own checkpoint and evaluation)."""

    def __init__(self, interval: int, frames: int, action, until: int | None = None):
        self.interval, self.action, self.until = interval, action, until
        self.next = self._after(frames)

    def _after(self, frames: int) -> int | None:
        return (frames // self.interval + 1) * self.interval if self.interval else None

    def on_update(self, frames: int) -> None:
        if self.next is None or frames < self.next or (self.until is not None and frames >= self.until):
            return
        self.action()
        self.next = self._after(frames)


def train_actor_critic(config: ActorCriticConfig, resume: bool = False, agent_factory=None) -> dict:
    """Train (or resume) an actor-critic run in ``config.run.run_dir``; returns the summary dict.

    Raises ``ValueError``/``OSError`` for a bad config, run directory or checkpoint (before anything
    is written) and :class:`~i2a_keras.training.checkpoint.NonFiniteError` if training diverges.
    A summary with ``"signal"`` means SIGINT/SIGTERM stopped it after a checkpoint.
    """
    check_finite_config(config)
    run_dir = RunDir(config.run.run_dir)
    with _ray_session(config), run_dir.lock():
        return _train(config, run_dir.create(resume), resume, agent_factory)


def _ray_session(config: ActorCriticConfig):
    """With ``run.distributed=ray``, the Ray connection of the run (``algos/ray_workers.py``)."""
    if config.run.distributed != "ray":
        if config.run.ray_address:
            raise ValueError("run.ray_address is for run.distributed=ray (--distributed ray)")
        return contextlib.nullcontext()
    from i2a_keras.algos.ray_workers import ray_session

    return ray_session(config.run.ray_address)


def _num_workers(cfg: ActorCriticConfig) -> int:
    """Rollout workers, each with ``a2c.num_envs`` envs and its own generator: A3C threads or
    Ray actors; local A2C has one."""
    return cfg.a2c.num_workers if cfg.algo == "a3c" or cfg.run.distributed == "ray" else 1


def _rollout_workers(cfg: ActorCriticConfig, learner: A2CLearner, rngs: list, env_seed):
    """The local runners (one for A2C, one per A3C thread; none on Ray) and the pool that drives
    them (:class:`A3CWorkers`, :class:`~i2a_keras.algos.ray_workers.RayWorkers`, or None for local
    A2C, whose loop calls the runner itself). ``env_seed(frames, w)`` seeds worker ``w``'s env."""
    if cfg.run.distributed == "ray":
        from i2a_keras.algos.ray_workers import RayWorkers

        make = functools.partial(make_env, cfg.env, cfg.a2c.num_envs, "train")
        return [], RayWorkers(learner, make, rngs, env_seed, synchronous=cfg.algo == "a2c",
                              dtype_policy=keras.mixed_precision.global_policy().name)
    envs = [make_env(cfg.env, cfg.a2c.num_envs, "train", env_seed(0, w)) for w in range(len(rngs))]
    if cfg.algo == "a2c":
        return [RolloutRunner(envs[0], learner, cfg.a2c.num_steps, rngs[0])], None
    # A3C: each worker acts and differentiates with its own copy of the agent (a3c.py).
    runners = [RolloutRunner(env, A2CLearner(clone_agent(learner.agent), learner.optimizer, cfg.a2c,
                                             learner.observation_shape, apply_updates=False),
                             cfg.a2c.num_steps, rng) for env, rng in zip(envs, rngs)]
    return runners, A3CWorkers(learner, runners)


def _resume_checks(cfg: ActorCriticConfig, run_dir: RunDir) -> dict:
    """The settings this resume changes; raises if the run cannot be resumed with ``cfg``."""
    changes = run_dir.check_resume(cfg, RESUMABLE_KEYS)
    for key in RELOCATABLE_LEVEL_KEYS:
        change = changes.get(key)
        if change and not all(str(v).startswith("boxoban:") for v in (change["from"], change["to"])):
            raise ValueError(f"cannot change {key} ({change['from']!r} -> {change['to']!r}) when "
                             f"resuming {run_dir.path}: a resume may only point a boxoban: level source "
                             "at another folder of Boxoban files; start a new run (--run-dir) to change "
                             "where the levels come from")
    change = changes.get("run.mixed_precision")
    if change and "float16" in (change["from"], change["to"]):
        raise ValueError(f"cannot change run.mixed_precision ({change['from']!r} -> {change['to']!r}) "
                         f"when resuming {run_dir.path}: float16's loss scaling is part of the saved "
                         "optimizer; a resume may switch only between 'off' and 'bfloat16'")
    if "run.total_frames" in changes and cfg.a2c.lr_schedule == "linear":
        raise ValueError("cannot change run.total_frames when resuming a run with "
                         "a2c.lr_schedule=linear: the saved optimizer's schedule ends at the old total")
    return changes


def _check_state(state: dict, cfg: ActorCriticConfig, path: str) -> None:
    num_workers = _num_workers(cfg)
    missing = [k for k in ("frames", "updates", "action_rngs") if k not in state]
    if state.get("kind", "actor_critic") != "actor_critic" or missing:
        raise CheckpointError(f"{path} is not an actor-critic training checkpoint "
                              f"(kind {state.get('kind')!r}, missing {missing})")
    if len(state["action_rngs"]) != num_workers:
        raise CheckpointError(f"{path} has {len(state['action_rngs'])} worker RNG states, the run "
                              f"config {num_workers}")


def _train(cfg: ActorCriticConfig, run_dir: RunDir, resume: bool, agent_factory) -> dict:
    from i2a_keras.models import build_agent

    changes = _resume_checks(cfg, run_dir) if resume else None
    device = setup_runtime(cfg.run.seed, cfg.run.mixed_precision, cfg.run.deterministic)
    obs_shape, n_actions = env_spec(cfg.env)
    frames_per_update = cfg.a2c.num_envs * cfg.a2c.num_steps
    if cfg.run.distributed == "ray" and cfg.algo == "a2c":  # one update on every worker's rollout
        frames_per_update *= cfg.a2c.num_workers
    total_updates = -(-cfg.run.total_frames // frames_per_update)

    state = {}
    if resume:
        _check_state(read_training_state(run_dir.latest_checkpoint)[0], cfg, run_dir.latest_checkpoint)
        agent, state, _ = load_checkpoint(run_dir.latest_checkpoint)
        agent.dtype_policy = keras.mixed_precision.global_policy()  # the run's, also after a switch
        optimizer = resumable_optimizer(agent, run_dir.latest_checkpoint)
    else:
        factory = agent_factory or (lambda shape, n, model_cfg: build_agent(cfg.agent, shape, n, model_cfg))
        agent = factory(obs_shape, n_actions, cfg.model)
        optimizer = make_optimizer(cfg.a2c, total_updates, cfg.run.mixed_precision)
        agent.compile(optimizer=optimizer)
    check_level_sources(cfg.env)
    if resume:
        run_dir.record_resume(state["frames"], changes)
    else:
        run_dir.start_fresh(cfg)

    learner = A2CLearner(agent, optimizer, cfg.a2c, obs_shape)
    frames = int(state.get("frames", 0))
    updates = int(state.get("updates", 0))
    num_workers = _num_workers(cfg)
    rngs = ([restore_numpy_rng(s) for s in state["action_rngs"]] if resume else
            [np.random.default_rng(derived_seed(cfg.run.seed, 1, w)) for w in range(num_workers)])
    env_seed = functools.partial(derived_seed, cfg.env.train_seed)  # (frames, worker[, restarts])
    runners, workers = _rollout_workers(cfg, learner, rngs, env_seed)
    distributed = cfg.run.distributed == "ray"

    def reset_envs():
        if distributed:
            workers.reset(frames)
        for w, runner in enumerate(runners):
            runner.reset(seed=env_seed(frames, w))

    def action_rngs():
        return workers.rngs if distributed else [r.rng for r in runners]

    reset_envs()
    logger = ScalarLogger(run_dir, resume_from_frames=frames if resume else None)
    pending_episodes = list(state.get("pending_episodes", []))
    pending_metrics = list(state.get("pending_metrics", []))
    episodes_total = int(state.get("episodes_total", 0))
    last_log_time, last_log_frames = time.perf_counter(), frames
    bar = progress_bar(cfg.run.total_frames, frames, cfg.run.progress, desc=f"{cfg.agent}/{cfg.algo}")
    # Loss scaling skips the steps whose gradients overflow: their grad_norm may be inf.
    unchecked = ("grad_norm",) if cfg.run.mixed_precision == "float16" else ()

    def record_update(metrics, n):
        check_finite_metrics(metrics, unchecked)
        pending_metrics.append(metrics)
        bar.update(n)

    def collect_and_update(target):
        """Local A2C: one rollout, one update. A3C threads / Ray actors: the workers run until
        ``target`` frames (the next hook), updating as they go."""
        nonlocal frames, updates
        if workers is None:
            record_update(learner.update(runners[0].collect()), frames_per_update)
            frames += frames_per_update
            updates += 1
            pending_episodes.extend(runners[0].pop_episodes())
            return
        before = workers.updates
        workers.frames = frames
        workers.run_until(target, record_update)
        updates += workers.updates - before
        frames = workers.frames
        pending_episodes.extend(workers.pop_episodes())

    def checkpoint():
        save_checkpoint(run_dir.latest_checkpoint, agent, {
            "frames": frames, "updates": updates, "episodes_total": episodes_total,
            "action_rngs": [numpy_rng_state(r) for r in action_rngs()],
            "pending_episodes": pending_episodes, "pending_metrics": pending_metrics,
            "config": config_to_dict(cfg), "kind": "actor_critic",
        })
        reset_envs()

    def run_evaluation(end_of_session=False):
        result = evaluate_agent(agent, cfg.env, cfg.eval.num_levels, cfg.eval.num_envs,
                                greedy=cfg.eval.greedy)
        logger.log(frames, {f"eval/{k}": result[k] for k in
                                ("solve_rate", "mean_return", "mean_length") if k in result},
                   file="eval.jsonl", end_of_session=end_of_session)
        return result

    def log_scalars(end_of_session=False):
        nonlocal pending_episodes, pending_metrics, last_log_time, last_log_frames, episodes_total
        now = time.perf_counter()
        episodes_total += len(pending_episodes)
        scalars = {**_episode_scalars(pending_episodes, cfg.env.game == "sokoban"),
                   **{f"losses/{k}": v for k, v in _mean_metrics(pending_metrics).items()},
                   "charts/SPS": (frames - last_log_frames) / max(now - last_log_time, 1e-9),
                   "charts/learning_rate": float(keras.ops.convert_to_numpy(optimizer.learning_rate)),
                   "charts/updates": float(updates)}
        logger.log(frames, scalars, end_of_session=end_of_session)
        bar.set_postfix({k.split("/")[1]: f"{scalars[k]:.3g}" for k in
                         ("charts/episodic_return", "charts/solve_rate", "charts/SPS") if k in scalars})
        pending_episodes, pending_metrics = [], []
        last_log_time, last_log_frames = time.perf_counter(), frames

    # The loop: collect -> update -> hooks (SB3's learn()); the run's end has its own checkpoint
    # and evaluation, so those two hooks stand down there.
    end = cfg.run.total_frames
    hooks = [Every(cfg.run.log_interval_frames, frames, log_scalars),
             Every(cfg.eval.interval_frames, frames, run_evaluation, until=end),
             Every(cfg.run.checkpoint_interval_frames, frames, checkpoint, until=end)]
    try:
        with StopFlag() as stop_flag:
            while frames < end and not stop_flag.stop:
                collect_and_update(min([end] + [h.next for h in hooks if h.next is not None]))
                for hook in hooks:
                    hook.on_update(frames)
            signal_name = stop_flag.signal_name
        checkpoint()  # keeps the partial log interval's pending episodes/metrics for --resume
        if not signal_name:
            save_checkpoint(run_dir.final_checkpoint, agent, {"frames": frames, "updates": updates,
                                                              "config": config_to_dict(cfg)})
    except NonFiniteError as exc:
        bar.close()
        logger.close()
        raise NonFiniteError(f"training diverged after {frames} frames: {exc}. "
                             f"{last_good_checkpoint(run_dir.latest_checkpoint)}") from exc
    finally:
        if distributed:
            workers.close()
    if pending_metrics:
        log_scalars(end_of_session=True)
    bar.close()
    summary = {"frames": frames, "updates": updates, "episodes": episodes_total, "device": device,
               "stopped_early": bool(signal_name), "checkpoint": run_dir.latest_checkpoint}
    if signal_name:
        logger.close()
        return {**summary, "signal": signal_name}
    final = run_evaluation(end_of_session=True)
    summary.update({"eval": final, "final_checkpoint": run_dir.final_checkpoint})
    with open(run_dir.join("eval.json"), "w") as fh:
        json.dump({**final, "frames": frames, "greedy": cfg.eval.greedy}, fh, indent=2)
    if cfg.eval.gif:
        summary["gif"] = record_episode_gif(agent, cfg.env, run_dir.join("episode.gif"),
                                            greedy=cfg.eval.greedy)
    summary["plot"] = plot_learning_curve(read_jsonl(run_dir.join("metrics.jsonl")),
                                          read_jsonl(run_dir.join("eval.jsonl")),
                                          run_dir.join("learning_curve.png"),
                                          title=f"{cfg.agent} ({cfg.algo}), {env_title(cfg.env)}, "
                                                f"held-out eval {'greedy' if cfg.eval.greedy else 'sampled'}")
    logger.close()
    with open(run_dir.join("summary.json"), "w") as fh:
        json.dump(summary, fh, indent=2)
    return summary
