"""Standard model-free actor-critic agent (Weber et al., 2017, Sec. 3.3 "Baselines").

"A standard model-free agent: a CNN followed by a fully connected layer, and a final fully
connected layer that outputs the policy logits and the value function." The same CNN (without the
FC layers) is the model-free path of the I2A (Sec. 3.2), so it is exposed as
:func:`build_conv_torso` for the I2A engineer to reuse.

Sizes:
- pixel inputs (e.g. the paper's 80x80 RGB): DQN-style strided convs 8x8/4, 4x4/2, 3x3/1 with
  32/64/64 channels and FC 512 (``standard``); ``large`` adds a 4th conv layer and widens.
- grid inputs (10x10 or 7x7 one-hot, 1 pixel per tile): 3x3 convs, "same" padding, the first
  with stride 1 (tile resolution) and the second with stride 2 (halves the cost; measured on the
  2-core CPU: ~2x faster than two stride-1 layers), 32 channels, FC 256; ``large``: 32/64/64
  channels (strides 1/2/1), FC 512.

``residual=True`` adds an identity skip around every conv whose output has its input's shape
(stride 1, same width): ``x + relu(conv(x))``. Deep stride-1 towers of this kind are what the
strong Boxoban model-free baselines use. ``size="resnet"`` is that baseline's tower on grids, the
ResNet of Guez et al. (2019) as the learned-planner work (Taufeeque et al., 2024) trains it on
Boxoban: 9 stride-1 4x4 convs (32, 32, then 64 channels), each followed by two pre-activation
residual blocks ``x + conv(relu(x))`` (``residual_blocks``), a relu, then FC 256: 27 convs.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import keras
from keras import layers, ops

__all__ = ["ModelFreeConfig", "ModelFreeAgent", "PreActivationResidualBlock", "build_conv_torso",
           "apply_conv_torso", "default_model_free_config", "fit_conv_sizes"]

# Observations at least this tall are treated as pixels (8 px per tile) rather than one tile/pixel.
PIXEL_INPUT_MIN_SIZE = 32
SIZES = ("standard", "large", "resnet")


@dataclass
class ModelFreeConfig:
    """Architecture of the standard model-free agent (Sec. 3.3).

    Fields left ``None`` are filled for the observation size by :func:`default_model_free_config`.
    """

    size: str = "standard"
    """'standard', 'large' (one more conv) or 'resnet' (grids: the learned-planner ResNet's 27 convs): the defaults of the None fields"""
    conv_filters: tuple | None = None
    """channels of each conv layer"""
    kernel_sizes: tuple | None = None
    """kernel size of each conv layer"""
    strides: tuple | None = None
    """stride of each conv layer"""
    fc_units: int | None = None
    """units of the fully connected layer before the policy and value heads"""
    obs_scale: float | None = None
    """multiplies the uint8 observation (None: 1/255 for RGB, 1 for one-hot)"""
    residual: bool = False
    """identity skips around the shape-preserving convs (a residual tower)"""
    residual_blocks: int | None = None
    """pre-activation residual blocks x + conv(relu(x)) after each conv, whose convs then have no activation (None: 2 for 'resnet', else 0)"""

    def __post_init__(self):
        if self.size not in SIZES:
            raise ValueError(f"ModelFreeConfig.size must be one of {', '.join(SIZES)}, got {self.size!r}")
        if not isinstance(self.residual, bool):
            raise ValueError(f"ModelFreeConfig.residual must be true or false, got {self.residual!r}")
        if self.residual_blocks is not None:
            if isinstance(self.residual_blocks, bool) or int(self.residual_blocks) != self.residual_blocks \
                    or self.residual_blocks < 0:
                raise ValueError(f"ModelFreeConfig.residual_blocks must be an integer >= 0, got "
                                 f"{self.residual_blocks!r}")
            self.residual_blocks = int(self.residual_blocks)
        if self.residual and self.residual_blocks:
            raise ValueError("ModelFreeConfig: residual=true (skips around the convs) and "
                             "residual_blocks > 0 (blocks after them) are two kinds of residual "
                             "tower; choose one")
        for name in ("conv_filters", "kernel_sizes", "strides"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, tuple(int(v) for v in value))


def fit_conv_sizes(defaults: Sequence[int], n: int, pad: int) -> tuple:
    """A tower's kernel sizes or strides for ``n`` convs: ``defaults`` cut to ``n``, or extended
    with ``pad`` (for kernel sizes the tower's last one, for strides 1: stride-1 convs beyond the
    default depth)."""
    return (tuple(defaults) + (pad,) * n)[:n]


def default_model_free_config(observation_shape: Sequence[int], config: ModelFreeConfig | None = None
                              ) -> ModelFreeConfig:
    """Fill the ``None`` fields of ``config`` for this observation shape (H, W, C)."""
    config = config or ModelFreeConfig()
    if len(observation_shape) != 3:
        raise ValueError(f"observation_shape must be (H, W, C), got {tuple(observation_shape)}")
    height, width, channels = (int(s) for s in observation_shape)
    pixels = min(height, width) >= PIXEL_INPUT_MIN_SIZE
    large = config.size == "large"
    if config.size == "resnet" and pixels:
        raise ValueError(f"ModelFreeConfig.size='resnet' is a tower for grid observations (one "
                         f"pixel per tile), not {height}x{width} pixels; use 'standard' or 'large'")
    if config.size == "resnet":
        filters, kernels, strides, fc = (32, 32) + (64,) * 7, (4,) * 9, (1,) * 9, 256
    elif pixels:
        filters = (32, 64, 64, 128) if large else (32, 64, 64)
        kernels = (8, 4, 3, 3) if large else (8, 4, 3)
        strides = (4, 2, 1, 1) if large else (4, 2, 1)
        fc = 512
    else:
        filters = (32, 64, 64) if large else (32, 32)
        kernels = (3,) * len(filters)
        strides = (1, 2, 1) if large else (1, 2)
        fc = 512 if large else 256
    conv_filters = config.conv_filters or filters
    n = len(conv_filters)
    kernels, strides = fit_conv_sizes(kernels, n, kernels[-1]), fit_conv_sizes(strides, n, 1)
    filled = dataclasses.replace(
        config,
        conv_filters=conv_filters,
        kernel_sizes=config.kernel_sizes or kernels,
        strides=config.strides or strides,
        fc_units=config.fc_units or fc,
        obs_scale=config.obs_scale if config.obs_scale is not None else (1.0 / 255.0 if channels == 3 else 1.0),
        residual_blocks=(config.residual_blocks if config.residual_blocks is not None
                         else 2 if config.size == "resnet" else 0),
    )
    n = len(filled.conv_filters)
    if len(filled.kernel_sizes) != n or len(filled.strides) != n:
        raise ValueError(
            f"conv_filters, kernel_sizes and strides must have the same length, got "
            f"{filled.conv_filters}, {filled.kernel_sizes}, {filled.strides}")
    return filled


@keras.saving.register_keras_serializable(package="i2a_keras")
class PreActivationResidualBlock(layers.Layer):
    """``x + conv(relu(x))`` with a stride-1 "same" conv of ``x``'s width: the block of the ResNet
    baseline of Guez et al. (2019), two per conv in the learned-planner Boxoban agents."""

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = int(filters), int(kernel_size)
        self.conv = layers.Conv2D(self.filters, self.kernel_size, padding="same", name="conv",
                                  dtype=self.dtype_policy)

    def build(self, input_shape):
        self.conv.build(input_shape)

    def call(self, x):
        return x + self.conv(ops.relu(x))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size}


