"""Advantage actor-critic (Weber et al., 2017, Sec. 3.3; Mnih et al., 2016, A3C/A2C).

The paper trains the model-free baseline and the I2A with A3C and RMSprop. This module holds the
pieces shared by the synchronous (A2C, :class:`A2CLearner` + :class:`RolloutRunner`) and the
asynchronous (:mod:`i2a_keras.algos.a3c`) variants:

- :func:`nstep_returns`: n-step bootstrapped returns, and :func:`lambda_returns`, their
  lambda-weighted mix (the targets of GAE; lambda = 1 gives the n-step returns). With gymnasium's
  SAME_STEP autoreset an env that ends at step t is already reset in the obs returned by that step,
  so the return never bootstraps across the boundary: a *terminated* step's target is just ``r_t``;
  a *truncated* (time-limit) step's target is ``r_t + gamma * V(final_obs_t)``, the value of the
  last observation of the cut episode (``info["final_obs"]``).
- :func:`vtrace_targets`: V-trace (Espeholt et al., 2018), the off-policy correction of the
  Boxoban anchors' learner, for the policy lag of minibatches (``a2c.vtrace``).
- :func:`a2c_loss`: policy-gradient loss with the advantage ``R - V`` held constant, value loss
  ``0.5 * (R - V)^2``, entropy bonus, plus the agent's optional ``aux_loss`` (e.g. the I2A
  distillation loss, Sec. 3.1).
- :class:`A2CLearner`: compiled acting and update steps (:mod:`i2a_keras.backends`: TensorFlow or
  JAX) with RMSprop or Adam and gradient-norm clipping per parameter group.
- :class:`RolloutRunner`: collects ``num_steps`` steps from a batched vector env with one compiled
  acting call per step; the imagination noise and the actions are drawn in numpy from a seeded
  ``np.random.Generator``, so runs are reproducible and the RNG state is checkpointable. The
  rollout keeps what the acting pass computed (logits, values, imagined rollouts) for the update.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Sequence

import keras
import numpy as np
from keras import ops

from i2a_keras.algos.distillation import policy_kl

__all__ = ["A2CConfig", "nstep_returns", "lambda_returns", "vtrace_targets", "a2c_loss",
           "explained_variance", "make_optimizer", "clip_by_group", "A2CLearner", "RolloutRunner",
           "Rollout", "sample_actions", "final_obs_rows", "make_acting_fn", "make_policy_fn",
           "make_actor", "draw_noise", "rollout_noise_shape", "stack_replay"]


@dataclass
class A2CConfig:
    """Hyper-parameters of (synchronous or asynchronous) advantage actor-critic (Sec. 3.3, App. A).

    One update uses ``num_envs * num_steps`` frames.
    """

    num_envs: int = 32
    """parallel environments per worker"""
    num_steps: int = 5
    """steps per env between updates (the n of the n-step returns)"""
    gamma: float = 0.99
    """discount factor"""
    gae_lambda: float = 1.0
    """lambda of the lambda-returns (GAE, Schulman et al. 2016); 1 gives the paper's n-step returns"""
    num_minibatches: int = 1
    """optimizer steps per rollout, each on the whole trajectories of num_envs / num_minibatches envs (the Boxoban anchors: 256 envs x 20 steps in 8); A2C only"""
    vtrace: bool = False
    """V-trace targets and advantages (IMPALA; rho and c clipped at 1, gae_lambda its lambda; the bootstrap and time-limit values are the acting pass's): corrects the policy lag of later minibatches"""
    learning_rate: float = 7e-4
    """initial learning rate"""
    lr_schedule: str = "constant"
    """'constant' or 'linear' (decays to 0 at run.total_frames)"""
    optimizer: str = "rmsprop"
    """'rmsprop' (the paper's) or 'adam' (the Boxoban ResNet/DRC anchors' choice)"""
    rmsprop_rho: float = 0.99
    """RMSprop's decay of the squared-gradient average"""
    rmsprop_epsilon: float = 1e-5
    """RMSprop's epsilon"""
    entropy_coef: float = 0.01
    """weight of the entropy bonus"""
    value_coef: float = 0.5
    """weight of the value loss"""
    max_grad_norm: float = 0.5
    """clip each parameter group's gradient (the I2A's distilled rollout policy apart from the rest) to this norm; 0 disables"""
    normalize_advantages: bool = False
    """standardise the advantages within each batch"""
    num_workers: int = 1
    """A3C threads or Ray actors (run.distributed=ray), each with num_envs envs"""

    def __post_init__(self):
        checks = {
            "num_envs": self.num_envs >= 1, "num_steps": self.num_steps >= 1,
            "gamma": 0.0 <= self.gamma <= 1.0, "gae_lambda": 0.0 <= self.gae_lambda <= 1.0,
            "num_minibatches": self.num_minibatches >= 1, "learning_rate": self.learning_rate > 0,
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
        if self.num_envs % self.num_minibatches:
            raise ValueError(f"A2CConfig.num_minibatches ({self.num_minibatches}) must divide "
                             f"num_envs ({self.num_envs}): each minibatch is whole env trajectories")


def nstep_returns(rewards, bootstrap_value, terminated, truncated, truncation_value, gamma):
    """n-step bootstrapped returns ``(T, N)`` for a rollout of T steps of N envs.

    Args:
      rewards: ``(T, N)`` reward after the action at step t.
      bootstrap_value: ``(N,)`` value of the observation after the last step.
      terminated, truncated: ``(T, N)`` bool, the episode ended at step t (SAME_STEP autoreset).
      truncation_value: ``(T, N)`` value of ``final_obs`` where ``truncated`` (ignored elsewhere).
      gamma: discount.

    ``R_t = r_t`` if terminated, ``r_t + gamma V(final_obs_t)`` if truncated (and not terminated),
    else ``r_t + gamma R_{t+1}`` with ``R_T = bootstrap_value``. Numpy in, numpy out (tensors are
    converted).
    """
    return lambda_returns(rewards, None, bootstrap_value, terminated, truncated, truncation_value,
                          gamma, 1.0)


def lambda_returns(rewards, values, bootstrap_value, terminated, truncated, truncation_value,
                   gamma, lam):
    """lambda-returns ``(T, N)``: the targets whose advantages ``G_t - V(s_t)`` are GAE(gamma, lam).

    As :func:`nstep_returns`, with ``values (T, N)`` the acting pass's ``V(s_t)``: a step that
    does not end its episode continues with ``(1 - lam) V(s_{t+1}) + lam G_{t+1}`` (``s_T``'s
    value is ``bootstrap_value``). ``lam = 1`` is the n-step return (``values`` unused, may be
    None); ``lam = 0`` the one-step TD target ``r_t + gamma V(s_{t+1})``.

    Computed on the host in numpy float32 from the rollout, before the update, as SB3's
    ``RolloutBuffer.compute_returns_and_advantage`` does: the same recursion in eager backend ops
    cost ~150x more: half the ``small`` preset's update (docs/results.md, "Returns on the host").
    """
    rewards = np.asarray(rewards, np.float32)
    terminated = np.asarray(terminated, bool)
    truncated = np.asarray(truncated, bool)
    truncation_value = np.asarray(truncation_value, np.float32)
    if rewards.ndim < 1:
        raise ValueError("lambda_returns needs rewards of shape (T, N)")
    if lam != 1.0 and values is None:
        raise ValueError("lambda_returns with lam < 1 needs the acting values V(s_t)")
    values = None if values is None else np.asarray(values, np.float32)
    next_return = next_value = np.asarray(bootstrap_value, np.float32)
    returns = np.empty_like(rewards)
    for t in reversed(range(len(rewards))):
        if lam != 1.0:
            next_return = (1.0 - lam) * next_value + lam * next_return
            next_value = values[t]
        continuation = np.where(truncated[t], truncation_value[t], next_return)
        continuation = np.where(terminated[t], np.float32(0.0), continuation)
        next_return = returns[t] = rewards[t] + np.float32(gamma) * continuation
    return returns


def vtrace_targets(behaviour_logits, target_logits, actions, rewards, values, bootstrap_value,
                   terminated, truncated, truncation_value, gamma, lam=1.0, rho_bar=1.0, c_bar=1.0):
    """V-trace value targets ``vs`` and policy-gradient advantages (Espeholt et al., 2018, Sec. 4).

    ``(T, N)`` arrays as in :func:`lambda_returns`, ``(T, N, A)`` logits of the acting
    (behaviour) policy mu and of the policy being trained pi, and ``values`` its ``V(s_t)``. With
    ``rho_t = pi(a_t|s_t) / mu(a_t|s_t)``, ``delta_t = min(rho_bar, rho_t) (r_t + gamma V(s_{t+1})
    - V(s_t))`` and ``c_t = lam min(c_bar, rho_t)``: ``vs_t = V(s_t) + delta_t + gamma c_t
    (vs_{t+1} - V(s_{t+1}))``, cut where the episode ends; the advantage is ``min(rho_bar, rho_t)
    (r_t + gamma vs_{t+1} - V(s_t))``. On-policy (mu = pi) ``vs`` is the lambda-return. Both
    outputs carry no gradient.
    """
    f32 = lambda x: ops.cast(x, "float32")  # noqa: E731
    rewards, values, truncation_value = f32(rewards), ops.stop_gradient(f32(values)), f32(truncation_value)
    bootstrap_value = f32(bootstrap_value)
    terminated, truncated = ops.cast(terminated, "bool"), ops.cast(truncated, "bool")
    num_steps = rewards.shape[0]
    if num_steps is None:
        raise ValueError("vtrace_targets needs a static number of steps (rewards.shape[0])")
    actions = ops.cast(actions, "int32")[..., None]
    log_rho = ops.squeeze(
        ops.take_along_axis(ops.log_softmax(f32(target_logits), axis=-1), actions, axis=-1)
        - ops.take_along_axis(ops.log_softmax(f32(behaviour_logits), axis=-1), actions, axis=-1), -1)
    rho = ops.exp(ops.stop_gradient(log_rho))
    clipped_rho, cs = ops.minimum(rho, rho_bar), lam * ops.minimum(rho, c_bar)
    zeros = ops.zeros_like(bootstrap_value)

    def successor(x):  # the value after step t: x_{t+1}, V(final_obs) at a time limit, 0 at an end
        nxt = ops.concatenate([x[1:], bootstrap_value[None]], axis=0)
        return ops.where(terminated, 0.0, ops.where(truncated, truncation_value, nxt))

    deltas = clipped_rho * (rewards + gamma * successor(values) - values)
    ends = ops.logical_or(terminated, truncated)
    acc, corrections = zeros, [None] * num_steps
    for t in reversed(range(num_steps)):
        acc = deltas[t] + gamma * ops.where(ends[t], zeros, cs[t] * acc)
        corrections[t] = acc
    vs = values + ops.stack(corrections, axis=0)
    advantages = clipped_rho * (rewards + gamma * successor(vs) - values)
    return ops.stop_gradient(vs), ops.stop_gradient(advantages)


def a2c_loss(outputs, actions, returns, entropy_coef=0.01, value_coef=0.5, normalize_advantages=False,
             advantages=None):
    """Actor-critic loss on a flat batch (Sec. 3.3; Mnih et al., 2016).

    ``outputs`` is the agent's dict (``logits (B, A)``, ``value (B,)``, optional ``aux_loss``),
    ``actions (B,)`` int, ``returns (B,)``. Returns ``(total_loss, metrics)`` where
    ``total = policy + value_coef * value - entropy_coef * entropy + aux_loss`` with
    ``policy = -mean(log pi(a|s) * stop_grad(R - V))``, ``value = mean(0.5 (R - V)^2)`` and
    ``entropy = mean(H(pi(.|s)))``. ``advantages (B,)``, if given, replace ``R - V`` in the
    policy term (V-trace's).
    """
    logits = ops.cast(outputs["logits"], "float32")
    values = ops.cast(outputs["value"], "float32")
    returns = ops.cast(returns, "float32")
    log_probs = ops.log_softmax(logits, axis=-1)
    actions = ops.cast(actions, "int32")
    log_prob_taken = ops.squeeze(ops.take_along_axis(log_probs, actions[:, None], axis=-1), axis=-1)
    advantages = ops.stop_gradient(returns - values if advantages is None else ops.cast(advantages, "float32"))
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


def explained_variance(values, returns):
    """``1 - Var(returns - values) / Var(returns)`` over the batch: 1 when the critic predicts the
    n-step returns exactly, 0 when it does no better than their mean, negative when worse; 0 when
    the returns do not vary (CleanRL's and Stable-Baselines3's critic diagnostic)."""
    values, returns = ops.cast(values, "float32"), ops.cast(returns, "float32")
    var_returns = ops.var(returns)
    ratio = ops.var(returns - values) / ops.maximum(var_returns, 1e-12)
    return ops.where(var_returns > 0, 1.0 - ratio, ops.zeros_like(ratio))


def make_optimizer(config: A2CConfig, total_updates: int | None = None, mixed_precision: str = "off"):
    """RMSprop (as in the paper, Sec. 3.3) or Adam, with optional linear decay to 0 after
    ``total_updates`` rollouts (``num_minibatches`` optimizer steps each), wrapped in loss
    scaling for ``mixed_precision='float16'`` (bfloat16 has float32's range and needs none).
    Gradient clipping is the learner's (per parameter group, :func:`clip_by_group`)."""
    lr = config.learning_rate
    if config.lr_schedule == "linear":
        if not total_updates or total_updates < 1:
            raise ValueError("lr_schedule='linear' needs total_updates >= 1")
        lr = keras.optimizers.schedules.PolynomialDecay(
            config.learning_rate, decay_steps=int(total_updates) * config.num_minibatches,
            end_learning_rate=0.0, power=1.0)
    if config.optimizer == "adam":
        optimizer = keras.optimizers.Adam(learning_rate=lr)
    else:
        optimizer = keras.optimizers.RMSprop(learning_rate=lr, rho=config.rmsprop_rho,
                                             epsilon=config.rmsprop_epsilon)
    if mixed_precision not in ("off", "float16", "bfloat16"):
        raise ValueError(f"mixed_precision must be 'off', 'float16' or 'bfloat16', got {mixed_precision!r}")
    if mixed_precision == "float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def clip_by_group(grads, groups: dict, max_norm: float, scale=1.0):
    """Clip each parameter group's gradient to norm ``max_norm`` (0: no clipping).

    ``groups`` maps a name to gradient indices. Clipping the distilled rollout policy's gradient
    apart from the RL gradient keeps a large distillation gradient from shrinking the policy
    update, as one global norm would. ``scale`` is a loss scale the gradients still carry.
    Returns the clipped gradients and ``grad_norm`` (all groups) plus ``grad_norm_<group>``
    (when there are several), all unscaled and before clipping.
    """
    out = list(grads)
    squares = {name: sum(ops.sum(ops.square(ops.cast(grads[i], "float32"))) for i in idx)
               for name, idx in groups.items() if idx}
    metrics = {"grad_norm": ops.sqrt(sum(squares.values())) / scale}
    for name, sq in squares.items():
        norm = ops.sqrt(sq)
        if len(squares) > 1:
            metrics[f"grad_norm_{name}"] = norm / scale
        if max_norm > 0:  # Keras's clip_by_global_norm: g * c / max(|g|, c)
            factor = max_norm * scale / ops.maximum(norm, max_norm * scale)
            for i in groups[name]:
                out[i] = grads[i] * ops.cast(factor, grads[i].dtype)
    return out, metrics


def sample_actions(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sample one action per row of ``logits`` (Gumbel-max trick) with a numpy generator."""
    gumbel = -np.log(-np.log(rng.random(logits.shape, dtype=np.float32) + 1e-20) + 1e-20)
    return np.argmax(logits + gumbel, axis=-1).astype(np.int32)


def rollout_noise_shape(agent) -> tuple | None:
    """Per-observation shape of the uniforms an agent's imagination consumes (``None``: none)."""
    return getattr(agent, "rollout_noise_shape", None)


def draw_noise(agent, n: int, rng: np.random.Generator):
    """Uniforms ``(n,) + rollout_noise_shape`` for the agent's rollout policy, or ``None``."""
    shape = rollout_noise_shape(agent)
    return None if shape is None else rng.random((n,) + tuple(shape), dtype=np.float32)


def _acting(call, obs, noise=None):
    kwargs = {} if noise is None else {"rollout_noise": noise}
    out = call(obs, training=False, **kwargs)
    replay = {k: v for k, v in out.items() if k == "imagined"}
    return ops.cast(out["logits"], "float32"), ops.cast(out["value"], "float32"), replay


def make_acting_fn(agent):
    """Compiled acting pass ``fn(obs, noise=None) -> (logits, value, replay)`` at the agent's
    current weights. ``replay`` holds what the agent imagined (the I2A's ``"imagined"``
    rollouts), to be passed back to the update unchanged; model-free agents return ``{}``."""
    from i2a_keras import backends

    compiled = backends.get().forward_fn(agent, _acting)

    def act(obs, noise=None):
        return compiled(obs) if noise is None else compiled(obs, noise)

    return act


def make_policy_fn(agent):
    """Compiled ``fn(obs, rng) -> logits`` (numpy) for evaluation and data collection; the
    agent's rollout noise, if any, is drawn from ``rng``."""
    from i2a_keras import backends

    compiled = backends.get().forward_fn(agent, lambda call, *args: _acting(call, *args)[0])

    def policy(obs, rng):
        noise = draw_noise(agent, len(obs), rng)
        return np.asarray(compiled(obs) if noise is None else compiled(obs, noise))

    return policy


def make_actor(agent, greedy: bool = False):
    """Compiled ``fn(obs, rng) -> actions`` (int32 numpy, one per observation): the policy's most
    likely action (``greedy``) or a sample from it, the agent's rollout noise (if any) and the
    sample drawn from ``rng`` (Stable-Baselines3's ``predict(obs, deterministic=greedy)``)."""
    policy = make_policy_fn(agent)

    def act(obs, rng):
        logits = policy(obs, rng)
        return np.argmax(logits, axis=-1).astype(np.int32) if greedy else sample_actions(logits, rng)

    return act


class A2CLearner:
    """Owns the agent, the optimizer and the compiled acting and update steps.

    ``update(rollout)`` computes n-step returns from the values stored while acting and applies one
    optimizer step on the ``num_steps * num_envs`` acting rows only (no bootstrap rows), replaying
    the imagination stored with the rollout, so the update differentiates exactly the forward pass
    that chose the actions. For A3C the two halves are also available: ``compute_gradients`` and
    ``apply_gradients``. Compiled through :mod:`i2a_keras.backends` (TensorFlow or JAX).
    ``apply_updates=False`` (an A3C worker's learner over its copy of the agent) compiles no update
    step; its ``optimizer`` (the shared one) only supplies the loss scale.
    """

    def __init__(self, agent: keras.Model, optimizer, config: A2CConfig, observation_shape=None,
                 apply_updates: bool = True):
        from i2a_keras import backends

        self.agent = agent
        self.optimizer = optimizer
        self.config = config
        self.observation_shape = tuple(observation_shape or agent.observation_shape)
        self.noise_shape = rollout_noise_shape(agent)
        backend = backends.get()
        self._to_numpy = backend.to_numpy
        self._act = make_acting_fn(agent)
        self._value = backend.forward_fn(agent, lambda call, *a: _acting(call, *a)[1])
        groups = agent.parameter_groups() if hasattr(agent, "parameter_groups") else \
            {"all": agent.trainable_variables}
        index = {id(v): i for i, v in enumerate(agent.trainable_variables)}
        self.groups = {name: [index[id(v)] for v in vs] for name, vs in groups.items()}
        if optimizer is not None:
            # Clipping is per group here; an optimizer restored from an older checkpoint may
            # still carry its own global-norm clip, which would clip the groups together again.
            inner = getattr(optimizer, "inner_optimizer", optimizer)
            for opt in {id(optimizer): optimizer, id(inner): inner}.values():
                opt.global_clipnorm = None
                opt.clipnorm = None
            if apply_updates and not optimizer.built:
                optimizer.build(agent.trainable_variables)
        if apply_updates:
            self._update = backend.train_step_fn(agent, optimizer, self._loss, self._clip)
        self._gradients = backend.gradients_fn(agent, self._loss, self._clip, optimizer)

    def _clip(self, grads, scale):
        return clip_by_group(grads, self.groups, self.config.max_grad_norm, scale)

    def act(self, obs, noise=None):
        """Acting pass: numpy ``(logits, value)`` and the agent's ``replay`` tensors."""
        logits, value, replay = self._act(obs, noise)
        return np.asarray(logits), np.asarray(value), replay

    def value(self, obs, noise=None) -> np.ndarray:
        return np.asarray(self._value(obs) if noise is None else self._value(obs, noise))

    def _loss(self, call, obs, actions, targets, behaviour_logits, replay):
        cfg = self.config
        out = call(obs, training=True, **replay)
        returns, advantages = targets, None
        if cfg.vtrace:  # targets: the rollout's (T, N) rewards and episode ends
            steps = lambda x: ops.reshape(x, (cfg.num_steps, -1) + tuple(x.shape[1:]))  # noqa: E731
            vs, advantages = vtrace_targets(
                steps(behaviour_logits), steps(out["logits"]), steps(actions), targets["rewards"],
                steps(out["value"]), targets["bootstrap_value"], targets["terminated"],
                targets["truncated"], targets["truncation_values"], cfg.gamma, cfg.gae_lambda)
            returns, advantages = ops.reshape(vs, (-1,)), ops.reshape(advantages, (-1,))
        loss, metrics = a2c_loss(out, actions, returns, cfg.entropy_coef, cfg.value_coef,
                                 cfg.normalize_advantages, advantages)
        values = ops.cast(out["value"], "float32")
        metrics["mean_return_target"] = ops.mean(returns)
        metrics["mean_value"] = ops.mean(values)
        metrics["explained_variance"] = explained_variance(values, returns)
        # KL(acting policy || policy being differentiated): 0 up to float error for A2C; the
        # policy lag of an A3C worker otherwise.
        metrics["behaviour_kl"] = policy_kl(behaviour_logits, out["logits"])
        return loss, metrics

    def batch(self, rollout: "Rollout"):
        """The update's inputs: flat acting rows, actions, targets (the lambda-returns; with
        V-trace the rollout's rewards and episode ends, its targets needing the trained policy),
        acting logits, replay."""
        T, N = rollout.actions.shape
        if self.config.vtrace:
            targets = {"rewards": rollout.rewards, "terminated": rollout.terminated,
                       "truncated": rollout.truncated, "truncation_values": rollout.truncation_values,
                       "bootstrap_value": rollout.bootstrap_value}
        else:
            returns = lambda_returns(rollout.rewards, rollout.values, rollout.bootstrap_value,
                                     rollout.terminated, rollout.truncated, rollout.truncation_values,
                                     self.config.gamma, self.config.gae_lambda)
            targets = returns.reshape(-1)
        replay = keras.tree.map_structure(
            lambda x: ops.reshape(x, (T * N,) + tuple(x.shape[2:])), rollout.replay)
        return (rollout.obs.reshape((T * N,) + rollout.obs.shape[2:]), rollout.actions.reshape(-1),
                targets, rollout.logits.reshape(T * N, -1), replay)

    def update(self, rollout: "Rollout") -> dict:
        """One synchronous A2C update on a rollout: ``num_minibatches`` optimizer steps, each on
        the whole trajectories of a slice of the envs (the returns use the acting values, so they
        do not depend on the split); returns the metrics averaged over the steps, as floats."""
        parts = rollout.split(self.config.num_minibatches)
        rows = [self._to_numpy(self._update(*self.batch(part))) for part in parts]
        return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}

    def compute_gradients(self, rollout: "Rollout"):
        """Gradients of the loss on ``rollout`` at this learner's agent's weights (A3C)."""
        if self.config.num_minibatches != 1:
            raise ValueError("a2c.num_minibatches > 1 is for synchronous A2C, not A3C workers")
        return self._gradients(*self.batch(rollout))

    def apply_gradients(self, grads):
        """Apply gradients (already clipped by group) with this learner's optimizer (A3C)."""
        self.optimizer.apply(grads, self.agent.trainable_variables)


@dataclass
class Rollout:
    """``num_steps`` x ``num_envs`` transitions as the agent acted on them.

    ``logits`` and ``values`` are the acting policy's, ``bootstrap_value`` is ``V`` of the
    observation after the last step and ``truncation_values`` ``V(final_obs)`` of time-limit cuts,
    all computed while acting; ``replay`` holds the agent's acting-time tensors (the I2A's imagined
    rollouts), stacked ``(T, N, ...)``.
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    truncation_values: np.ndarray
    bootstrap_value: np.ndarray
    logits: np.ndarray
    replay: dict = field(default_factory=dict)
    values: np.ndarray | None = None

    def split(self, k: int) -> list["Rollout"]:
        """``k`` rollouts of ``N / k`` envs each (whole trajectories), in env order."""
        if k == 1:
            return [self]
        n = self.actions.shape[1] // k

        def take(cols):
            return lambda xs, axis: xs[0][(slice(None),) * axis + (cols,)]

        return [Rollout(**{f.name: _along_env_axis(f.name, take(slice(i * n, (i + 1) * n)),
                                                   getattr(self, f.name))
                           for f in dataclasses.fields(self)}) for i in range(k)]

    @classmethod
    def concat(cls, rollouts: Sequence["Rollout"]) -> "Rollout":
        """One ``T x (K * N)`` rollout from K rollouts of ``T x N`` (the inverse of :meth:`split`)."""
        if len(rollouts) == 1:
            return rollouts[0]
        return cls(**{f.name: _along_env_axis(f.name, lambda xs, axis: np.concatenate(xs, axis=axis),
                                              *(getattr(r, f.name) for r in rollouts))
                      for f in dataclasses.fields(cls)})


def _along_env_axis(name: str, fn, *values):
    """``fn(arrays, axis)`` on one :class:`Rollout` field of one or more rollouts, along its env
    axis: 1 for the (T, N, ...) fields, 0 for ``bootstrap_value`` (N,), leaf by leaf for the
    ``replay`` tree; a field that is None stays None."""
    if values[0] is None:
        return None
    axis = 0 if name == "bootstrap_value" else 1
    if name == "replay":
        return keras.tree.map_structure(lambda *xs: fn(xs, axis), *values)
    return fn(values, axis)


def final_obs_rows(info, indices):
    """Stack ``info["final_obs"][indices]`` whether the env returns an array or an object array."""
    final = info["final_obs"]
    if isinstance(final, np.ndarray) and final.dtype != object:
        return final[indices]
    return np.stack([np.asarray(final[i]) for i in indices])


def _bucket(k: int, n: int) -> int:
    """Rows to evaluate ``k`` truncated envs with: the next power of two (>= 8, <= n), so the
    compiled value function sees few distinct shapes."""
    size = 8
    while size < k:
        size *= 2
    return max(k, min(size, n))


def stack_replay(steps: list[dict]) -> dict:
    """Stack the per-step ``replay`` dicts of the acting passes into ``(T, N, ...)`` tensors."""
    if not steps or not steps[0]:
        return {}
    return keras.tree.map_structure(lambda *xs: ops.stack(xs), *steps)


class RolloutRunner:
    """Collects rollouts from a batched vector env (SAME_STEP autoreset) for A2C/A3C.

    All randomness of acting comes from ``rng`` (a checkpointed numpy generator): each step draws
    the agent's rollout noise (if it imagines) and then the actions. Episode statistics of
    finished episodes accumulate in ``self.episodes`` as dicts with ``return``, ``length`` and
    ``solved`` (from ``info["solved"]`` at the final step); the trainer drains them with
    :meth:`pop_episodes`.
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

    def _noise(self, n):
        return draw_noise(self.learner.agent, n, self.rng)

    def _truncation_values(self, final_obs):
        k = len(final_obs)
        size = _bucket(k, self.num_envs)
        if size > k:
            pad = np.repeat(final_obs[:1], size - k, axis=0)
            final_obs = np.concatenate([final_obs, pad])
        return self.learner.value(final_obs, self._noise(size))[:k]

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
        values = np.empty((T, N), np.float32)
        logits_buf, replay = None, []
        obs = self.obs
        for t in range(T):
            logits, values[t], step_replay = self.learner.act(obs, self._noise(N))
            if logits_buf is None:
                logits_buf = np.empty((T, N, logits.shape[-1]), np.float32)
            logits_buf[t] = logits
            replay.append(step_replay)
            act = sample_actions(logits, self.rng)
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
                    truncation_values[t, cut] = self._truncation_values(final_obs_rows(info, cut))
                self._record_episodes(np.flatnonzero(done), term, info)
        self.obs = np.asarray(obs)
        bootstrap = self.learner.value(self.obs, self._noise(N))
        return Rollout(obs_buf, actions, rewards, terminated, truncated, truncation_values,
                       bootstrap, logits_buf, stack_replay(replay), values)

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
