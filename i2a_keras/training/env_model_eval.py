"""Evaluation of environment models on held-out transitions (Weber et al., 2017, Sec. 3.2, 4.2).

Metrics (all on data from levels never used for training):

* one step: ``cell_acc`` (fraction of output cells/pixels predicted right), ``changed_cell_acc``
  (the same on the cells that the action changed; a copy model scores 0 there), ``frame_acc``
  (whole frame exact), ``reward_acc`` and ``reward_acc_nonstep`` (on transitions whose reward is
  not the plain step penalty: box on/off target, solved);
* open loop, k = 1..K: starting from a real frame, the model is fed its own argmax predictions
  along the real action sequence (the way the imagination core uses it); ``rollout_cell_acc[k]``,
  ``rollout_frame_acc[k]`` and ``rollout_reward_acc[k]`` compare the k-th imagined step with the
  real one;
* :func:`save_rollout_figure`: real vs imagined frames rendered with the env's sprites.

A MiniPacman model (:class:`~i2a_keras.models.minipacman_env_model.MiniPacmanEnvModel`, Sec. 5)
predicts event counts instead of one reward: :func:`evaluate_env_model` then reports, for each
event of ``EVENTS``, ``event_acc/NAME`` (all steps), ``event_acc_when/NAME`` (the steps on which
the event happens: a model that never predicts it scores 0) and ``event_steps/NAME``; ``events_acc``
(all five counts right, hence every task's reward right) and ``rollout_events_acc[k]``.
"""
from __future__ import annotations

import weakref

import keras
import numpy as np

from i2a_keras.models.env_model import frame_classes, reward_classes, step_penalty_class
from i2a_keras.models.minipacman_env_model import event_targets

__all__ = ["evaluate_env_model", "rollout_windows", "imagine_open_loop", "save_rollout_figure",
           "frames_to_rgb"]


def _classes(model, obs):
    return frame_classes(obs, model.observation, model.palette)


def _predicts_events(model) -> bool:
    return hasattr(model, "predict_events")


class _OneStep(keras.Model):
    """``predict_next`` (or, for an event model, ``predict_events``) of an env model as a Keras
    model, so that ``predict_on_batch`` runs it compiled on any backend (``tf.function`` or
    ``jax.jit``)."""

    def __init__(self, env_model, **kwargs):
        super().__init__(**kwargs)
        self.env_model = env_model
        self.built = True

    def call(self, inputs):
        step = self.env_model.predict_events if _predicts_events(self.env_model) else self.env_model.predict_next
        return step(inputs["obs"], inputs["actions"])


_PREDICTORS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _batched_predict(model, obs, actions, batch_size=512):
    """Argmax next frames (input encoding) and reward values (event counts ``(B, 5)`` for an event
    model) for arrays ``obs``, ``actions``."""
    if model not in _PREDICTORS:
        _PREDICTORS[model] = _OneStep(model, name="env_model_one_step")
    predictor = _PREDICTORS[model]
    frames, rewards = [], []
    for i in range(0, len(obs), batch_size):
        f, r = predictor.predict_on_batch({"obs": np.asarray(obs[i:i + batch_size]),
                                           "actions": np.asarray(actions[i:i + batch_size], np.int32)})
        frames.append(np.asarray(f))
        rewards.append(np.asarray(r))
    return np.concatenate(frames), np.concatenate(rewards)


def rollout_windows(data: dict, k: int, max_windows: int | None = None, seed: int = 0) -> np.ndarray:
    """Start rows ``i`` such that rows ``i..i+k-1`` are consecutive steps of one episode."""
    ep, step = data["episode"], data["step"]
    n = len(ep)
    if n < k:
        return np.zeros(0, np.int64)
    ok = np.ones(n - k + 1, bool)
    for j in range(1, k):
        ok &= (ep[j:n - k + 1 + j] == ep[:n - k + 1]) & (step[j:n - k + 1 + j] == step[:n - k + 1] + j)
    starts = np.flatnonzero(ok)
    if max_windows is not None and len(starts) > max_windows:
        starts = np.sort(np.random.default_rng(seed).choice(starts, max_windows, replace=False))
    return starts


