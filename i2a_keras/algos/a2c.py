"""Advantage actor-critic (Weber et al., 2017, Sec. 3.3; Mnih et al., 2016, A3C/A2C).

The paper trains the model-free baseline and the I2A with A3C and RMSprop. This module holds the
pieces shared by the synchronous (A2C, :class:`A2CLearner` + :class:`RolloutRunner`) and the
asynchronous (:mod:`i2a_keras.algos.a3c`) variants:

- :func:`nstep_returns`: n-step bootstrapped returns. With gymnasium's SAME_STEP autoreset an env
  that ends at step t is already reset in the obs returned by that step, so the return never
  bootstraps across the boundary: a *terminated* step's target is just ``r_t``; a *truncated*
  (time-limit) step's target is ``r_t + gamma * V(final_obs_t)``, the value of the last observation
  of the cut episode (``info["final_obs"]``).
- :func:`a2c_loss`: policy-gradient loss with the advantage ``R - V`` held constant, value loss
  ``0.5 * (R - V)^2``, entropy bonus, plus the agent's optional ``aux_loss`` (e.g. the I2A
  distillation loss, Sec. 3.1).
- :class:`A2CLearner`: ``tf.function`` steps (policy evaluation, gradients, update) with RMSprop and
  global-norm gradient clipping.
- :class:`RolloutRunner`: collects ``num_steps`` steps from a batched vector env with one
  ``tf.function`` call per step; actions are sampled in numpy (Gumbel-max) from a seeded
  ``np.random.Generator`` so runs are reproducible and the RNG state is checkpointable.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import ops

__all__ = ["A2CConfig", "nstep_returns", "a2c_loss", "make_optimizer", "A2CLearner",
           "RolloutRunner", "Rollout", "sample_actions", "final_obs_rows"]


@dataclass
class A2CConfig:
    """Hyper-parameters of (synchronous or asynchronous) advantage actor-critic.

    ``num_envs`` parallel envs x ``num_steps`` steps form one update (``num_envs * num_steps``
    frames). ``optimizer``: ``"rmsprop"`` (the paper's, Sec. 3.3; ``rmsprop_rho``/``rmsprop_epsilon``)
    or ``"adam"`` (the Boxoban ResNet/DRC anchors' choice); gradients clipped to a global norm of
    ``max_grad_norm`` (0 disables). ``lr_schedule`` is "constant" or "linear"
    (decays to 0 at ``total_updates``, filled in by the trainer).
    """

    num_envs: int = 32
    num_steps: int = 5
    gamma: float = 0.99
    learning_rate: float = 7e-4
    lr_schedule: str = "constant"
    optimizer: str = "rmsprop"
    rmsprop_rho: float = 0.99
    rmsprop_epsilon: float = 1e-5
    entropy_coef: float = 0.01
    value_coef: float = 0.5
    max_grad_norm: float = 0.5
    normalize_advantages: bool = False
    num_workers: int = 1  # A3C only: worker threads, each with its own ``num_envs`` envs.

    def __post_init__(self):
        checks = {
            "num_envs": self.num_envs >= 1, "num_steps": self.num_steps >= 1,
            "gamma": 0.0 <= self.gamma <= 1.0, "learning_rate": self.learning_rate > 0,
            "rmsprop_rho": 0.0 <= self.rmsprop_rho < 1.0, "rmsprop_epsilon": self.rmsprop_epsilon > 0,
            "entropy_coef": self.entropy_coef >= 0, "value_coef": self.value_coef >= 0,
            "max_grad_norm": self.max_grad_norm >= 0, "num_workers": self.num_workers >= 1,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid A2CConfig values: {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")
        if self.optimizer not in ("rmsprop", "adam"):
            raise ValueError(f"A2CConfig.optimizer must be 'rmsprop' or 'adam', got {self.optimizer!r}")
        if self.lr_schedule not in ("constant", "linear"):
            raise ValueError(f"A2CConfig.lr_schedule must be 'constant' or 'linear', got {self.lr_schedule!r}")


def nstep_returns(rewards, bootstrap_value, terminated, truncated, truncation_value, gamma):
    """n-step bootstrapped returns ``(T, N)`` for a rollout of T steps of N envs.

    Args:
      rewards: ``(T, N)`` reward after the action at step t.
      bootstrap_value: ``(N,)`` value of the observation after the last step.
      terminated, truncated: ``(T, N)`` bool, the episode ended at step t (SAME_STEP autoreset).
      truncation_value: ``(T, N)`` value of ``final_obs`` where ``truncated`` (ignored elsewhere).
      gamma: discount.

    ``R_t = r_t`` if terminated, ``r_t + gamma V(final_obs_t)`` if truncated (and not terminated),
    else ``r_t + gamma R_{t+1}`` with ``R_T = bootstrap_value``. Works on numpy arrays and tensors.
    """
    rewards = ops.cast(rewards, "float32")
    terminated = ops.cast(terminated, "bool")
    truncated = ops.cast(truncated, "bool")
    truncation_value = ops.cast(truncation_value, "float32")
    num_steps = rewards.shape[0]
    if num_steps is None:
        raise ValueError("nstep_returns needs a static number of steps (rewards.shape[0])")
    next_return = ops.cast(bootstrap_value, "float32")
    returns = [None] * num_steps
    zeros = ops.zeros_like(next_return)
    for t in reversed(range(num_steps)):
        continuation = ops.where(truncated[t], truncation_value[t], next_return)
        continuation = ops.where(terminated[t], zeros, continuation)
        next_return = rewards[t] + gamma * continuation
        returns[t] = next_return
    return ops.stack(returns, axis=0)


def a2c_loss(outputs, actions, returns, entropy_coef=0.01, value_coef=0.5, normalize_advantages=False):
    """Actor-critic loss on a flat batch (Sec. 3.3; Mnih et al., 2016).

    ``outputs`` is the agent's dict (``logits (B, A)``, ``value (B,)``, optional ``aux_loss``),
    ``actions (B,)`` int, ``returns (B,)``. Returns ``(total_loss, metrics)`` where
    ``total = policy + value_coef * value - entropy_coef * entropy + aux_loss`` with
    ``policy = -mean(log pi(a|s) * stop_grad(R - V))``, ``value = mean(0.5 (R - V)^2)`` and
    ``entropy = mean(H(pi(.|s)))``.
    """
    logits = ops.cast(outputs["logits"], "float32")
    values = ops.cast(outputs["value"], "float32")
    returns = ops.cast(returns, "float32")
    log_probs = ops.log_softmax(logits, axis=-1)
    actions = ops.cast(actions, "int32")
    log_prob_taken = ops.squeeze(ops.take_along_axis(log_probs, actions[:, None], axis=-1), axis=-1)
    advantages = ops.stop_gradient(returns - values)
    if normalize_advantages:
        advantages = (advantages - ops.mean(advantages)) / (ops.std(advantages) + 1e-8)
    policy_loss = -ops.mean(log_prob_taken * advantages)
    value_loss = ops.mean(0.5 * ops.square(returns - values))
    entropy = -ops.mean(ops.sum(ops.exp(log_probs) * log_probs, axis=-1))
    total = policy_loss + value_coef * value_loss - entropy_coef * entropy
    metrics = {"policy": policy_loss, "value": value_loss, "entropy": entropy}
    if "aux_loss" in outputs and outputs["aux_loss"] is not None:
        aux = ops.cast(outputs["aux_loss"], "float32")
        total = total + aux
        metrics["aux"] = aux
    metrics["total"] = total
    return total, metrics


def make_optimizer(config: A2CConfig, total_updates: int | None = None, mixed_precision: bool = False):
    """RMSprop (as in the paper, Sec. 3.3) or Adam, optional linear decay, global-norm clipping."""
    lr = config.learning_rate
    if config.lr_schedule == "linear":
        if not total_updates or total_updates < 1:
            raise ValueError("lr_schedule='linear' needs total_updates >= 1")
        lr = keras.optimizers.schedules.PolynomialDecay(
            config.learning_rate, decay_steps=int(total_updates), end_learning_rate=0.0, power=1.0)
    clip = config.max_grad_norm if config.max_grad_norm > 0 else None
    if config.optimizer == "adam":
        optimizer = keras.optimizers.Adam(learning_rate=lr, global_clipnorm=clip)
    else:
        optimizer = keras.optimizers.RMSprop(learning_rate=lr, rho=config.rmsprop_rho,
                                             epsilon=config.rmsprop_epsilon, global_clipnorm=clip)
    if mixed_precision:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def sample_actions(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sample one action per row of ``logits`` (Gumbel-max trick) with a numpy generator."""
    gumbel = -np.log(-np.log(rng.random(logits.shape, dtype=np.float32) + 1e-20) + 1e-20)
    return np.argmax(logits + gumbel, axis=-1).astype(np.int32)


class A2CLearner:
    """Owns the agent, the optimizer and the compiled ``tf.function`` steps.

    ``update(rollout)`` computes n-step returns (bootstrapping from the value of the last
    observation, computed in the same forward pass) and applies one RMSprop step. For A3C the two
    halves are also available: ``compute_gradients`` and ``apply_gradients``.
    """

    def __init__(self, agent: keras.Model, optimizer, config: A2CConfig, observation_shape,
                 observation_dtype="uint8"):
        self.agent = agent
        self.optimizer = optimizer
        self.config = config
        self.observation_shape = tuple(observation_shape)
        obs_spec = tf.TensorSpec((None,) + self.observation_shape, tf.as_dtype(observation_dtype))
        T = config.num_steps
        batch_specs = (
            tf.TensorSpec((T, None) + self.observation_shape, tf.as_dtype(observation_dtype)),  # obs
            tf.TensorSpec((None,) + self.observation_shape, tf.as_dtype(observation_dtype)),  # last obs
            tf.TensorSpec((T, None), tf.int32),  # actions
            tf.TensorSpec((T, None), tf.float32),  # rewards
            tf.TensorSpec((T, None), tf.bool),  # terminated
            tf.TensorSpec((T, None), tf.bool),  # truncated
            tf.TensorSpec((T, None), tf.float32),  # truncation values
        )
        self.policy = tf.function(self._policy, input_signature=[obs_spec])
        self.value = tf.function(self._value, input_signature=[obs_spec])
        self._update = tf.function(self._update_impl, input_signature=batch_specs)
        self._gradients = tf.function(self._gradients_impl, input_signature=batch_specs)
        if not self.optimizer.built:
            self.optimizer.build(self.agent.trainable_variables)

    def _policy(self, obs):
        out = self.agent(obs, training=False)
        return ops.cast(out["logits"], "float32"), ops.cast(out["value"], "float32")

    def _value(self, obs):
        return ops.cast(self.agent(obs, training=False)["value"], "float32")

    def _loss(self, obs, last_obs, actions, rewards, terminated, truncated, truncation_values):
        cfg = self.config
        T = cfg.num_steps
        n = tf.shape(last_obs)[0]
        flat_obs = tf.concat([tf.reshape(obs, (-1,) + self.observation_shape), last_obs], axis=0)
        out = self.agent(flat_obs, training=True)
        values = tf.cast(out["value"], tf.float32)
        bootstrap = tf.stop_gradient(values[T * n:])
        returns = tf.stop_gradient(nstep_returns(rewards, bootstrap, terminated, truncated,
                                                 truncation_values, cfg.gamma))
        rollout_out = dict(out)
        rollout_out["logits"] = out["logits"][: T * n]
        rollout_out["value"] = values[: T * n]
        loss, metrics = a2c_loss(rollout_out, tf.reshape(actions, (-1,)), tf.reshape(returns, (-1,)),
                                 cfg.entropy_coef, cfg.value_coef, cfg.normalize_advantages)
        metrics["mean_return_target"] = tf.reduce_mean(returns)
        metrics["mean_value"] = tf.reduce_mean(values[: T * n])
        return loss, metrics

    def _gradients_impl(self, *batch):
        variables = self.agent.trainable_variables
        with tf.GradientTape() as tape:
            loss, metrics = self._loss(*batch)
            scaled = self.optimizer.scale_loss(loss) if hasattr(self.optimizer, "scale_loss") else loss
        grads = tape.gradient(scaled, variables)
        grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
        norm = tf.linalg.global_norm(grads)
        if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
            norm = norm / tf.cast(self.optimizer.dynamic_scale, norm.dtype)
        metrics["grad_norm"] = norm
        return grads, metrics

    def _update_impl(self, *batch):
        grads, metrics = self._gradients_impl(*batch)
        self.optimizer.apply(grads, self.agent.trainable_variables)
        return metrics

    @staticmethod
    def _batch(rollout: "Rollout"):
        return (rollout.obs, rollout.last_obs, rollout.actions, rollout.rewards, rollout.terminated,
                rollout.truncated, rollout.truncation_values)

    def update(self, rollout: "Rollout") -> dict:
        """One synchronous A2C update on a rollout; returns float metrics."""
        metrics = self._update(*self._batch(rollout))
        return {k: float(v) for k, v in metrics.items()}

    def compute_gradients(self, rollout: "Rollout"):
        """Gradients of the loss on ``rollout`` at the current weights (A3C workers)."""
        grads, metrics = self._gradients(*self._batch(rollout))
        return grads, metrics

    def apply_gradients(self, grads):
        """Apply gradients with the shared optimizer (A3C)."""
        self.optimizer.apply(grads, self.agent.trainable_variables)


@dataclass
class Rollout:
    """``num_steps`` x ``num_envs`` transitions plus the observation after the last step."""

    obs: np.ndarray
    last_obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    truncation_values: np.ndarray


def final_obs_rows(info, indices):
    """Stack ``info["final_obs"][indices]`` whether the env returns an array or an object array."""
    final = info["final_obs"]
    if isinstance(final, np.ndarray) and final.dtype != object:
        return final[indices]
    return np.stack([np.asarray(final[i]) for i in indices])


class RolloutRunner:
    """Collects rollouts from a batched vector env (SAME_STEP autoreset) for A2C/A3C.

    Episode statistics of finished episodes accumulate in ``self.episodes`` as dicts with
    ``return``, ``length`` and ``solved`` (from ``info["solved"]`` at the final step); the trainer
    drains them with :meth:`pop_episodes`.
    """

    def __init__(self, env, learner: A2CLearner, num_steps: int, rng: np.random.Generator):
        self.env = env
        self.learner = learner
        self.num_steps = int(num_steps)
        self.rng = rng
        self.num_envs = int(env.num_envs)
        self.obs = None
        self.episodes: list[dict] = []
        self._ep_return = np.zeros(self.num_envs, np.float64)
        self._ep_length = np.zeros(self.num_envs, np.int64)

    def reset(self, seed=None):
        obs, _ = self.env.reset(seed=seed)
        self.obs = np.asarray(obs)
        self._ep_return[:] = 0.0
        self._ep_length[:] = 0
        return self.obs

    def collect(self) -> Rollout:
        if self.obs is None:
            raise RuntimeError("RolloutRunner.collect() called before reset()")
        T, N = self.num_steps, self.num_envs
        obs_buf = np.empty((T, N) + self.obs.shape[1:], self.obs.dtype)
        actions = np.empty((T, N), np.int32)
        rewards = np.empty((T, N), np.float32)
        terminated = np.empty((T, N), bool)
        truncated = np.empty((T, N), bool)
        truncation_values = np.zeros((T, N), np.float32)
        policy, value = self.learner.policy, self.learner.value
        obs = self.obs
        for t in range(T):
            logits, _ = policy(obs)
            act = sample_actions(logits.numpy(), self.rng)
            obs_buf[t] = obs
            actions[t] = act
            obs, rew, term, trunc, info = self.env.step(act)
            rewards[t] = rew
            terminated[t] = term
            truncated[t] = trunc
            self._ep_return += rew
            self._ep_length += 1
            done = term | trunc
            if done.any():
                cut = np.flatnonzero(trunc & ~term)
                if cut.size:
                    truncation_values[t, cut] = value(final_obs_rows(info, cut)).numpy()
                self._record_episodes(np.flatnonzero(done), term, info)
        self.obs = np.asarray(obs)
        return Rollout(obs_buf, self.obs, actions, rewards, terminated, truncated, truncation_values)

    def _record_episodes(self, idx, terminated, info):
        solved = info.get("solved")
        for i in idx:
            self.episodes.append({
                "return": float(self._ep_return[i]),
                "length": int(self._ep_length[i]),
                "solved": bool(solved[i]) if solved is not None else bool(terminated[i]),
            })
        self._ep_return[idx] = 0.0
        self._ep_length[idx] = 0

    def pop_episodes(self) -> list[dict]:
        episodes, self.episodes = self.episodes, []
        return episodes
