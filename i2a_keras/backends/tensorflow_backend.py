"""TensorFlow steps: ``tf.function`` over the stateful Keras model (see ``backends/__init__``)."""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

__all__ = ["forward_fn", "train_step_fn", "gradients_fn", "setup", "to_numpy"]


def _call(agent):
    return lambda *x, **kwargs: agent(*x, **kwargs)


def forward_fn(agent, fn):
    compiled = tf.function(lambda *args: fn(_call(agent), *args), reduce_retracing=True)
    return compiled


def _loss_scale(optimizer):
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return tf.cast(optimizer.dynamic_scale, tf.float32)
    return tf.constant(1.0)


def _gradients(agent, optimizer, loss_fn, clip_fn, batch):
    variables = agent.trainable_variables
    with tf.GradientTape() as tape:
        loss, metrics = loss_fn(_call(agent), *batch)
        scaled = optimizer.scale_loss(loss) if optimizer is not None and hasattr(optimizer, "scale_loss") \
            else loss
    grads = tape.gradient(scaled, variables)
    grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
    grads, clip_metrics = clip_fn(grads, _loss_scale(optimizer))
    metrics.update(clip_metrics)
    return grads, metrics


def train_step_fn(agent, optimizer, loss_fn, clip_fn):
    @tf.function(reduce_retracing=True)
    def step(*batch):
        grads, metrics = _gradients(agent, optimizer, loss_fn, clip_fn, batch)
        optimizer.apply(grads, agent.trainable_variables)
        return metrics

    return step


def gradients_fn(agent, loss_fn, clip_fn, optimizer=None):
    return tf.function(lambda *batch: _gradients(agent, optimizer, loss_fn, clip_fn, batch),
                       reduce_retracing=True)


def setup(seed: int, deterministic: bool = False) -> str:
    keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    gpus = tf.config.list_physical_devices("GPU")
    return f"tensorflow, GPU x{len(gpus)}" if gpus else "tensorflow, CPU"


def to_numpy(tree):
    return tf.nest.map_structure(lambda x: np.asarray(x), tree)