def build_conv_torso(config: ModelFreeConfig, name: str = "torso") -> list:
    """The convolutional layers of the model-free agent, a list of Keras layers applied in order:
    each conv (relu, or linear when ``residual_blocks`` follow it) and its blocks, then a relu
    after the last block."""
    blocks = config.residual_blocks or 0
    torso = []
    for i, (f, k, s) in enumerate(zip(config.conv_filters, config.kernel_sizes, config.strides)):
        torso.append(layers.Conv2D(f, k, strides=s, padding="same", activation=None if blocks else "relu",
                                   name=f"{name}_conv{i}"))
        torso += [PreActivationResidualBlock(f, k, name=f"{name}_block{i}_{j}") for j in range(blocks)]
    if blocks:
        torso.append(layers.ReLU(name=f"{name}_relu"))
    return torso


def apply_conv_torso(convs, obs, obs_scale: float, dtype, residual: bool = False):
    """Cast ``obs`` to ``dtype``, multiply by ``obs_scale`` (skipped when 1) and run ``convs``;
    with ``residual``, a conv whose output has its input's shape is added to its input."""
    x = ops.cast(obs, dtype)
    if obs_scale != 1.0:
        x = x * ops.cast(obs_scale, dtype)
    for conv in convs:
        y = conv(x)
        x = x + y if residual and tuple(y.shape[1:]) == tuple(x.shape[1:]) else y
    return x


