"""JAX steps: ``agent.stateless_call`` under ``jax.jit``, ``jax.value_and_grad`` and
``optimizer.stateless_apply`` (see ``backends/__init__``)."""
from __future__ import annotations

import jax
import keras
import numpy as np

__all__ = ["forward_fn", "train_step_fn", "gradients_fn", "setup", "to_numpy"]


def _values(variables):
    return [v.value for v in variables]


def _stateless(agent, trainable, non_trainable):
    return lambda *x, **kwargs: agent.stateless_call(trainable, non_trainable, *x, **kwargs)[0]


def forward_fn(agent, fn):
    jitted = jax.jit(lambda tv, ntv, *args: fn(_stateless(agent, tv, ntv), *args))

    def run(*args):
        return jitted(_values(agent.trainable_variables), _values(agent.non_trainable_variables),
                      *args)

    return run


def _check_optimizer(optimizer):
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        raise NotImplementedError("float16 loss scaling is TensorFlow-only here; on JAX use the "
                                  "run.mixed_precision=bfloat16 (no loss scaling) or off")


def _grad_fn(agent, loss_fn, clip_fn):
    def compute(tv, ntv, batch):
        loss, metrics = loss_fn(_stateless(agent, tv, ntv), *batch)
        return loss, metrics

    def gradients(tv, ntv, *batch):
        (_, metrics), grads = jax.value_and_grad(compute, has_aux=True)(tv, ntv, batch)
        grads, clip_metrics = clip_fn(grads, 1.0)
        return grads, {**metrics, **clip_metrics}

    return gradients


def train_step_fn(agent, optimizer, loss_fn, clip_fn):
    _check_optimizer(optimizer)
    gradients = _grad_fn(agent, loss_fn, clip_fn)

    def pure(tv, ntv, ov, *batch):
        grads, metrics = gradients(tv, ntv, *batch)
        tv, ov = optimizer.stateless_apply(ov, grads, tv)
        return tv, ov, metrics

    jitted = jax.jit(pure)

    def step(*batch):
        tv, ov, metrics = jitted(_values(agent.trainable_variables),
                                 _values(agent.non_trainable_variables),
                                 _values(optimizer.variables), *batch)
        for variable, value in zip(agent.trainable_variables, tv):
            variable.assign(value)
        for variable, value in zip(optimizer.variables, ov):
            variable.assign(value)
        return metrics

    return step


def gradients_fn(agent, loss_fn, clip_fn, optimizer=None):
    jitted = jax.jit(_grad_fn(agent, loss_fn, clip_fn))
    return lambda *batch: jitted(_values(agent.trainable_variables),
                                 _values(agent.non_trainable_variables), *batch)


def setup(seed: int, deterministic: bool = False) -> str:
    keras.utils.set_random_seed(int(seed))
    devices = jax.devices()
    return f"jax, {devices[0].platform.upper()} x{len(devices)}"


def to_numpy(tree):
    return jax.tree.map(np.asarray, tree)
