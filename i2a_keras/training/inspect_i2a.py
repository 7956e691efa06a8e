"""Looking inside a trained I2A (used by notebooks 4 and 5).

- :func:`imagined_vs_real`: what the agent imagines for each first action from one real level,
  next to what really happens when the same action sequences are replayed in the environment.
- :func:`ablate_rollouts`: the policy logits with one rollout embedding zeroed at a time (how much
  each imagined future moves the decision).
"""
from __future__ import annotations

import numpy as np
from keras import ops

from i2a_keras.envs import make

__all__ = ["imagined_vs_real", "ablate_rollouts", "heads"]


def imagined_vs_real(agent, fixed, state, action_set: str = "compact", max_steps: int = 50,
                     rollout_noise=None) -> dict:
    """Imagine from the level ``(fixed, state)`` and replay every imagined rollout for real.

    Returns numpy arrays: ``obs`` (H, W, C), the real observation; ``actions`` (A, tau), the
    imagined action sequences (``actions[a, 0] == a``); ``imagined_frames`` (A, tau, H, W, C) and
    ``imagined_rewards`` (A, tau); ``real_frames`` and ``real_rewards`` from the environment
    restarted from the same level for each rollout, with ``real_done`` (A, tau) true from the step
    that ended the episode on (later real entries repeat the last frame, reward NaN).
    ``rollout_noise`` (1, A, tau - 1) fixes the rollout policy's samples (default: its own seed).
    """
    fixed, state = np.asarray(fixed), np.asarray(state)
    num_boxes = int((fixed == 2).sum())
    env = make(dim_room=fixed.shape, num_boxes=num_boxes, action_set=action_set, max_steps=max_steps)
    obs, _ = env.reset(options={"level": (fixed, state)})
    imagined = agent.imagination(obs[None], noise=rollout_noise)
    frames = np.asarray(ops.convert_to_numpy(imagined["frames"]))[0].round().astype(obs.dtype)
    rewards = np.asarray(ops.convert_to_numpy(imagined["rewards"]))[0]
    actions = np.asarray(ops.convert_to_numpy(imagined["actions"]))[0]
    A, tau = actions.shape
    real_frames = np.zeros_like(frames)
    real_rewards = np.full((A, tau), np.nan, np.float32)
    real_done = np.zeros((A, tau), bool)
    for a in range(A):
        o, _ = env.reset(options={"level": (fixed, state)})
        done = False
        for t in range(tau):
            if not done:
                o, r, terminated, truncated, _ = env.step(int(actions[a, t]))
                real_rewards[a, t] = r
                done = bool(terminated or truncated)
            real_frames[a, t] = o
            real_done[a, t] = done
    return {"obs": obs, "actions": actions, "imagined_frames": frames, "imagined_rewards": rewards,
            "real_frames": real_frames, "real_rewards": real_rewards, "real_done": real_done}


def heads(agent, imagination_features, obs):
    """Policy logits and value of ``agent`` from given imagination features (B, A*L) and ``obs``."""
    h = ops.concatenate([imagination_features, agent.model_free_features(obs)], axis=-1)
    h = agent.head_fc(h)
    return agent.policy_head(h), ops.squeeze(agent.value_head(h), axis=-1)


def ablate_rollouts(agent, obs, rollout_noise=None) -> dict:
    """Logits with each rollout embedding zeroed in turn (Sec. 3.2's aggregator input).

    Returns ``logits`` (B, A) of the intact agent, ``ablated`` (A, B, A): ``ablated[i]`` the
    logits when the embedding of the rollout that starts with action ``i`` is set to 0, and
    ``no_imagination`` (B, A): all embeddings zeroed (the model-free path alone feeding the head).
    """
    obs = ops.convert_to_tensor(obs)
    features = agent.imagination_features(obs, rollout_noise=rollout_noise)
    A, L = agent.num_actions, agent.config.lstm_units
    logits, _ = heads(agent, features, obs)
    ablated = []
    for i in range(A):
        mask = np.ones((1, A * L), np.float32)
        mask[:, i * L:(i + 1) * L] = 0.0
        ablated.append(ops.convert_to_numpy(heads(agent, features * mask, obs)[0]))
    none = ops.convert_to_numpy(heads(agent, features * 0.0, obs)[0])
    return {"logits": np.asarray(ops.convert_to_numpy(logits)), "ablated": np.stack(ablated),
            "no_imagination": np.asarray(none)}
