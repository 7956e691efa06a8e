"""Rollout encoder E (Weber et al., 2017, Sec. 3.2, Fig. 1b).

Each imagined step f_hat = (o_hat, r_hat) is encoded by a CNN, then an LSTM reads the features of
the whole rollout and its final output is the rollout embedding e_i. The predicted reward enters
either as an extra input plane of the CNN (``reward_input="plane"``, this project's default) or,
as in the paper's appendix, concatenated to the CNN's flattened output (``"after_cnn"``). The paper feeds the features in *reverse* order,
f_hat_{t+tau} first and f_hat_{t+1} last, "to mimic Bellman type backup operations" (noting it is
not necessary); ``reverse=False`` gives the forward order.
"""
from __future__ import annotations

import keras
from keras import layers, ops

__all__ = ["RolloutEncoder", "REWARD_INPUTS"]

REWARD_INPUTS = ("plane", "after_cnn")


@keras.saving.register_keras_serializable(package="i2a_keras")
class RolloutEncoder(keras.layers.Layer):
    """CNN per imagined (frame, reward) + LSTM over the rollout (Sec. 3.2).

    Args:
        conv_filters, kernel_sizes, strides: the per-frame CNN (ReLU, "same" padding).
        lstm_units: size of the rollout embedding.
        reverse: read the rollout from the last imagined step to the first (paper) if True.
        frame_scale: multiplies the imagined frames first (1/255 for RGB frames, 1 for one-hot).
        reward_input: ``"plane"`` (reward broadcast as an input plane of the CNN) or
            ``"after_cnn"`` (reward appended to the flattened CNN features, the paper's appendix).

    ``call(frames, rewards)`` with ``frames (N, tau, H, W, C)`` and ``rewards (N, tau)`` returns
    ``(N, lstm_units)``. As in the paper (Fig. 1b), the encoder reads the imagined frames and
    rewards only; unlike DeepMind's workshop colab it is not given the imagined actions.
    """

    def __init__(self, conv_filters=(16, 16), kernel_sizes=(3, 3), strides=(1, 1), lstm_units=128,
                 reverse=True, frame_scale=1.0, reward_input="plane", **kwargs):
        super().__init__(**kwargs)
        if reward_input not in REWARD_INPUTS:
            raise ValueError(f"reward_input must be one of {REWARD_INPUTS}, got {reward_input!r}")
        self.reward_input = reward_input
        self.conv_filters = tuple(int(f) for f in conv_filters)
        self.kernel_sizes = tuple(int(k) for k in kernel_sizes)
        self.strides = tuple(int(s) for s in strides)
        if not (len(self.conv_filters) == len(self.kernel_sizes) == len(self.strides)):
            raise ValueError(
                "conv_filters, kernel_sizes and strides must have the same length, got "
                f"{self.conv_filters}, {self.kernel_sizes}, {self.strides}")
        if int(lstm_units) < 1:
            raise ValueError(f"lstm_units must be >= 1, got {lstm_units}")
        self.lstm_units = int(lstm_units)
        self.reverse = bool(reverse)
        self.frame_scale = float(frame_scale)
        self.convs = [
            layers.Conv2D(f, k, strides=s, padding="same", activation="relu", name=f"enc_conv{i}")
            for i, (f, k, s) in enumerate(zip(self.conv_filters, self.kernel_sizes, self.strides))
        ]
        self.flatten = layers.Flatten(name="enc_flatten")
        # unrolled: a rollout is a few steps long (tau), and the unrolled graph skips the loop's
        # per-step overhead (4-6% of a whole I2A training step on the CPU, docs/results.md)
        self.lstm = layers.LSTM(self.lstm_units, unroll=True, name="enc_lstm")

    def step_features(self, frames, rewards):
        """CNN features of every imagined step: ``(N, tau, F)`` in time order."""
        if len(frames.shape) != 5:
            raise ValueError(f"frames must be (N, tau, H, W, C), got {tuple(frames.shape)}")
        if len(rewards.shape) != 2:
            raise ValueError(f"rewards must be (N, tau), got {tuple(rewards.shape)}")
        height, width, channels = frames.shape[2:]
        tau = frames.shape[1]
        n = ops.shape(frames)[0]
        x = ops.cast(frames, self.compute_dtype)
        if self.frame_scale != 1.0:
            x = x * ops.cast(self.frame_scale, self.compute_dtype)
        rewards = ops.cast(rewards, self.compute_dtype)
        if self.reward_input == "plane":
            reward_plane = ops.broadcast_to(rewards[:, :, None, None, None], (n, tau, height, width, 1))
            x = ops.concatenate([x, reward_plane], axis=-1)
        x = ops.reshape(x, (-1, height, width, x.shape[-1]))
        for conv in self.convs:
            x = conv(x)
        x = ops.reshape(self.flatten(x), (n, tau, -1))
        if self.reward_input == "after_cnn":
            x = ops.concatenate([x, rewards[:, :, None]], axis=-1)
        return x

    def call(self, frames, rewards):
        seq = self.step_features(frames, rewards)
        if self.reverse:
            seq = ops.flip(seq, axis=1)
        return self.lstm(seq)

    def get_config(self):
        config = super().get_config()
        config.update(conv_filters=list(self.conv_filters), kernel_sizes=list(self.kernel_sizes),
                      strides=list(self.strides), lstm_units=self.lstm_units, reverse=self.reverse,
                      frame_scale=self.frame_scale, reward_input=self.reward_input)
        return config
