"""A2C/A3C rollout workers as Ray actors, the learner in the trainer's process (Weber et al.,
2017, Sec. 3.3: A3C with 32-64 workers; the actor/learner split of IMPALA, Espeholt et al., 2018).

Each :class:`RolloutWorker`, a Ray actor on one CPU, owns a batched vector env, a numpy generator
and an acting copy of the agent; it never computes a gradient. :class:`RayWorkers`, in the
trainer's process (on its GPU when it has one), broadcasts the weights with ``ray.put``, receives
complete rollouts and applies every update with the one optimizer. Two modes:

- synchronous (``algo=a2c``): an update waits for one rollout from each of the K workers, all
  acted with the current weights, and trains on them as one ``T x (K * N)`` batch: A2C with
  ``K * N`` envs. With K=1 it reproduces the single-process trainer's run (same seeds, same env
  and action streams).
- asynchronous (``algo=a3c``): one rollout per update. Each worker has one rollout in flight and
  the learner takes the results in dispatch order (round robin), so a rollout acted with the
  weights after update ``v`` is trained on at update ``v + lag``, ``0 <= lag <= K - 1`` (``K - 1``
  once the pipeline is full). The lag is logged as ``losses/policy_lag`` and its effect as
  ``losses/behaviour_kl``; there is no V-trace correction. The fixed order makes runs
  reproducible from their seeds; the price is that a slow worker holds the learner up.

Unlike the threads of :mod:`i2a_keras.algos.a3c`, workers send rollouts, not gradients.
:meth:`RayWorkers.run_until` drains the pipeline before it returns (at the trainer's log,
evaluation and checkpoint points), so a checkpoint holds the whole training state.

Faults: when a worker's process dies (``ray.exceptions.RayActorError``), the worker is re-created
with the generator it returned last and its env re-seeded from ``env_seed(frames, worker,
restarts)``, and the lost rollout is collected again with the same weights. No update ever uses a
partial rollout and the frame count stays exact; only the episodes in flight on that worker are
cut, as at a checkpoint.
"""
from __future__ import annotations

import collections
import contextlib
import os

import keras
import numpy as np

from i2a_keras.algos.a2c import A2CConfig, A2CLearner, Rollout, RolloutRunner
from i2a_keras.backends import jax_compilation_cache

__all__ = ["RayWorkers", "RolloutWorker", "RayNotInstalledError", "require_ray", "ray_session"]

MISSING_RAY = ("run.distributed=ray needs Ray, which is not installed: pip install -e '.[ray]' "
               "(or pip install ray)")


class RayNotInstalledError(ImportError, ValueError):
    """Ray was asked for but is not installed (a ``ValueError`` too: the CLI prints one line)."""


def require_ray():
    """The ``ray`` module, or :class:`RayNotInstalledError` with the install command."""
    try:
        import ray
    except ImportError as exc:
        raise RayNotInstalledError(MISSING_RAY) from exc
    return ray


@contextlib.contextmanager
def ray_session(address: str = ""):
    """Connect to the Ray cluster at ``address`` (``"auto"``, ``"HOST:6379"``) or start a local
    one (``""``); a session this call started is shut down on exit. An already initialised Ray
    (e.g. ``ray.init(num_cpus=2)`` in a test) is used as it is."""
    ray = require_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=address or None, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def _worker_env_vars() -> dict:
    """Environment of a worker process: the trainer's Keras backend, on one CPU thread, and its
    JAX compilation cache (``backends/jax_compilation_cache``)."""
    return {"KERAS_BACKEND": keras.backend.backend(), "TF_CPP_MIN_LOG_LEVEL": "2",
            "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
            "JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": "", **jax_compilation_cache.environment()}


class RolloutWorker:
    """The body of one Ray actor: a vector env, a generator and an acting copy of the agent.

    ``make_env(seed)`` builds the batched env (a picklable function, e.g. a ``functools.partial``
    of :func:`i2a_keras.training.actor_critic.make_env`); ``reset_seed``, when given, resets it.
    """

    def __init__(self, agent_class, agent_config: dict, observation_shape, make_env, env_seed: int,
                 config: A2CConfig, rng: np.random.Generator, dtype_policy: str = "float32",
                 reset_seed: int | None = None):
        from i2a_keras import backends

        keras.mixed_precision.set_global_policy(dtype_policy)
        self.agent = agent_class.from_config(agent_config)
        self.agent.build((None,) + tuple(observation_shape))
        learner = A2CLearner(self.agent, None, config, observation_shape, apply_updates=False)
        self.runner = RolloutRunner(make_env(env_seed), learner, config.num_steps, rng)
        self._to_numpy = backends.get().to_numpy
        if reset_seed is not None:
            self.runner.reset(seed=reset_seed)

    def pid(self) -> int:
        return os.getpid()

    def reset(self, seed: int) -> None:
        self.runner.reset(seed=seed)

    def collect(self, weights: list) -> tuple[Rollout, list[dict], np.random.Generator]:
        """Act ``num_steps`` steps with ``weights``; returns the rollout (numpy only), the episodes
        that ended in it and the generator after it."""
        self.agent.set_weights(weights)
        rollout = self.runner.collect()
        rollout.replay = self._to_numpy(rollout.replay)
        return rollout, self.runner.pop_episodes(), self.runner.rng