def imagine_open_loop(model, obs0: np.ndarray, actions: np.ndarray, batch_size=512):
    """Feed the model its own predictions: ``obs0 (B,...)``, ``actions (B,K)`` -> frames
    ``(B, K, ...)`` and rewards ``(B, K)``."""
    frames, rewards = [], []
    cur = obs0
    for j in range(actions.shape[1]):
        cur, r = _batched_predict(model, cur, actions[:, j], batch_size)
        frames.append(cur)
        rewards.append(r)
    return np.stack(frames, 1), np.stack(rewards, 1)


def evaluate_env_model(model, data: dict, rollout_k: int = 5, max_samples: int = 5000,
                       max_windows: int = 1000, seed: int = 0, batch_size: int = 512) -> dict:
    """One-step and open-loop k-step accuracies of ``model`` on the transitions ``data``
    (arrays as returned by :func:`i2a_keras.training.collect.load_transitions`, or the lazy
    frames of :func:`~i2a_keras.training.collect.open_transitions`)."""
    n = len(data["actions"])
    if n == 0:
        raise ValueError("no transitions to evaluate on")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n, min(n, max_samples), replace=False))
    obs, actions, next_obs = data["obs"][idx], data["actions"][idx].astype(np.int32), data["next_obs"][idx]
    pred, pred_r = _batched_predict(model, obs, actions, batch_size)
    cur_c, tgt_c, pred_c = _classes(model, obs), _classes(model, next_obs), _classes(model, pred)
    correct = pred_c == tgt_c
    changed = tgt_c != cur_c
    metrics = {
        "samples": int(len(idx)),
        "cell_acc": float(correct.mean()),
        "changed_cell_acc": float(correct[changed].mean()) if changed.any() else float("nan"),
        "changed_cells_per_frame": float(changed.reshape(len(idx), -1).sum(1).mean()),
        "frame_acc": float(correct.reshape(len(idx), -1).all(1).mean()),
    }
    if _predicts_events(model):
        metrics.update(_event_metrics(model, data["events"][idx], pred_r))
    elif model.predict_reward:
        r_idx = reward_classes(data["rewards"][idx], model.reward_values)
        pred_r_idx = reward_classes(pred_r, model.reward_values)
        nonstep = r_idx != step_penalty_class(model.reward_values)
        metrics["reward_acc"] = float((pred_r_idx == r_idx).mean())
        metrics["reward_acc_nonstep"] = float((pred_r_idx == r_idx)[nonstep].mean()) if nonstep.any() else float("nan")
        metrics["nonstep_rewards"] = int(nonstep.sum())
    starts = rollout_windows(data, rollout_k, max_windows, seed)
    metrics["rollout_windows"] = int(len(starts))
    if len(starts):
        rows = starts[:, None] + np.arange(rollout_k)
        frames, rewards = imagine_open_loop(model, data["obs"][starts], data["actions"][rows].astype(np.int32),
                                            batch_size)
        real = _classes(model, data["next_obs"][rows])
        imag = _classes(model, frames)
        ok = (real == imag).reshape(len(starts), rollout_k, -1)
        metrics["rollout_cell_acc"] = [float(v) for v in ok.mean(axis=(0, 2))]
        metrics["rollout_frame_acc"] = [float(v) for v in ok.all(axis=2).mean(axis=0)]
        if _predicts_events(model):
            real_e = event_targets(data["events"][rows], model.reward_values)
            metrics["rollout_events_acc"] = [float(v) for v in
                                             (rewards == real_e).all(axis=-1).mean(axis=0)]
        elif model.predict_reward:
            real_r = reward_classes(data["rewards"][rows], model.reward_values)
            metrics["rollout_reward_acc"] = [float(v) for v in
                                             (reward_classes(rewards, model.reward_values) == real_r).mean(0)]
    return metrics


def _event_metrics(model, events: np.ndarray, predicted: np.ndarray) -> dict:
    """Per-event accuracies of predicted counts (see the module docstring)."""
    from i2a_keras.envs.minipacman_core import EVENTS

    real = event_targets(events, model.reward_values)
    ok = np.asarray(predicted).astype(np.int64) == real
    out = {"events_acc": float(ok.all(axis=1).mean())}
    for e, name in enumerate(EVENTS):
        happens = real[:, e] > 0
        out[f"event_acc/{name}"] = float(ok[:, e].mean())
        out[f"event_acc_when/{name}"] = float(ok[happens, e].mean()) if happens.any() else float("nan")
        out[f"event_steps/{name}"] = int(happens.sum())
    return out


