"""Asynchronous advantage actor-critic (A3C; Mnih et al., 2016), as used by Weber et al. (2017,
Sec. 3.3: "trained with A3C ... RMSprop").

``num_workers`` threads each own a vector env (a batch of envs) and a :class:`RolloutRunner`.
Each worker repeatedly collects a rollout with the *current shared* weights, computes gradients
(same :func:`~i2a_keras.algos.a2c.a2c_loss` via :meth:`A2CLearner.compute_gradients`, lock-free,
Hogwild-style: weights may change under it) and applies them with the single shared RMSprop
optimizer (shared statistics, as in the A3C paper). Only the optimizer step holds a lock, because
Keras optimizers are not thread-safe. TensorFlow releases the GIL inside ops, so the workers'
forward/backward passes overlap. Worker interleaving makes A3C runs non-reproducible; use A2C when
exact reproducibility matters.
"""
from __future__ import annotations

import threading

from i2a_keras.algos.a2c import A2CLearner, RolloutRunner

__all__ = ["A3CWorkers"]


class A3CWorkers:
    """Runs A3C worker threads until a shared frame budget is reached.

    ``run_until(target_frames, on_update)`` starts one thread per runner; each claims
    ``num_steps * num_envs`` frames before collecting, so the total never overshoots by more than
    one rollout per worker. ``on_update(metrics, frames)`` is called under the lock after every
    optimizer step. Exceptions in workers are re-raised in the caller.
    """

    def __init__(self, learner: A2CLearner, runners: list[RolloutRunner]):
        if not runners:
            raise ValueError("A3C needs at least one worker runner")
        self.learner = learner
        self.runners = runners
        self.lock = threading.Lock()
        self.frames = 0
        self.updates = 0

    def _worker(self, runner: RolloutRunner, target_frames: int, on_update, errors: list):
        frames_per_rollout = runner.num_steps * runner.num_envs
        try:
            while True:
                with self.lock:
                    if self.frames >= target_frames or errors:
                        return
                    self.frames += frames_per_rollout
                rollout = runner.collect()
                grads, metrics = self.learner.compute_gradients(rollout)
                with self.lock:
                    self.learner.apply_gradients(grads)
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
