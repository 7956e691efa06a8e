"""Imagination core: one imagined rollout per action (Weber et al., 2017, Sec. 3.1, Fig. 1a).

For an observation o_t the core imagines ``num_actions`` trajectories of length ``tau``: in the
i-th rollout the first action is the i-th action of the action set, every later action is chosen by
the rollout policy pi_hat from the imagined observation (sampled, or its argmax). Each step calls
the pretrained, frozen environment model (Sec. 3.2: "pretrained ... then frozen"), which predicts
the next observation and reward.

All ``B`` environments x ``A`` actions are processed as one batch of ``B * A`` rollouts (row
``b * A + a`` is environment ``b``, first action ``a``); only the ``tau`` steps are a Python loop.
No gradient flows into the environment model or out of the imagined frames (they are
``stop_gradient``-ed); the rollout policy is trained by distillation (Sec. 3.1) instead.

An imagined episode can end inside a rollout: with ``stop_reward`` set (the I2A's
``stop_on_solve``), a step whose imagined reward reaches it (a Sokoban solve, +10) ends the
imagined episode, and every later step repeats its frame with reward 0, as the real env would
stop there.

Exact imagination: the rollout policy's sampled actions are a deterministic function of a
``noise`` input of uniforms ``(B, A, tau - 1)`` (inverse-CDF sampling). The trainer draws that
noise from its own checkpointed numpy generator while acting, so the imagination that chose an
action can be replayed bit for bit (or stored and reused) by the update. Without ``noise`` the
core draws it from its ``SeedGenerator`` (standalone use).
"""
from __future__ import annotations

import keras
from keras import ops

__all__ = ["ImaginationCore", "env_model_step", "freeze", "ROLLOUT_SAMPLING_MODES",
           "FRAME_DECODING_MODES", "SOLVE_REWARD"]

ROLLOUT_SAMPLING_MODES = ("sample", "argmax")
# How an imagined frame is read off the env model's per-cell categoricals: the most likely class,
# or the expected frame ("probs"), which keeps uncertain objects (MiniPacman's ghosts) visible.
FRAME_DECODING_MODES = ("argmax", "probs")
# A Sokoban solve pays +10 (+9.9 / +10.9 with the step and last-box terms); no other reward is
# above +0.9, so an imagined reward >= 5 is an imagined solve.
SOLVE_REWARD = 5.0


def freeze(model):
    """Mark ``model`` and every nested layer non-trainable (the frozen env model, Sec. 3.2).

    Setting ``trainable`` on the outer model alone does not reach sublayers in every case (e.g. a
    model deserialized with ``trainable=False`` in its config), so each layer is set explicitly.
    """
    model.trainable = False
    for layer in model._flatten_layers(include_self=False):
        layer.trainable = False
    return model


def env_model_step(env_model, obs, actions, frame_decoding="argmax"):
    """One frozen environment-model step: ``(next_obs, reward)`` for a batch.

    ``env_model.predict_next(obs, actions)`` (docs/design.md) returns the next observation in the
    input's encoding and the reward value (``EnvModel``'s no-reward variant and ``CopyModel``
    return zeros; a reward of ``None`` from another model is read as 0 too); with
    ``frame_decoding="probs"`` it returns the expected frame (``predict_next(..., soft=True)``).
    The result is cut from the gradient tape: the environment model is never trained through the
    agent.
    """
    if frame_decoding == "probs":
        next_obs, reward = env_model.predict_next(obs, actions, soft=True)
    else:
        next_obs, reward = env_model.predict_next(obs, actions)
    next_obs = ops.stop_gradient(ops.cast(next_obs, "float32"))
    batch = ops.shape(next_obs)[0]
    if reward is None:
        reward = ops.zeros((batch,), dtype="float32")
    else:
        reward = ops.stop_gradient(ops.reshape(ops.cast(reward, "float32"), (batch,)))
    return next_obs, reward


