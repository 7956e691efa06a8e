"""One environment model for every MiniPacman task (Weber et al., 2017, Sec. 5).

The paper trains a single environment model on MiniPacman and uses it for five tasks that differ
only in their reward functions. Here the model predicts, for a frame and an action,

* the next frame as a per-cell categorical over the 26 colours of ``PALETTE_UINT8``. A MiniPacman
  frame has one pixel per cell and each colour is one cell class (empty, wall, food, pill, Pacman,
  or a ghost coloured by the power left, 0-20), so the palette's colours and the 26 cell classes
  are the same categorical; the model reads and writes the env's own uint8 RGB frames with the
  ``"tiny_rgb"`` code path of :class:`~i2a_keras.models.env_model.EnvModel` (RGB cells from a
  fixed palette, no 8x8 sprites);
* the *events* of the step, ``EVENTS = (step, food, pill, ghost, killed)``, each as a categorical
  over the counts ``reward_values = (0, 1, 2, 3)`` (a step eats at most one food, pill and ghost;
  several ghosts can kill Pacman in one step; counts above 3 are clipped in the targets).

A task's reward is ``events . TASKS[task].weights``, so the model's ``task`` (settable, saved with
it) turns predicted events into the imagined reward that :meth:`predict_next` returns to the
imagination core; the same weights serve all five tasks. The loss is ``NLL(frame) +
reward_weight * sum_e NLL(event_e)`` (the paper's reward term with one categorical per event).
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from i2a_keras.envs.minipacman_core import (EVENTS, HEIGHT, NUM_ACTIONS, PALETTE_UINT8, TASKS, WIDTH,
                                            get_task)
from i2a_keras.models.env_model import EnvModel, EnvModelConfig

__all__ = ["MiniPacmanEnvModel", "EVENT_COUNT_VALUES", "MODEL_OBSERVATION", "event_targets",
           "minipacman_env_model_config"]

NUM_EVENTS = len(EVENTS)
EVENT_COUNT_VALUES = (0.0, 1.0, 2.0, 3.0)
MODEL_OBSERVATION = "tiny_rgb"  # one RGB pixel per cell from a fixed palette (see module docstring)


def event_targets(events, count_values=EVENT_COUNT_VALUES) -> np.ndarray:
    """Event counts ``(..., 5)`` as class indices of the count heads (clipped to the largest)."""
    return np.minimum(np.asarray(events, np.int64), len(count_values) - 1).astype(np.int32)


def minipacman_env_model_config(preset: str = "small", **overrides) -> EnvModelConfig:
    """An :class:`EnvModelConfig` for MiniPacman frames with event heads (``tiny``, ``small`` or
    ``paper_size``, the paper's 64-channel pool-and-inject trunk with 7x7 large kernels)."""
    sizes = {"tiny": dict(channels=8, num_blocks=1, branch_channels=(0, 8), reward_hidden=8),
             "small": dict(channels=32, num_blocks=2, branch_channels=(0, 32), reward_hidden=32,
                           reward_kernel=3),
             "paper_size": dict(channels=64, num_blocks=2, branch_channels=(16, 32), large_kernel=7,
                                reward_hidden=64, reward_kernel=3)}
    if preset not in sizes:
        raise ValueError(f"unknown MiniPacman env-model preset {preset!r}; choose from {sorted(sizes)}")
    fields = dict(observation=MODEL_OBSERVATION, obs_shape=(HEIGHT, WIDTH, 3), num_actions=NUM_ACTIONS,
                  reward_values=EVENT_COUNT_VALUES, reward_from_frames=True, reward_pool="sum",
                  palette=tuple(tuple(int(v) for v in c) for c in PALETTE_UINT8), reward_weight=1.0)
    return EnvModelConfig(**{**fields, **sizes[preset], **overrides})


@keras.saving.register_keras_serializable(package="i2a_keras")
class MiniPacmanEnvModel(EnvModel):
    """Next frame + event counts of a MiniPacman step (Sec. 5); reward = events . task weights.

    ``model(obs, actions)`` returns ``{"frame_logits": (B, 15, 19, 26), "event_logits": (B, 5,
    C)}`` with ``C = len(reward_values)`` counts. ``predict_next`` returns ``(next_obs, reward)``
    for ``self.task``; :meth:`predict_events` returns the event counts instead. ``fit`` takes
    targets ``{"frame": (B, 15, 19) classes, "events": (B, 5) count classes}``.
    """

    FIT_TARGETS = {"frame": "frame classes (B, 15, 19)", "events": "event count classes (B, 5)"}

    def __init__(self, task="regular", obs_shape=(HEIGHT, WIDTH, 3), observation=MODEL_OBSERVATION,
                 reward_values=EVENT_COUNT_VALUES, palette=None, predict_reward=True, **kwargs):
        if not predict_reward:
            raise ValueError("MiniPacmanEnvModel predicts events; it has no no-reward variant")
        if palette is None:
            palette = PALETTE_UINT8
        super().__init__(obs_shape=obs_shape, observation=observation, reward_values=reward_values,
                         palette=palette, predict_reward=True, **kwargs)
        if observation != MODEL_OBSERVATION:
            raise ValueError(f"MiniPacmanEnvModel works on {MODEL_OBSERVATION!r} cell colours, got "
                             f"{observation!r}")
        if list(self.reward_values) != [float(i) for i in range(len(self.reward_values))]:
            raise ValueError(f"reward_values of a MiniPacmanEnvModel are the event counts 0..C-1, "
                             f"got {self.reward_values}")
        self.set_task(task)

    def set_task(self, task: str) -> None:
        """Choose the task whose weights turn predicted events into rewards (Sec. 5)."""
        get_task(task)
        self.task = task

    @property
    def task_weights(self) -> np.ndarray:
        return np.asarray(TASKS[self.task].weights, np.float32)

    def _reward_head_units(self):
        return NUM_EVENTS * len(self.reward_values)

    def call(self, obs, actions=None, training=False):
        out = super().call(obs, actions, training=training)
        events = ops.reshape(out["reward_logits"], (-1, NUM_EVENTS, len(self.reward_values)))
        return {"frame_logits": out["frame_logits"], "event_logits": events}

    def decode_events(self, event_logits, sample=False, seed=None):
        """Event counts ``(B, 5)`` float32 from the count logits (argmax or sampled)."""
        if sample:
            flat = ops.reshape(event_logits, (-1, len(self.reward_values)))
            idx = ops.reshape(keras.random.categorical(flat, 1, seed=seed), (-1, NUM_EVENTS))
        else:
            idx = ops.argmax(event_logits, axis=-1)
        return ops.cast(idx, "float32")  # count value == class index

    def predict_events(self, obs, actions, sample=False, seed=None, soft=False):
        """Imagine one step: ``(next_obs, event counts (B, 5))``; ``soft``: the expected frame
        (see :meth:`decode_frame`), the events stay the most likely (or sampled) counts."""
        obs = ops.convert_to_tensor(obs)
        out = self(obs, actions)
        next_obs = self.decode_frame(out["frame_logits"], dtype=obs.dtype, sample=sample, seed=seed,
                                     soft=soft)
        return next_obs, self.decode_events(out["event_logits"], sample=sample, seed=seed)

    def predict_next(self, obs, actions, sample=False, seed=None, soft=False):
        """Imagine one step: ``(next_obs, reward)``, the reward being ``events . weights`` of
        ``self.task`` (what the imagination core reads)."""
        next_obs, events = self.predict_events(obs, actions, sample=sample, seed=seed, soft=soft)
        return next_obs, ops.sum(events * ops.convert_to_tensor(self.task_weights), axis=-1)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """``NLL(frame) + reward_weight * sum over events of NLL(event count)``."""
        self._check_targets(y, sample_weight)
        if y_pred is None:
            y_pred = self(x, training=training)
        frame_ce = keras.losses.sparse_categorical_crossentropy(
            ops.cast(y["frame"], "int32"), y_pred["frame_logits"], from_logits=True)
        frame_nll = ops.mean(ops.sum(frame_ce, axis=(1, 2)))
        event_ce = keras.losses.sparse_categorical_crossentropy(
            ops.cast(y["events"], "int32"), y_pred["event_logits"], from_logits=True)
        event_nll = ops.mean(ops.sum(event_ce, axis=-1))
        return self._track_losses(frame_nll, event_nll, frame_nll + self.reward_weight * event_nll)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """``cell_acc``/``frame_acc`` as :class:`EnvModel`; ``reward_acc``: all five event counts
        right (then every task's reward is right); ``reward_acc_nonstep``: the same on steps with
        an event besides ``step``."""
        self._track_frame_accuracy(y["frame"], y_pred["frame_logits"])
        events_t = ops.cast(y["events"], "int32")
        ok = ops.min(ops.cast(ops.equal(ops.cast(ops.argmax(y_pred["event_logits"], axis=-1), "int32"),
                                        events_t), "float32"), axis=-1)
        self.reward_acc_tracker.update_state(ok)
        eventful = ops.cast(ops.sum(events_t[:, 1:], axis=-1) > 0, "float32")
        self.reward_acc_nonstep_tracker.update_state(ok, sample_weight=eventful)
        return self.get_metrics_result()

    def get_config(self):
        return {**super().get_config(), "task": self.task}