def frames_to_rgb(frames: np.ndarray, observation: str) -> np.ndarray:
    """Render observations ``(..., H, W, C)`` as RGB images with the env's sprites."""
    from i2a_keras.envs import observations
    if observation == "one_hot":
        return observations.rgb(np.asarray(frames).argmax(-1).astype(np.uint8))
    if observation == "tiny_rgb":
        rooms = frame_classes(frames, "tiny_rgb", observations.TINY_COLORS)  # palette index == tile code
        return observations.rgb(rooms)
    return np.asarray(frames, np.uint8)


def save_rollout_figure(model, data: dict, path: str, k: int = 5, num_rows: int = 3, seed: int = 0,
                        title: str = "") -> str:
    """Plot ``num_rows`` held-out sequences: real frames above, the model's open-loop imagination
    (fed its own predictions) below, for steps 0..k. Picks sequences in which a box moves."""
    from matplotlib.figure import Figure  # no pyplot: leaves the caller's backend alone

    starts = rollout_windows(data, k, None, seed)
    if len(starts) == 0:
        raise ValueError(f"no {k}-step windows in the data")
    rows = starts[:, None] + np.arange(k)
    cur = frame_classes(data["obs"][rows], model.observation, model.palette)
    nxt = frame_classes(data["next_obs"][rows], model.observation, model.palette)
    moved = (cur != nxt).reshape(len(starts), -1).sum(1)
    rng = np.random.default_rng(seed)
    pool = starts[np.argsort(-moved + rng.uniform(0, 0.5, len(moved)))][: max(num_rows * 4, num_rows)]
    chosen = np.sort(rng.choice(pool, num_rows, replace=False))
    rows = chosen[:, None] + np.arange(k)
    frames, rewards = imagine_open_loop(model, data["obs"][chosen], data["actions"][rows].astype(np.int32))
    real = np.concatenate([data["obs"][chosen][:, None], data["next_obs"][rows]], 1)
    imag = np.concatenate([data["obs"][chosen][:, None], frames], 1)
    if _predicts_events(model):  # MiniPacman: colours at 8 px per cell; rewards of the model's task
        from i2a_keras.envs.minipacman_core import ACTIONS, TASKS
        real_rgb, imag_rgb = (np.repeat(np.repeat(f, 8, axis=-3), 8, axis=-2) for f in (real, imag))
        names = ACTIONS
        weights = np.asarray(TASKS[model.task].weights)
        rewards, real_rewards = rewards @ weights, data["events"][rows] @ weights
    else:
        real_rewards = data["rewards"][rows]
        real_rgb, imag_rgb = frames_to_rgb(real, model.observation), frames_to_rgb(imag, model.observation)
        names = _action_names(int(model.num_actions))
    fig = Figure(figsize=(1.6 * (k + 1), 1.75 * 2 * num_rows))
    axes = fig.subplots(2 * num_rows, k + 1)
    for r in range(num_rows):
        for t in range(k + 1):
            for j, (imgs, label) in enumerate(((real_rgb, "real"), (imag_rgb, "imagined"))):
                ax = axes[2 * r + j, t]
                ax.imshow(imgs[r, t], interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if t == 0:
                    ax.set_ylabel(label, fontsize=8)
                if t > 0:
                    rew = real_rewards[r, t - 1] if j == 0 else rewards[r, t - 1]
                    act = names[int(data["actions"][rows[r, t - 1]])] if j == 0 else ""
                    wrong = j == 1 and not np.array_equal(real[r, t], imag[r, t])
                    ax.set_title(f"{act} r={rew:+.1f}" + (" (x)" if wrong else ""), fontsize=7,
                                 color="red" if wrong else "black")
    fig.suptitle(title or "environment model: real (top) vs open-loop imagined (bottom) frames", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return path


def _action_names(num_actions: int):
    from i2a_keras.envs.core import action_names
    return action_names({4: "moves", 5: "compact"}.get(num_actions, "gym_sokoban"))
