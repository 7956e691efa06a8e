"""Asynchronous advantage actor-critic (A3C; Mnih et al., 2016), as used by Weber et al. (2017,
Sec. 3.3: "trained with A3C ... RMSprop").

``num_workers`` threads each own a vector env, a numpy generator and a *local copy* of the agent,
as in the A3C paper: a worker copies the shared weights, collects a rollout with its copy,
computes the gradients at those same weights (the ones that generated the rollout, so the acting
and the differentiated forward pass agree) and applies them to the shared weights with the one
shared optimizer (shared statistics, as in the A3C paper). Other workers may have updated the
shared weights meanwhile: that lag is A3C's, and the update's ``behaviour_kl`` metric stays 0
because it compares the worker's own acting and update passes. The weight copy and the optimizer
step hold a lock (Keras optimizers are not thread-safe); collection and gradients run in
parallel (TensorFlow and XLA release the GIL inside ops). Worker interleaving makes A3C runs
non-reproducible; use A2C when exact reproducibility matters.
"""
from __future__ import annotations

import threading

import keras

from i2a_keras.algos.a2c import A2CLearner, RolloutRunner

__all__ = ["A3CWorkers", "clone_agent"]


def clone_agent(agent: keras.Model) -> keras.Model:
    """A new agent of the same class and config, holding a copy of ``agent``'s weights."""
    clone = agent.__class__.from_config(agent.get_config())
    clone.build((None,) + tuple(agent.observation_shape))
    clone.set_weights(agent.get_weights())
    return clone


class A3CWorkers:
    """Runs A3C worker threads until a shared frame budget is reached.

    ``shared`` is the learner holding the shared agent and optimizer; ``runners`` are the
    workers' runners, each bound to its own :class:`A2CLearner` over a :func:`clone_agent` copy.
    ``run_until(target_frames, on_update)`` starts one thread per runner; each claims
    ``num_steps * num_envs`` frames before collecting, so the total never overshoots by more than
    one rollout per worker. ``on_update(metrics, frames)`` is called under the lock after every
    optimizer step. Exceptions in workers are re-raised in the caller.
    """

    def __init__(self, shared: A2CLearner, runners: list[RolloutRunner]):
        if not runners:
            raise ValueError("A3C needs at least one worker runner")
        if any(r.learner is shared for r in runners):
            raise ValueError("each A3C worker needs its own learner over a copy of the agent")
        self.shared = shared
        self.runners = runners
        self.lock = threading.Lock()
        self.frames = 0
        self.updates = 0

    def _worker(self, runner: RolloutRunner, target_frames: int, on_update, errors: list):
        frames_per_rollout = runner.num_steps * runner.num_envs
        local = runner.learner
        try:
            while True:
                with self.lock:
                    if self.frames >= target_frames or errors:
                        return
                    self.frames += frames_per_rollout
                    for mine, shared in zip(local.agent.trainable_variables,
                                            self.shared.agent.trainable_variables):
                        mine.assign(shared.value)
                rollout = runner.collect()
                grads, metrics = local.compute_gradients(rollout)
                with self.lock:
                    self.shared.apply_gradients(grads)
                    self.updates += 1
                    if on_update is not None:
                        on_update({k: float(v) for k, v in metrics.items()}, frames_per_rollout)
        except BaseException as exc:  # surfaced in run_until
            errors.append(exc)

    def run_until(self, target_frames: int, on_update=None) -> None:
        errors: list = []
        threads = [threading.Thread(target=self._worker, args=(r, target_frames, on_update, errors),
                                    name=f"a3c-worker-{i}", daemon=True)
                   for i, r in enumerate(self.runners)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def pop_episodes(self) -> list[dict]:
        episodes = []
        for runner in self.runners:
            episodes.extend(runner.pop_episodes())
        return episodes
