"""Atomic ``.keras`` checkpoints carrying the model, its optimizer and the training state.

A checkpoint is a normal Keras 3 ``.keras`` zip (model config + weights + the optimizer attached
with ``model.compile(optimizer=...)``), loadable with ``keras.saving.load_model(path,
safe_mode=True)``, plus two extra members that Keras ignores:

- ``i2a_training_state.json``: step counters, config, RNG states (numpy bit-generator state,
  TensorFlow global generator), anything JSON-able the trainer wants back;
- ``i2a_arrays.npz``: numpy arrays (e.g. the vector env's state and current observations).

Writes go to a temporary file in the same directory and are moved into place with
``os.replace``, so a run killed mid-save never leaves a truncated ``latest.keras`` (a run directory
deletes such ``.tmp-*`` files when it is next opened). :func:`save_checkpoint` refuses non-finite
weights (:class:`NonFiniteError`), so a diverged run never overwrites its last good checkpoint;
trainers also check the metrics of every update with :func:`check_finite_metrics`.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile

import keras
import numpy as np

__all__ = ["save_checkpoint", "load_checkpoint", "read_training_state", "numpy_rng_state",
           "restore_numpy_rng", "CheckpointError", "NonFiniteError",
           "check_finite_metrics", "non_finite_variables", "last_good_checkpoint",
           "export_for_inference", "resumable_optimizer"]

STATE_MEMBER = "i2a_training_state.json"
ARRAYS_MEMBER = "i2a_arrays.npz"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the run (the message names the file)."""


class NonFiniteError(FloatingPointError):
    """Training produced NaN/inf losses, gradients or weights (it diverged)."""


def check_finite_metrics(metrics: dict, ignore=()) -> None:
    """Raise :class:`NonFiniteError` naming the metrics (losses, ``grad_norm``) that are NaN/inf
    (except those in ``ignore``, e.g. ``grad_norm`` under loss scaling, which skips such steps)."""
    bad = {k: v for k, v in metrics.items() if k not in ignore and not np.all(np.isfinite(v))}
    if bad:
        raise NonFiniteError("non-finite " + ", ".join(f"{k}={v}" for k, v in bad.items()))


def non_finite_variables(model: keras.Model) -> list[str]:
    """Paths of the model's (and its optimizer's) variables holding NaN or inf."""
    variables = list(model.weights)
    if getattr(model, "optimizer", None) is not None:
        variables += list(model.optimizer.variables)
    return [v.path for v in variables
            if np.issubdtype(np.dtype(v.dtype), np.floating)
            and not np.isfinite(keras.ops.convert_to_numpy(v)).all()]


def last_good_checkpoint(path) -> str:
    """A sentence naming the checkpoint at ``path`` (kept when training diverged) and its frames."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        return f"No checkpoint was saved yet ({path} does not exist)."
    try:
        frames = read_training_state(path)[0].get("frames")
    except CheckpointError:
        return f"The checkpoint {path} is unreadable."
    return f"The last good checkpoint, {path} ({frames} frames), was kept."


def save_checkpoint(path, model: keras.Model, state: dict | None = None,
                    arrays: dict[str, np.ndarray] | None = None) -> str:
    """Atomically write ``model`` (+ ``model.optimizer`` if compiled), ``state`` and ``arrays``.

    Raises :class:`NonFiniteError` (writing nothing) if a weight or optimizer variable is NaN/inf.
    """
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"checkpoint path must end with .keras, got {path!r}")
    bad = non_finite_variables(model)
    if bad:
        raise NonFiniteError(f"non-finite weights in {', '.join(bad[:5])}"
                             f"{f' and {len(bad) - 5} more' if len(bad) > 5 else ''}; "
                             f"not saved to {path}")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".keras", dir=directory)
    os.close(fd)
    try:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as zf:
            zf.writestr(STATE_MEMBER, json.dumps(state or {}))
            if arrays:
                buffer = io.BytesIO()
                np.savez(buffer, **arrays)
                zf.writestr(ARRAYS_MEMBER, buffer.getvalue())
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; use the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_training_state(path) -> tuple[dict, dict[str, np.ndarray]]:
    """The ``(state, arrays)`` stored in a checkpoint (empty if it has none).

    Raises ``FileNotFoundError`` or :class:`CheckpointError` (unreadable, truncated, not a zip).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            state = json.loads(zf.read(STATE_MEMBER)) if STATE_MEMBER in names else {}
            arrays = {}
            if ARRAYS_MEMBER in names:
                with np.load(io.BytesIO(zf.read(ARRAYS_MEMBER)), allow_pickle=False) as data:
                    arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise CheckpointError(f"{path} is not a readable .keras checkpoint (truncated or corrupt?): "
                              f"{_one_line(exc)}") from exc
    return state, arrays


def load_checkpoint(path, compile: bool = True):
    """Load ``(model, state, arrays)``; the model comes back with its optimizer (safe mode on).

    Raises ``FileNotFoundError`` or :class:`CheckpointError` naming the file.
    """
    path = os.fspath(path)
    state, arrays = read_training_state(path)
    # Importing the models package registers every serializable agent class.
    import i2a_keras.models  # noqa: F401
    import i2a_keras.models.i2a  # noqa: F401  (I2A classes are registered lazily otherwise)
    import i2a_keras.models.minipacman_env_model  # noqa: F401  (and the MiniPacman env model)
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=compile)
    except Exception as exc:  # Keras raises many types for a bad archive
        raise CheckpointError(f"cannot load the model in {path}: {_one_line(exc)}") from exc
    return model, state, arrays


def export_for_inference(path, out) -> str:
    """Write the model of checkpoint ``path`` to ``out`` without its optimizer and env state.

    For a finished run's agent (about a third of the size under Adam): it evaluates, plays and
    loads into notebooks like the full checkpoint, and keeps the training state's counters and
    config, marked ``"inference_only": true``; a trainer refuses to resume from it.
    """
    model, state, _ = load_checkpoint(path, compile=False)
    return save_checkpoint(out, model, {**state, "inference_only": True})


def resumable_optimizer(model, path):
    """``model.optimizer`` of the checkpoint at ``path``, or :class:`CheckpointError` when it has
    none (an :func:`export_for_inference` file), for the trainers' resume."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise CheckpointError(f"checkpoint {path} has no optimizer state (an inference export?); "
                              "resume from the run's own checkpoint")
    return optimizer


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] + ("..." if len(text) > 300 else "") if text else type(exc).__name__


def numpy_rng_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state


def restore_numpy_rng(state: dict) -> np.random.Generator:
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    return np.random.Generator(bit_generator)