class RayWorkers:
    """K :class:`RolloutWorker` actors feeding one :class:`A2CLearner` (the trainer's).

    Same interface as :class:`i2a_keras.algos.a3c.A3CWorkers`: ``frames`` and ``updates``
    counters, ``run_until(target_frames, on_update)`` (``on_update(metrics, frames)`` after every
    update) and ``pop_episodes()``; plus ``rngs`` (each worker's generator after its last
    rollout, for checkpoints), ``reset(frames)`` (re-seed every env from ``env_seed(frames, w)``)
    and ``close()``. ``rngs`` fixes the number of workers; ``max_restarts`` bounds the worker
    re-creations of a run.
    """

    def __init__(self, learner: A2CLearner, make_env, rngs: list, env_seed, synchronous: bool,
                 max_restarts: int = 8, dtype_policy: str = "float32"):
        self.ray = require_ray()
        self.learner = learner
        self.make_env = make_env
        self.env_seed = env_seed
        self.synchronous = synchronous
        self.max_restarts = int(max_restarts)
        self.dtype_policy = dtype_policy
        self.rngs = list(rngs)
        self.num_workers = len(self.rngs)
        self.frames_per_rollout = learner.config.num_envs * learner.config.num_steps
        self.frames = 0
        self.updates = 0
        self.restarts = 0
        self._episodes: list[dict] = []
        self._weights = (None, None)
        cpus = self.ray.cluster_resources().get("CPU", 0)
        if self.num_workers > cpus:
            raise ValueError(f"{self.num_workers} Ray rollout workers need {self.num_workers} CPUs, "
                             f"the Ray cluster has {cpus:g}: lower a2c.num_workers or add nodes")
        self._actor = self.ray.remote(num_cpus=1, max_restarts=0,
                                      runtime_env={"env_vars": _worker_env_vars()})(RolloutWorker)
        self.workers = [self._spawn(w) for w in range(self.num_workers)]
        self.pids = self.ray.get([h.pid.remote() for h in self.workers])

    def _spawn(self, w: int, reset_seed: int | None = None):
        agent = self.learner.agent
        return self._actor.remote(type(agent), agent.get_config(), self.learner.observation_shape,
                                  self.make_env, self.env_seed(0, w), self.learner.config,
                                  self.rngs[w], self.dtype_policy, reset_seed)

    def _replace(self, w: int) -> None:
        """Re-create worker ``w`` after its process died, with its last generator."""
        with contextlib.suppress(Exception):
            self.ray.kill(self.workers[w], no_restart=True)
        self.restarts += 1
        self.workers[w] = self._spawn(w, reset_seed=self.env_seed(self.frames, w, self.restarts))
        self.pids[w] = self.ray.get(self.workers[w].pid.remote())

    def reset(self, frames: int) -> None:
        self.ray.get([h.reset.remote(self.env_seed(frames, w)) for w, h in enumerate(self.workers)])

    def close(self) -> None:
        for handle in self.workers:
            with contextlib.suppress(Exception):
                self.ray.kill(handle, no_restart=True)
        self.workers = []

    def pop_episodes(self) -> list[dict]:
        episodes, self._episodes = self._episodes, []
        return episodes

    def _current_weights(self):
        """The learner's weights in the object store, put once per update (``ray.put``)."""
        version, ref = self._weights
        if version != self.updates:
            ref = self.ray.put(self.learner.agent.get_weights())
            self._weights = (self.updates, ref)
        return ref

    def _result(self, w: int, ref, weights) -> Rollout:
        """Worker ``w``'s rollout; a dead worker is re-created and collects it again."""
        while True:
            try:
                rollout, episodes, rng = self.ray.get(ref)
                break
            except self.ray.exceptions.RayActorError as exc:
                if self.restarts >= self.max_restarts:
                    raise RuntimeError(f"Ray rollout worker {w} died and the run has used its "
                                       f"{self.max_restarts} worker restarts") from exc
                self._replace(w)
                ref = self.workers[w].collect.remote(weights)
        expected = (self.learner.config.num_steps, self.learner.config.num_envs)
        if rollout.actions.shape != expected:
            raise RuntimeError(f"worker {w} returned a {rollout.actions.shape} rollout, not {expected}")
        self.rngs[w] = rng
        self._episodes.extend(episodes)
        return rollout

    def run_until(self, target_frames: int, on_update=None) -> None:
        if self.synchronous:
            self._run_sync(target_frames, on_update)
        else:
            self._run_async(target_frames, on_update)

    def _run_sync(self, target_frames, on_update):
        frames_per_update = self.frames_per_rollout * self.num_workers
        while self.frames < target_frames:
            weights = self._current_weights()
            refs = [h.collect.remote(weights) for h in self.workers]
            rollout = Rollout.concat([self._result(w, ref, weights) for w, ref in enumerate(refs)])
            metrics = self.learner.update(rollout)
            self.frames += frames_per_update
            self.updates += 1
            if on_update is not None:
                on_update(metrics, frames_per_update)

    def _run_async(self, target_frames, on_update):
        n = self.frames_per_rollout
        in_flight = collections.deque()  # (worker, weights version, weights ref, rollout ref)
        claimed = self.frames

        def dispatch(w):
            nonlocal claimed
            weights = self._current_weights()
            in_flight.append((w, self.updates, weights, self.workers[w].collect.remote(weights)))
            claimed += n

        for w in range(self.num_workers):
            if claimed < target_frames:
                dispatch(w)
        while in_flight:
            w, version, weights, ref = in_flight.popleft()
            rollout = self._result(w, ref, weights)
            metrics = self.learner.update(rollout)
            metrics["policy_lag"] = float(self.updates - version)
            self.frames += n
            self.updates += 1
            if claimed < target_frames:
                dispatch(w)
            if on_update is not None:
                on_update(metrics, n)