@keras.saving.register_keras_serializable(package="i2a_keras")
class ImaginationCore(keras.layers.Layer):
    """Imagines one rollout of length ``rollout_length`` per action (Sec. 3.1).

    Args:
        env_model: a frozen environment model with ``predict_next(obs, actions)``
            (``EnvModel``, ``CopyModel`` or the no-reward variant).
        rollout_policy: a layer mapping observations ``(N, H, W, C)`` to logits ``(N, A)``.
        num_actions: size of the action set (one rollout per action).
        rollout_length: tau, the number of imagined steps (paper: 5).
        rollout_sampling: ``"sample"`` (draw from pi_hat) or ``"argmax"`` (greedy pi_hat) for the
            actions after the first one.
        seed: seed of the stream used when ``call`` gets no ``noise``.
        stop_reward: if set, an imagined reward >= ``stop_reward`` ends the imagined episode: the
            later steps of that rollout repeat its frame with reward 0.
        frame_decoding: ``"argmax"`` (the most likely frame, the default) or ``"probs"`` (the
            expected frame, also fed to the next env-model step).

    ``call(obs, noise=None)`` returns ``{"frames": (B, A, tau, H, W, C) float32, "rewards": (B, A,
    tau) float32, "actions": (B, A, tau) int32}``; ``actions[:, a, 0] == a``. ``noise``: uniforms
    in [0, 1) of shape :meth:`noise_shape` per observation; equal noise, equal rollouts.
    """

    def __init__(self, env_model, rollout_policy, num_actions, rollout_length=5,
                 rollout_sampling="sample", seed=None, stop_reward=None, frame_decoding="argmax",
                 **kwargs):
        kwargs.setdefault("autocast", False)  # the rollout noise stays float32 in mixed precision
        super().__init__(**kwargs)
        if int(num_actions) < 1:
            raise ValueError(f"num_actions must be >= 1, got {num_actions}")
        if int(rollout_length) < 1:
            raise ValueError(f"rollout_length (tau) must be >= 1, got {rollout_length}")
        if rollout_sampling not in ROLLOUT_SAMPLING_MODES:
            raise ValueError(
                f"rollout_sampling must be one of {ROLLOUT_SAMPLING_MODES}, got {rollout_sampling!r}")
        if frame_decoding not in FRAME_DECODING_MODES:
            raise ValueError(
                f"frame_decoding must be one of {FRAME_DECODING_MODES}, got {frame_decoding!r}")
        if not hasattr(env_model, "predict_next"):
            raise ValueError(
                f"env_model must provide predict_next(obs, actions), got {type(env_model).__name__}")
        self.env_model = freeze(env_model)
        self.rollout_policy = rollout_policy
        self.num_actions = int(num_actions)
        self.rollout_length = int(rollout_length)
        self.rollout_sampling = rollout_sampling
        self.seed = seed
        self.stop_reward = None if stop_reward is None else float(stop_reward)
        self.frame_decoding = frame_decoding
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape=None):
        # No weights of its own: the env model and the rollout policy are built by their owner
        # (or on first call).
        self.built = True

    def noise_shape(self) -> tuple:
        """Shape of the per-observation noise: ``(A, tau - 1)`` uniforms."""
        return (self.num_actions, self.rollout_length - 1)

    def _choose(self, logits, uniform):
        """Inverse-CDF sample of pi_hat (or its argmax): the first action whose CDF exceeds u."""
        if self.rollout_sampling == "argmax":
            return ops.cast(ops.argmax(logits, axis=-1), "int32")
        cdf = ops.cumsum(ops.softmax(ops.cast(logits, "float32"), axis=-1), axis=-1)
        below = ops.sum(ops.cast(cdf <= uniform[:, None], "int32"), axis=-1)
        return ops.minimum(below, self.num_actions - 1)

    def call(self, obs, noise=None):
        if len(obs.shape) != 4:
            raise ValueError(f"ImaginationCore expects observations (B, H, W, C), got {tuple(obs.shape)}")
        num_actions, tau = self.num_actions, self.rollout_length
        batch = ops.shape(obs)[0]
        frame_shape = tuple(obs.shape[1:])
        if noise is not None and tuple(noise.shape[1:]) != self.noise_shape():
            raise ValueError(f"rollout noise must be (B,) + {self.noise_shape()}, got {tuple(noise.shape)}")
        if tau > 1 and self.rollout_sampling == "sample":
            if noise is None:
                noise = keras.random.uniform((batch,) + self.noise_shape(), seed=self.seed_generator)
            # (B, A, tau - 1) -> (B * A, tau - 1): row b * A + a, as the rollouts below
            noise = ops.reshape(ops.cast(noise, "float32"), (-1, tau - 1))
        # (B, H, W, C) -> (B * A, H, W, C): each observation repeated once per first action.
        state = ops.repeat(ops.cast(obs, "float32"), num_actions, axis=0)
        # Step 1 is forced: rollout i starts with action i (Sec. 3.1, "one rollout per action").
        action = ops.tile(ops.arange(num_actions, dtype="int32"), (batch,))
        frames, rewards, actions = [], [], []
        ended = ops.zeros((batch * num_actions,), dtype="bool")
        for step in range(tau):
            actions.append(action)
            previous = state
            # The frozen env model imagines o_{t+1}, r_{t+1} from (o_t, a_t).
            state, reward = env_model_step(self.env_model, state, action, self.frame_decoding)
            if self.stop_reward is not None:  # an imagined solve ends the imagined episode
                state = ops.where(ended[:, None, None, None], previous, state)
                reward = ops.where(ended, ops.zeros_like(reward), reward)
                ended = ops.logical_or(ended, reward >= self.stop_reward)
            frames.append(state)
            rewards.append(reward)
            if step + 1 < tau:
                # Steps 2..tau: the rollout policy pi_hat picks the action from the imagined frame
                # (a sample driven by ``noise``, or its argmax); no gradient flows through it here.
                logits = ops.stop_gradient(self.rollout_policy(state))
                action = self._choose(logits, None if noise is None else noise[:, step])
        frames = ops.reshape(ops.stack(frames, axis=1), (batch, num_actions, tau) + frame_shape)
        rewards = ops.reshape(ops.stack(rewards, axis=1), (batch, num_actions, tau))
        actions = ops.reshape(ops.stack(actions, axis=1), (batch, num_actions, tau))
        return {"frames": frames, "rewards": rewards, "actions": actions}

    def get_config(self):
        config = super().get_config()
        config.update(
            env_model=keras.saving.serialize_keras_object(self.env_model),
            rollout_policy=keras.saving.serialize_keras_object(self.rollout_policy),
            num_actions=self.num_actions,
            rollout_length=self.rollout_length,
            rollout_sampling=self.rollout_sampling,
            seed=self.seed,
            stop_reward=self.stop_reward,
            frame_decoding=self.frame_decoding,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["env_model"] = keras.saving.deserialize_keras_object(config["env_model"])
        config["rollout_policy"] = keras.saving.deserialize_keras_object(config["rollout_policy"])
        return cls(**config)
