"""The one place per Keras backend that compiles the agent's steps (``tf.function`` or
``jax.jit``); everything else in the library is written with ``keras.ops``.

Each backend module provides the same five functions:

- ``forward_fn(agent, fn)``: compiles ``fn(call, *args)``, where ``call(x, **kwargs)`` runs the
  agent at its *current* weights; returns a callable of ``*args``.
- ``train_step_fn(agent, optimizer, loss_fn, clip_fn)``: one gradient step. ``loss_fn(call,
  *batch) -> (loss, metrics)``; ``clip_fn(grads, scale) -> (grads, metrics)`` (``scale``: the
  loss scale of a ``LossScaleOptimizer``, else 1). Returns a callable of ``*batch`` -> metrics.
- ``gradients_fn(agent, loss_fn, clip_fn)``: the same, returning ``(grads, metrics)`` without
  applying them (A3C workers).
- ``setup(seed, deterministic)``: seeds and op determinism; returns a device description.
- ``to_numpy(tree)``: every leaf as a numpy array.

TensorFlow (the default) runs the stateful Keras model inside ``tf.function`` with a
``GradientTape`` and ``optimizer.apply``. JAX runs ``agent.stateless_call`` under ``jax.jit`` with
``jax.value_and_grad`` and ``optimizer.stateless_apply`` (Keras's recipe for custom JAX loops).
``jax_compilation_cache`` keeps JAX's compiled programs on disk across processes.
"""
from __future__ import annotations

import importlib

__all__ = ["get", "name", "cpu_has_native_bfloat16"]

_MODULES = {"tensorflow": "tensorflow_backend", "jax": "jax_backend"}


def name() -> str:
    """The Keras backend in use (``KERAS_BACKEND``; i2a_keras defaults it to tensorflow)."""
    import keras

    return keras.backend.backend()


def get():
    """The backend module of the current Keras backend."""
    backend = name()
    if backend not in _MODULES:
        raise NotImplementedError(
            f"i2a_keras trains on the Keras backends {sorted(_MODULES)}; KERAS_BACKEND={backend!r}")
    return importlib.import_module(f"{__name__}.{_MODULES[backend]}")


# /proc/cpuinfo flags of CPUs that compute in bfloat16 natively (x86: AVX512-BF16, AMX; Arm: BF16).
NATIVE_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


def cpu_has_native_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool | None:
    """Whether this CPU has bfloat16 instructions (None: unknown, e.g. not Linux).

    Without them TensorFlow's oneDNN emulates bfloat16: the 12-conv Boxoban tower trained 7x
    slower in bfloat16 than in float32 on an AMD Zen 3 (docs/results.md, "bfloat16 mixed
    precision on this CPU").
    """
    try:
        with open(cpuinfo) as fh:
            lines = [line for line in fh if line.startswith(("flags", "Features"))]
    except OSError:
        return None
    if not lines:
        return None
    return any(flag in line.split(":", 1)[-1].split() for line in lines for flag in NATIVE_BFLOAT16_FLAGS)