@keras.saving.register_keras_serializable(package="i2a_keras")
class ModelFreeAgent(keras.Model):
    """Conv layers -> FC -> (policy logits, value) (Sec. 3.3).

    ``agent(obs)`` takes a uint8/float batch ``(B, H, W, C)`` and returns
    ``{"logits": (B, A) float32, "value": (B,) float32}`` (the agent contract in docs/design.md).
    """

    def __init__(self, observation_shape, num_actions, conv_filters, kernel_sizes, strides,
                 fc_units, obs_scale=1.0, size="standard", residual=False, residual_blocks=None, **kwargs):
        super().__init__(**kwargs)
        if int(num_actions) < 1:
            raise ValueError(f"num_actions must be >= 1, got {num_actions}")
        self.observation_shape = tuple(int(s) for s in observation_shape)
        self.num_actions = int(num_actions)
        self.arch = ModelFreeConfig(size=size, conv_filters=conv_filters, kernel_sizes=kernel_sizes,
                                    strides=strides, fc_units=int(fc_units), obs_scale=float(obs_scale),
                                    residual=bool(residual), residual_blocks=residual_blocks)
        self.arch = default_model_free_config(self.observation_shape, self.arch)
        self.convs = build_conv_torso(self.arch)
        self.flatten = layers.Flatten(name="flatten")
        self.fc = layers.Dense(self.arch.fc_units, activation="relu", name="fc")
        # Heads in float32 so that logits/values stay float32 under mixed precision.
        self.policy_head = layers.Dense(self.num_actions, name="policy_logits", dtype="float32")
        self.value_head = layers.Dense(1, name="value", dtype="float32")

    @classmethod
    def from_arch(cls, observation_shape, num_actions, config: ModelFreeConfig | None = None, **kwargs):
        arch = default_model_free_config(observation_shape, config)
        return cls(observation_shape, num_actions, conv_filters=arch.conv_filters,
                   kernel_sizes=arch.kernel_sizes, strides=arch.strides, fc_units=arch.fc_units,
                   obs_scale=arch.obs_scale, size=arch.size, residual=arch.residual,
                   residual_blocks=arch.residual_blocks, **kwargs)

    def build(self, input_shape=None):
        if self.built:
            return
        self.call(ops.zeros((1,) + self.observation_shape, dtype="uint8"))

    def features(self, obs, training=False):
        """Conv + FC features ``(B, fc_units)`` of a batch of observations."""
        x = apply_conv_torso(self.convs, obs, self.arch.obs_scale, self.compute_dtype,
                             residual=self.arch.residual)
        return self.fc(self.flatten(x))

    def call(self, obs, training=False):
        h = self.features(obs, training=training)
        logits = self.policy_head(h)
        value = ops.squeeze(self.value_head(h), axis=-1)
        return {"logits": logits, "value": value}

    def get_config(self):
        config = super().get_config()
        config.update(
            observation_shape=list(self.observation_shape),
            num_actions=self.num_actions,
            conv_filters=list(self.arch.conv_filters),
            kernel_sizes=list(self.arch.kernel_sizes),
            strides=list(self.arch.strides),
            fc_units=self.arch.fc_units,
            obs_scale=self.arch.obs_scale,
            size=self.arch.size,
            residual=self.arch.residual,
            residual_blocks=self.arch.residual_blocks,
        )
        return config
