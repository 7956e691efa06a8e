"""Monte-Carlo search agent: imagination without a rollout encoder (Weber et al. 2017, Sec. 4.2).

The paper's baseline for learning with imperfect models: for each first action a, imagine a
rollout of length tau with the frozen environment model, later actions from the distilled rollout
policy pi_hat (the imagination core, Sec. 3.1), score it by its discounted imagined return plus a
model-free value at its end, and act by a softmax over the scores::

    score(a) = sum_{t<tau} gamma^t r_hat_t + gamma^tau V(o_hat_tau)
    pi(a | o) = softmax(score / temperature)          (greedy: arg max)

Unlike the I2A, nothing learns to interpret the rollouts, so errors of a poor model go straight
into the choice (the paper's point). ``V`` is the critic of a trained model-free agent (the
agent contract's ``"value"``); ``None`` scores by the imagined return alone. A rollout ends at the
first imagined solve (reward above ``SOLVE_REWARD_THRESHOLD``): later rewards and the bootstrap
value are dropped. With ``num_rollouts`` > 1 the scores of a first action are averaged over that
many independent rollouts. Imagined steps per decision: ``A * tau * num_rollouts`` env-model calls.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from i2a_keras.envs.core import REWARD_FINISHED
from i2a_keras.models.imagination_core import ImaginationCore

__all__ = ["MCSearchConfig", "MCSearch", "SOLVE_REWARD_THRESHOLD", "MAX_ROLLOUT_LENGTH"]

SOLVE_REWARD_THRESHOLD = REWARD_FINISHED / 2
MAX_ROLLOUT_LENGTH = 5


@dataclass
class MCSearchConfig:
    """Settings of the MC search agent (Sec. 4.2)."""

    rollout_length: int = 5
    """tau, imagined steps per rollout (1-5, as the paper's I2A)"""
    num_rollouts: int = 1
    """rollouts per first action; their scores are averaged"""
    temperature: float = 1.0
    """softmax temperature over the scores (> 0)"""
    greedy: bool = False
    """act with the best-scoring first action instead of sampling"""
    gamma: float = 0.99
    """discount of imagined rewards and of the bootstrap value"""

    def __post_init__(self):
        if not 1 <= int(self.rollout_length) <= MAX_ROLLOUT_LENGTH:
            raise ValueError(f"mc.rollout_length (tau) must be in 1..{MAX_ROLLOUT_LENGTH}, "
                             f"got {self.rollout_length}")
        if int(self.num_rollouts) < 1:
            raise ValueError(f"mc.num_rollouts must be >= 1, got {self.num_rollouts}")
        if not float(self.temperature) > 0:
            raise ValueError(f"mc.temperature must be > 0, got {self.temperature}")
        if not 0.0 <= float(self.gamma) <= 1.0:
            raise ValueError(f"mc.gamma must be in [0, 1], got {self.gamma}")


def _logits_of(policy):
    """``obs -> logits`` for a rollout-policy layer or an agent (its ``"logits"`` output)."""
    def logits(obs):
        out = policy(obs)
        return out["logits"] if isinstance(out, dict) else out
    return logits


class MCSearch(keras.layers.Layer):
    """Scores every first action with imagined rollouts and a value (Sec. 4.2).

    Args:
        env_model: frozen env model with ``predict_next`` (``EnvModel``, ``CopyModel`` or
            :class:`~i2a_keras.search.perfect_model.PerfectModel`).
        rollout_policy: pi_hat (an I2A's ``rollout_policy`` layer or any agent).
        value_model: an agent whose ``"value"`` output bootstraps the rollouts, or ``None``.
        num_actions: size of the action set.
        config: :class:`MCSearchConfig`.

    ``scores(obs, rng)`` returns ``float (B, A)``; ``act(obs, rng)`` returns actions ``(B,)``.
    """

    def __init__(self, env_model, rollout_policy, value_model, num_actions, config=None, **kwargs):
        super().__init__(**kwargs)
        self.config = config or MCSearchConfig()
        self.num_actions = int(num_actions)
        self.imagination = ImaginationCore(env_model, _logits_of(rollout_policy), self.num_actions,
                                           rollout_length=self.config.rollout_length,
                                           rollout_sampling="sample", name="mc_imagination")
        self.rollout_policy = rollout_policy
        self.value_model = value_model
        self._scores_fn = None
        # A numpy simulator (the perfect model) cannot run inside a compiled function.
        self.compiled = not getattr(env_model, "eager_only", False)
        # No weights of its own; the models it holds are built (loaded or called) by their owner.
        self.imagination.built = True
        self.built = True

    @property
    def imagined_steps_per_decision(self) -> int:
        """Env-model calls per observation and decision: ``A * tau * num_rollouts``."""
        return self.num_actions * self.config.rollout_length * self.config.num_rollouts

    def call(self, obs, noise=None):
        """Scores ``(B, A)`` of a batch; ``noise``: uniforms ``(B * n, A, tau - 1)`` (n rollouts
        per action, row ``b * n + k``) for the rollout policy, or ``None`` when tau = 1."""
        cfg, n = self.config, self.config.num_rollouts
        tau, num_actions = cfg.rollout_length, self.num_actions
        obs = ops.repeat(ops.cast(obs, "float32"), n, axis=0)
        imagined = self.imagination(obs, noise=noise)
        rewards = imagined["rewards"]                                   # (B n, A, tau)
        # A rollout ends at its first imagined solve: keep rewards up to it, no bootstrap after.
        solved = ops.cast(rewards > SOLVE_REWARD_THRESHOLD, "float32")
        solved_before = ops.cumsum(solved, axis=-1) - solved
        alive = ops.cast(solved_before == 0, "float32")
        discounts = ops.power(ops.cast(cfg.gamma, "float32"), ops.arange(tau, dtype="float32"))
        score = ops.sum(rewards * alive * discounts, axis=-1)           # (B n, A)
        if self.value_model is not None:
            last = imagined["frames"][:, :, -1]
            last = ops.reshape(last, (-1,) + tuple(last.shape[2:]))
            value = ops.reshape(ops.cast(self.value_model(last)["value"], "float32"),
                                (-1, num_actions))
            ended = ops.max(solved, axis=-1)
            score = score + (cfg.gamma ** tau) * value * (1.0 - ended)
        return ops.mean(ops.reshape(score, (-1, n, num_actions)), axis=1)

    def scores(self, obs, rng: np.random.Generator) -> np.ndarray:
        """Scores ``(B, A)``; the rollout policy's samples are drawn from ``rng``."""
        obs = np.asarray(obs)
        tau, n = self.config.rollout_length, self.config.num_rollouts
        args = [obs]
        if tau > 1:
            args.append(rng.random((len(obs) * n, self.num_actions, tau - 1), dtype=np.float32))
        if not self.compiled:
            return np.asarray(ops.convert_to_numpy(self(*args)))
        if self._scores_fn is None:
            from i2a_keras import backends
            self._scores_fn = backends.get().forward_fn(self, lambda call, *a: call(*a))
        return np.asarray(ops.convert_to_numpy(self._scores_fn(*args)))

    def act(self, obs, rng: np.random.Generator) -> np.ndarray:
        """Actions ``(B,)``: softmax over the scores at the temperature (or the arg max)."""
        scores = self.scores(obs, rng).astype(np.float64)
        if self.config.greedy:
            return np.argmax(scores, axis=-1).astype(np.int32)
        z = scores / self.config.temperature
        p = np.exp(z - z.max(axis=-1, keepdims=True))
        p /= p.sum(axis=-1, keepdims=True)
        u = rng.random((len(p), 1))
        return np.minimum((np.cumsum(p, axis=-1) <= u).sum(axis=-1), self.num_actions - 1).astype(np.int32)
