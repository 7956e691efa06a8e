"""Environment model: action-conditioned next-frame and reward predictor (Weber et al., 2017).

Sec. 2 and 3.2 of the paper: the environment model takes the current observation and an action and
predicts the next observation and the reward. It is pretrained by negative log-likelihood on agent
trajectories and then frozen inside the imagination core. The appendix describes the network: the
action is broadcast as one-hot planes and concatenated with the frame, and the trunk is made of
"pool-and-inject" blocks (global max-pool, tiled back over the grid and concatenated, so every cell
sees global context such as "are all boxes on targets"), with a large-kernel and a 3x3 conv branch
merged by a 1x1 conv. The frame output is a per-pixel categorical (here: per cell over the 7 tile
kinds for one-hot grids, per pixel over the fixed sprite palette for RGB frames); the reward output
is a categorical over the finitely many reward values of Sokoban. The loss is
``NLL(frame) + reward_weight * NLL(reward)`` with ``reward_weight = 0.1``.

Choices of this implementation (documented deviations): the compact CPU default (``small`` preset)
uses a 16-channel trunk with one block and no large-kernel branch, about 10x cheaper per call than
the paper-size trunk (see ``benchmarks/bench_env_model.py`` and docs/results.md); with
``reward_from_frames`` the reward head reads, besides the trunk features, the input frame and the
predicted next-frame distribution (Sokoban rewards are functions of the box/target counts before
and after the step, which global pooling of these planes exposes directly).

For 80x80 RGB frames (8x8 pixel sprites) the model works on the 10x10 tile grid: the frame is cut
into 8x8 patches (space-to-depth), and the output layer predicts the 64 pixels of each patch
(depth-to-space), as the paper's Sokoban model does with its stride-8 input/output layers.

Besides :class:`EnvModel` this module has the paper's controls with the same interface:
:class:`CopyModel` (returns the input frame, reward 0; Sec. 4.2 "copy-model I2A") and the
no-reward variant (``EnvModel(predict_reward=False)``: predicts frames only, reward output 0).

All three share the batched API used by the imagination core::

    out = model(obs, actions)            # {"frame_logits": (B,H',W',K), "reward_logits": (B,R)}
    out = model({"obs": obs, "actions": actions})      # the same (the input structure of fit)
    next_obs, reward = model.predict_next(obs, actions, sample=False)

``obs`` is ``(B, H, W, C)`` in the environment's encoding (uint8 or float), ``actions`` is ``(B,)``
int; ``next_obs`` has the same encoding and dtype as ``obs``. Both work inside compiled functions
of any Keras backend (``tf.function``, ``jax.jit``).

Pretraining uses Keras's own loop: :meth:`EnvModel.compute_loss` is the NLL above, so
``model.compile(optimizer=...)`` and ``model.fit`` on batches ``({"obs", "actions"}, {"frame",
"reward"})`` (frame and reward classes, :func:`frame_classes`, :func:`reward_classes`) train it; the
model's metrics (``frame_nll``, ``reward_nll``, ``cell_acc``, ``frame_acc``, ``reward_acc``,
``reward_acc_nonstep``) come with ``fit``'s logs (see ``training/env_model_train.py``).
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Optional, Sequence

import keras
import numpy as np
from keras import layers, ops

# Tile codes, Sokoban reward rules (gym-sokoban / Boxoban, paper-facts.md) and observation kinds
# are the environment's (one definition, in i2a_keras.envs).
from i2a_keras.envs.core import (NUM_TILE_TYPES, PENALTY_BOX_OFF_TARGET, REWARD_BOX_ON_TARGET,
                                 REWARD_FINISHED, STEP_PENALTY)
from i2a_keras.envs.observations import OBSERVATIONS as OBSERVATION_KINDS
from i2a_keras.envs.observations import TILE_PIXELS as RGB_PATCH  # 80x80 "rgb" for 10x10 rooms


def sokoban_reward_values(step_penalty: float = STEP_PENALTY,
                          box_on_target: float = REWARD_BOX_ON_TARGET,
                          box_off_target: float = PENALTY_BOX_OFF_TARGET,
                          finished: float = REWARD_FINISHED) -> tuple:
    """The distinct one-step rewards of Sokoban, sorted ascending.

    Every step costs ``step_penalty``. An action moves at most one box (both action sets), so the
    number of boxes on targets changes by -1, 0 or +1 (``box_off_target``, nothing, ``box_on_target``)
    and the solve bonus ``finished`` can be added when the change is 0 or +1 (a box moving from one
    target to another while every other box is on a target still solves the level; a box leaving a
    target never does, since there are as many targets as boxes). For the default rules this gives
    ``(-1.1, -0.1, 0.9, 9.9, 10.9)``.
    """
    values = {step_penalty + box_off_target, step_penalty, step_penalty + box_on_target,
              step_penalty + finished, step_penalty + box_on_target + finished}
    return tuple(sorted(round(float(v), 6) for v in values))


SOKOBAN_REWARD_VALUES = sokoban_reward_values()


def step_penalty_class(reward_values, step_penalty: float = STEP_PENALTY) -> int:
    """Index of the plain step penalty in ``reward_values`` (-1 if it is not one of them)."""
    values = np.asarray(reward_values, np.float64)
    hit = np.flatnonzero(np.abs(values - step_penalty) < 1e-6)
    return int(hit[0]) if len(hit) else -1


def _as_palette(palette) -> Optional[np.ndarray]:
    if palette is None:
        return None
    arr = np.asarray(palette)
    if arr.ndim != 2 or arr.shape[1] != 3 or len(arr) < 2:
        raise ValueError(f"palette must be a (K>=2, 3) array of RGB colours, got shape {arr.shape}")
    if arr.min() < 0 or arr.max() > 255:
        raise ValueError("palette colours must be in 0..255")
    if len(np.unique(arr, axis=0)) != len(arr):
        raise ValueError("palette colours must be distinct")
    return arr.astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Targets (numpy, used when building training batches and for evaluation)
# --------------------------------------------------------------------------------------------

def frame_classes(obs: np.ndarray, observation: str, palette=None) -> np.ndarray:
    """Class index of every output cell/pixel of ``obs`` (``(..., H', W')`` uint8).

    ``one_hot``: the tile code (argmax of the 7 planes; each cell must be exactly one-hot).
    ``tiny_rgb``/``rgb``: the index of the pixel's colour in ``palette`` (exact match required).
    """
    obs = np.asarray(obs)
    if observation == "one_hot":
        if obs.shape[-1] != NUM_TILE_TYPES:
            raise ValueError(f"one_hot observations need {NUM_TILE_TYPES} planes, got shape {obs.shape}")
        if not np.all(obs.sum(axis=-1) == 1):
            raise ValueError("one_hot observation has cells that are not exactly one-hot")
        return obs.argmax(axis=-1).astype(np.uint8)
    if observation in ("tiny_rgb", "rgb"):
        pal = _as_palette(palette)
        if pal is None:
            raise ValueError(f"observation={observation!r} needs a palette")
        if obs.shape[-1] != 3:
            raise ValueError(f"RGB observations need 3 channels, got shape {obs.shape}")
        codes = (obs[..., 0].astype(np.int32) << 16) | (obs[..., 1].astype(np.int32) << 8) | obs[..., 2]
        pal_codes = (pal[:, 0].astype(np.int32) << 16) | (pal[:, 1].astype(np.int32) << 8) | pal[:, 2]
        order = np.argsort(pal_codes)
        pos = np.clip(np.searchsorted(pal_codes[order], codes), 0, len(pal) - 1)
        idx = order[pos]
        if not np.all(pal_codes[idx] == codes):
            bad = np.unique(codes[pal_codes[idx] != codes])[:5]
            raise ValueError(f"observation has colours outside the palette, e.g. "
                             f"{[((c >> 16) & 255, (c >> 8) & 255, c & 255) for c in bad]}")
        return idx.astype(np.uint8)
    raise ValueError(f"unknown observation kind {observation!r}; expected one of {OBSERVATION_KINDS}")


def reward_classes(rewards, reward_values: Sequence[float] = SOKOBAN_REWARD_VALUES,
                   atol: float = 1e-3) -> np.ndarray:
    """Index of each reward in ``reward_values``; raises ValueError for a reward not in the set."""
    rewards = np.asarray(rewards, dtype=np.float64)
    values = np.asarray(reward_values, dtype=np.float64)
    idx = np.abs(rewards[..., None] - values).argmin(axis=-1)
    err = np.abs(values[idx] - rewards)
    if np.any(err > atol):
        raise ValueError(f"rewards {np.unique(rewards[err > atol])[:5].tolist()} are not in the "
                         f"reward value set {values.tolist()}")
    return idx.astype(np.int32)


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class EnvModelConfig:
    """Hyper-parameters of :class:`EnvModel` (presets: ``tiny``, ``small``, ``paper``).

    The paper's blocks use (16, 32) branches, a 64-channel trunk and a 10x10 large kernel on the
    10x10 grid (App. B.1).
    """

    observation: str = "one_hot"
    """frames it predicts: 'one_hot' grids, 'tiny_rgb' or 'rgb' (taken from the data set)"""
    obs_shape: tuple = (7, 7, NUM_TILE_TYPES)
    """frame shape (H, W, C), from the data set"""
    num_actions: int = 5
    """actions it is conditioned on, from the data set"""
    channels: int = 16
    """width of the trunk"""
    num_blocks: int = 1
    """pool-and-inject blocks (Sec. 3.1, App. B.1)"""
    branch_channels: tuple = (0, 16)
    """channels of each block's large-kernel branch and of its 3x3 branch"""
    large_kernel: int = 0
    """kernel size of the large-kernel branch (0: no such branch)"""
    reward_hidden: int = 16
    """channels of the reward head"""
    reward_kernel: int = 1
    """kernel size of the reward head's conv"""
    reward_from_frames: bool = True
    """the reward head also reads the input frame and the predicted next frame (Sokoban rewards are functions of box counts)"""
    reward_pool: str = "mean"
    """how the reward head pools over the grid: 'mean' or 'sum'"""
    reward_values: tuple = SOKOBAN_REWARD_VALUES
    """the finitely many rewards it predicts a categorical over"""
    palette: Optional[tuple] = None
    """RGB colours the frame head predicts a categorical over (RGB frames; from the data set)"""
    predict_reward: bool = True
    """False: the no-reward control (frames only, reward 0)"""
    reward_weight: float = 0.1
    """weight of the reward NLL beside the frame NLL (the paper's 0.1)"""

    @classmethod
    def preset(cls, name: str, **overrides) -> "EnvModelConfig":
        """``tiny`` (tests), ``small`` (the compact CPU default, 7x7 one-hot: a 16-channel trunk,
        one pool-and-inject block, 1x1 reward conv), ``compact32`` (32 channels, two blocks),
        ``paper_size`` (the paper's 64-channel trunk with (16, 32) branches and a grid-wide large
        kernel, on the 7x7 grid, for the cost comparison), ``paper`` (80x80 RGB, 10x10 rooms; needs
        ``palette``)."""
        presets = {
            "tiny": dict(channels=8, num_blocks=1, branch_channels=(0, 8), reward_hidden=8),
            "small": dict(),
            "compact32": dict(channels=32, num_blocks=2, branch_channels=(0, 32), reward_hidden=32,
                              reward_kernel=3, reward_from_frames=False, reward_pool="mean"),
            "paper_size": dict(channels=64, num_blocks=2, branch_channels=(16, 32), large_kernel=7,
                               reward_hidden=64, reward_kernel=3, reward_from_frames=False,
                               reward_pool="mean"),
            "paper": dict(observation="rgb", obs_shape=(80, 80, 3), num_actions=5, channels=64,
                          num_blocks=2, branch_channels=(16, 32), large_kernel=10, reward_hidden=64,
                          reward_kernel=3, reward_from_frames=False, reward_pool="mean"),
        }
        if name not in presets:
            raise ValueError(f"unknown env-model preset {name!r}; expected one of {sorted(presets)}")
        fields = {**presets[name], **overrides}
        return cls(**fields)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["obs_shape"] = list(self.obs_shape)
        d["branch_channels"] = list(self.branch_channels)
        d["reward_values"] = list(self.reward_values)
        d["palette"] = None if self.palette is None else [list(map(int, c)) for c in self.palette]
        return d


# --------------------------------------------------------------------------------------------
# Shared helpers for the model family
# --------------------------------------------------------------------------------------------

def _validate_obs_shape(observation, obs_shape, palette):
    if observation not in OBSERVATION_KINDS:
        raise ValueError(f"unknown observation kind {observation!r}; expected one of {OBSERVATION_KINDS}")
    obs_shape = tuple(int(s) for s in obs_shape)
    if len(obs_shape) != 3 or min(obs_shape) <= 0:
        raise ValueError(f"obs_shape must be (H, W, C) with positive sizes, got {obs_shape}")
    if observation == "one_hot" and obs_shape[-1] != NUM_TILE_TYPES:
        raise ValueError(f"one_hot obs_shape must end with {NUM_TILE_TYPES}, got {obs_shape}")
    if observation in ("tiny_rgb", "rgb"):
        if obs_shape[-1] != 3:
            raise ValueError(f"{observation} obs_shape must end with 3, got {obs_shape}")
        if palette is None:
            raise ValueError(f"observation={observation!r} needs a palette (the env's fixed colours)")
    if observation == "rgb" and (obs_shape[0] % RGB_PATCH or obs_shape[1] % RGB_PATCH):
        raise ValueError(f"rgb obs_shape must be a multiple of {RGB_PATCH} pixels, got {obs_shape}")
    return obs_shape


def _split_inputs(obs, actions):
    """``(obs, actions)`` from positional inputs or from fit's ``{"obs": ..., "actions": ...}``."""
    if actions is not None:
        return obs, actions
    if isinstance(obs, dict) and set(obs) == {"obs", "actions"}:
        return obs["obs"], obs["actions"]
    raise ValueError("an environment model takes (obs, actions) or {'obs': obs, 'actions': actions}, "
                     f"got {type(obs).__name__} without actions")


def _concrete(x) -> Optional[np.ndarray]:
    """``x``'s values when they are known here (numpy, eager tensors); None inside a compiled
    function (``tf.function``, ``jax.jit``) or for symbolic Keras tensors."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, keras.KerasTensor):
        return None
    try:
        return ops.convert_to_numpy(x)
    except (TypeError, ValueError, NotImplementedError, AttributeError):
        return None


class _EnvModelAPI:
    """Input checks and decoding shared by EnvModel, CopyModel (and the no-reward variant)."""

    def __call__(self, obs, actions=None, *args, **kwargs):
        obs, actions = _split_inputs(obs, actions)
        if not ops.is_tensor(obs) and not isinstance(obs, keras.KerasTensor):
            obs = np.asarray(obs)
        if not ops.is_tensor(actions) and not isinstance(actions, keras.KerasTensor):
            actions = np.asarray(actions)
            if actions.dtype.kind not in "iu":
                raise ValueError(f"actions must be integers, got dtype {actions.dtype}")
        return super().__call__(obs, actions, *args, **kwargs)

    def _check_inputs(self, obs, actions):
        if len(obs.shape) != 4 or tuple(obs.shape[1:]) != tuple(self.obs_shape):
            raise ValueError(f"obs must have shape (B, {', '.join(map(str, self.obs_shape))}), "
                             f"got {tuple(obs.shape)}")
        if len(actions.shape) != 1:
            raise ValueError(f"actions must have shape (B,), got {tuple(actions.shape)}")
        a = _concrete(actions)
        if a is not None:
            if a.size and (a.min() < 0 or a.max() >= self.num_actions):
                raise ValueError(f"actions must be in [0, {self.num_actions}), got range "
                                 f"[{a.min()}, {a.max()}]")

    def decode_frame(self, frame_logits, dtype="uint8", sample=False, seed=None, soft=False):
        """Turn frame logits into an observation in the input encoding: the argmax or a sample
        per cell, or with ``soft`` the expected frame (one-hot: the class probabilities; colours:
        the probability-weighted palette colour), which needs a float ``dtype``."""
        k = frame_logits.shape[-1]
        if soft:
            if not keras.backend.is_float_dtype(dtype):
                raise ValueError(f"soft frames are expectations: they need a float dtype, got {dtype}")
            probs = ops.softmax(ops.cast(frame_logits, "float32"), axis=-1)
            if self.observation != "one_hot":
                palette = ops.convert_to_tensor(np.asarray(self.palette, dtype=np.float32))
                probs = ops.matmul(probs, palette)
            return ops.cast(probs, dtype)
        if sample:
            flat = ops.reshape(frame_logits, (-1, k))
            idx = ops.reshape(keras.random.categorical(flat, 1, seed=seed), ops.shape(frame_logits)[:-1])
        else:
            idx = ops.argmax(frame_logits, axis=-1)
        if self.observation == "one_hot":
            return ops.cast(ops.one_hot(idx, NUM_TILE_TYPES), dtype)
        palette = ops.convert_to_tensor(np.asarray(self.palette, dtype=np.float32))
        return ops.cast(ops.take(palette, idx, axis=0), dtype)

    def decode_reward(self, reward_logits, sample=False, seed=None):
        """Turn reward logits into reward values (B,) float32 (argmax or sampled)."""
        values = ops.convert_to_tensor(np.asarray(self.reward_values, dtype=np.float32))
        if sample:
            idx = keras.random.categorical(reward_logits, 1, seed=seed)[:, 0]
        else:
            idx = ops.argmax(reward_logits, axis=-1)
        return ops.take(values, idx, axis=0)

    def predict_next(self, obs, actions, sample=False, seed=None, soft=False):
        """Imagine one step: ``(next_obs, reward)`` for a batch ``obs (B,H,W,C)``, ``actions (B,)``.

        ``next_obs`` is in the input's encoding and dtype; ``reward`` is float32 (B,). With
        ``sample=True`` frames and rewards are sampled from the predicted categoricals (``seed``: a
        ``keras.random.SeedGenerator`` or int), otherwise the most likely values are returned;
        ``soft=True`` returns the expected frame instead (:meth:`decode_frame`; float ``obs``).
        """
        obs = ops.convert_to_tensor(obs)
        out = self(obs, actions)
        next_obs = self.decode_frame(out["frame_logits"], dtype=obs.dtype, sample=sample, seed=seed,
                                     soft=soft)
        if self.predict_reward:
            reward = self.decode_reward(out["reward_logits"], sample=sample, seed=seed)
        else:
            reward = ops.zeros((ops.shape(obs)[0],), dtype="float32")
        return next_obs, reward


def _space_to_depth(x, patch):
    b = ops.shape(x)[0]
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    x = ops.reshape(x, (b, h // patch, patch, w // patch, patch, c))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (b, h // patch, w // patch, patch * patch * c))


def _depth_to_space(x, patch):
    b = ops.shape(x)[0]
    h, w, c = x.shape[1], x.shape[2], x.shape[3] // (patch * patch)
    x = ops.reshape(x, (b, h, w, patch, patch, c))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (b, h * patch, w * patch, c))


# --------------------------------------------------------------------------------------------
# The learned model
# --------------------------------------------------------------------------------------------

@keras.saving.register_keras_serializable(package="i2a_keras")
class PoolAndInjectBlock(layers.Layer):
    """Pool-and-inject residual block (paper appendix, environment model).

    ``x -> concat(x, tile(maxpool_global(x)))`` feeds a large-kernel branch (``n1`` channels,
    ``large_kernel`` x ``large_kernel``; omitted when ``n1 == 0`` or ``large_kernel == 0``) and a
    1x1 -> 3x3 branch (``n2`` channels); their concatenation goes through a 1x1 conv back to the
    trunk width and is added to ``x``.
    """

    def __init__(self, channels, n1, n2, large_kernel, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.n1, self.n2, self.large_kernel = int(channels), int(n1), int(n2), int(large_kernel)
        if self.n2 <= 0 or self.channels <= 0:
            raise ValueError("PoolAndInjectBlock needs channels > 0 and n2 > 0")
        self.use_large = self.n1 > 0 and self.large_kernel > 0
        conv = functools.partial(layers.Conv2D, activation="relu", dtype=self.dtype_policy)
        if self.use_large:
            self.large_in = conv(self.n1, 1, name="large_in")
            self.large_conv = conv(self.n1, self.large_kernel, padding="same", name="large_conv")
        self.small_in = conv(self.n2, 1, name="small_in")
        self.small_conv = conv(self.n2, 3, padding="same", name="small_conv")
        self.merge = conv(self.channels, 1, name="merge")

    def build(self, input_shape):
        h, w, c = input_shape[1], input_shape[2], input_shape[3]
        cat = (None, h, w, 2 * c)
        if self.use_large:
            self.large_in.build(cat)
            self.large_conv.build((None, h, w, self.n1))
        self.small_in.build(cat)
        self.small_conv.build((None, h, w, self.n2))
        self.merge.build((None, h, w, self.n2 + (self.n1 if self.use_large else 0)))

    def call(self, x):
        pooled = ops.max(x, axis=(1, 2), keepdims=True)
        injected = ops.concatenate([x, ops.broadcast_to(pooled, ops.shape(x))], axis=-1)
        branches = [self.small_conv(self.small_in(injected))]
        if self.use_large:
            branches.insert(0, self.large_conv(self.large_in(injected)))
        merged = branches[0] if len(branches) == 1 else ops.concatenate(branches, axis=-1)
        return x + self.merge(merged)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "n1": self.n1, "n2": self.n2,
                "large_kernel": self.large_kernel}


@keras.saving.register_keras_serializable(package="i2a_keras")
class EnvModel(_EnvModelAPI, keras.Model):
    """Action-conditioned environment model (paper Sec. 2/3.2 and appendix).

    ``model(obs, actions)`` returns ``{"frame_logits": (B, H', W', K), "reward_logits": (B, R)}``
    where ``H', W'`` are the cell grid (one-hot, tiny RGB) or the pixel grid (RGB), ``K`` is 7 tile
    kinds or the palette size and ``R = len(reward_values)``. With ``predict_reward=False`` (the
    paper's no-reward variant) the reward logits are zeros and ``predict_next`` returns reward 0.
    """

    # ``fit`` targets: name -> what it holds (a subclass predicting other targets overrides it)
    FIT_TARGETS = {"frame": "frame classes (B, H', W')", "reward": "reward classes (B,)"}

    def __init__(self, obs_shape=(7, 7, NUM_TILE_TYPES), num_actions=5, observation="one_hot",
                 channels=32, num_blocks=2, branch_channels=(0, 32), large_kernel=0, reward_hidden=32,
                 reward_kernel=3, reward_from_frames=False, reward_pool="mean",
                 reward_values=SOKOBAN_REWARD_VALUES, palette=None,
                 predict_reward=True,
                 reward_weight=0.1, **kwargs):
        super().__init__(**kwargs)
        self.obs_shape = _validate_obs_shape(observation, obs_shape, palette)
        self.observation = observation
        self.num_actions = int(num_actions)
        if self.num_actions < 1:
            raise ValueError(f"num_actions must be >= 1, got {num_actions}")
        self.channels, self.num_blocks = int(channels), int(num_blocks)
        self.branch_channels = tuple(int(c) for c in branch_channels)
        if len(self.branch_channels) != 2:
            raise ValueError(f"branch_channels must be (n1, n2), got {branch_channels}")
        self.large_kernel, self.reward_hidden = int(large_kernel), int(reward_hidden)
        self.reward_kernel = int(reward_kernel)
        self.reward_from_frames = bool(reward_from_frames)
        if reward_pool not in ("mean", "sum"):
            raise ValueError(f"reward_pool must be 'mean' or 'sum', got {reward_pool!r}")
        self.reward_pool = reward_pool
        self.reward_values = tuple(float(v) for v in reward_values)
        if len(self.reward_values) < 1 or sorted(self.reward_values) != list(self.reward_values):
            raise ValueError("reward_values must be a non-empty ascending sequence")
        pal = _as_palette(palette)
        self.palette = None if pal is None else tuple(tuple(int(v) for v in c) for c in pal)
        self.predict_reward = bool(predict_reward)
        self.reward_weight = float(reward_weight)

        self.patch = RGB_PATCH if observation == "rgb" else 1
        self.grid = (self.obs_shape[0] // self.patch, self.obs_shape[1] // self.patch)
        self.num_classes = NUM_TILE_TYPES if observation == "one_hot" else len(self.palette)
        self._step_class = step_penalty_class(self.reward_values)
        # Training metrics (``fit`` logs; not saved with the weights). Sec. 3.2 trains on the
        # NLL; the accuracies are the held-out metrics of training/env_model_eval.py, per batch.
        self.frame_nll_tracker = keras.metrics.Mean(name="frame_nll")
        self.reward_nll_tracker = keras.metrics.Mean(name="reward_nll")
        self.cell_acc_tracker = keras.metrics.Mean(name="cell_acc")
        self.frame_acc_tracker = keras.metrics.Mean(name="frame_acc")
        if self.predict_reward:
            self.reward_acc_tracker = keras.metrics.Mean(name="reward_acc")
            self.reward_acc_nonstep_tracker = keras.metrics.Mean(name="reward_acc_nonstep")
        # Sublayers compute in the model's own dtype policy: a float32 env model loaded into an
        # agent trained in mixed precision stays the exact model it was trained as.
        dtype = self.dtype_policy
        self.stem = layers.Conv2D(self.channels, 3, padding="same", activation="relu", name="stem",
                                  dtype=dtype)
        self.blocks = [PoolAndInjectBlock(self.channels, self.branch_channels[0], self.branch_channels[1],
                                          self.large_kernel, name=f"pool_inject_{i}", dtype=dtype)
                       for i in range(self.num_blocks)]
        self.frame_head = layers.Conv2D(self.num_classes * self.patch * self.patch, 1,
                                        name="frame_head", dtype=dtype)
        if self.predict_reward:
            self.reward_conv = layers.Conv2D(self.reward_hidden, self.reward_kernel, padding="same", activation="relu",
                                             name="reward_conv", dtype=dtype)
            self.reward_head = layers.Dense(self._reward_head_units(), name="reward_head", dtype=dtype)
        self.build()  # weights exist right away (so a frozen copy inside I2A can load its weights)

    def build(self, obs_shape=None, actions_shape=None):
        if self.built:
            return
        gh, gw = self.grid
        in_ch = self.obs_shape[2] * self.patch * self.patch + self.num_actions
        self.stem.build((None, gh, gw, in_ch))
        for block in self.blocks:
            block.build((None, gh, gw, self.channels))
        self.frame_head.build((None, gh, gw, self.channels))
        if self.predict_reward:
            self.reward_conv.build((None, gh, gw, self._reward_in_channels()))
            self.reward_head.build((None, 2 * self.reward_hidden))
        self.built = True

    def _reward_head_units(self):
        """Outputs of the reward head: one logit per reward value."""
        return len(self.reward_values)

    def _reward_in_channels(self):
        if not self.reward_from_frames:
            return self.channels
        return self.channels + (self.obs_shape[2] + self.num_classes) * self.patch * self.patch

    def _features(self, obs):
        x = ops.cast(obs, "float32")
        if self.observation != "one_hot":
            x = x / 255.0
        if self.patch > 1:
            x = _space_to_depth(x, self.patch)
        return x

    def call(self, obs, actions=None, training=False):
        obs, actions = _split_inputs(obs, actions)
        self._check_inputs(obs, actions)
        x = self._features(obs)
        planes = ops.one_hot(ops.cast(actions, "int32"), self.num_actions)  # (B, A)
        planes = ops.broadcast_to(planes[:, None, None, :],
                                  (ops.shape(x)[0], self.grid[0], self.grid[1], self.num_actions))
        h = self.stem(ops.concatenate([x, planes], axis=-1))
        for block in self.blocks:
            h = block(h)
        grid_logits = self.frame_head(h)  # (B, gh, gw, patch * patch * K)
        frame_logits = _depth_to_space(grid_logits, self.patch) if self.patch > 1 else grid_logits
        if self.predict_reward:
            r_in = h
            if self.reward_from_frames:
                probs = ops.softmax(frame_logits, axis=-1)
                if self.patch > 1:
                    probs = _space_to_depth(probs, self.patch)
                r_in = ops.concatenate([h, x, probs], axis=-1)
            r = self.reward_conv(r_in)
            # reward_pool="sum" pools counts (e.g. boxes that landed on a target), "mean" averages;
            # the max pool can flag "a box off target is left".
            pooled = ops.sum(r, axis=(1, 2)) if self.reward_pool == "sum" else ops.mean(r, axis=(1, 2))
            r = ops.concatenate([ops.max(r, axis=(1, 2)), pooled], axis=-1)
            reward_logits = self.reward_head(r)
        else:
            reward_logits = ops.zeros((ops.shape(obs)[0], len(self.reward_values)), dtype="float32")
        return {"frame_logits": frame_logits, "reward_logits": reward_logits}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The pretraining loss of Sec. 3.2 for ``fit``: ``NLL(frame) + reward_weight * NLL(reward)``
        (:func:`env_model_loss`); ``y = {"frame": (B, H', W') classes, "reward": (B,) classes}``."""
        self._check_targets(y, sample_weight)
        if y_pred is None:
            y_pred = self(x, training=training)
        losses = env_model_loss(y_pred, y["frame"], y["reward"], self.reward_weight, self.predict_reward)
        return self._track_losses(losses["frame_nll"], losses["reward_nll"], losses["total"])

    def _check_targets(self, y, sample_weight):
        """``fit``'s targets must be exactly :attr:`FIT_TARGETS`, without sample weights."""
        name = type(self).__name__
        if not isinstance(y, dict) or set(y) != set(self.FIT_TARGETS):
            wanted = ", ".join(f"'{k}': {v}" for k, v in self.FIT_TARGETS.items())
            raise ValueError(f"{name}.fit needs targets y={{{wanted}}}, got {type(y).__name__}")
        if sample_weight is not None:
            raise ValueError(f"{name}.fit does not support sample weights")

    def _track_losses(self, frame_nll, reward_nll, total):
        """Log the two NLLs; add regularizer losses, if a subclass adds any, to ``total``."""
        self.frame_nll_tracker.update_state(frame_nll)
        self.reward_nll_tracker.update_state(reward_nll)
        if self.losses:
            total = total + ops.sum(ops.stack(self.losses))
        return total

    def _track_frame_accuracy(self, frame_targets, frame_logits):
        """``cell_acc`` (cells/pixels right) and ``frame_acc`` (whole frame right) of the argmax."""
        correct = ops.cast(ops.equal(ops.cast(ops.argmax(frame_logits, axis=-1), "int32"),
                                     ops.cast(frame_targets, "int32")), "float32")
        self.cell_acc_tracker.update_state(ops.mean(correct, axis=(1, 2)))
        self.frame_acc_tracker.update_state(ops.min(correct, axis=(1, 2)))

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Per-batch accuracies of the argmax prediction: ``cell_acc`` (cells/pixels), ``frame_acc``
        (whole frame), ``reward_acc`` and ``reward_acc_nonstep`` (only transitions whose reward is
        not the plain step penalty, so that always predicting -0.1 scores 0 there)."""
        self._track_frame_accuracy(y["frame"], y_pred["frame_logits"])
        if self.predict_reward:
            reward_t = ops.cast(y["reward"], "int32")
            ok = ops.cast(ops.equal(ops.cast(ops.argmax(y_pred["reward_logits"], axis=-1), "int32"),
                                    reward_t), "float32")
            self.reward_acc_tracker.update_state(ok)
            self.reward_acc_nonstep_tracker.update_state(
                ok, sample_weight=ops.cast(ops.not_equal(reward_t, self._step_class), "float32"))
        return self.get_metrics_result()

    def get_config(self):
        return {**super().get_config(), "obs_shape": list(self.obs_shape), "num_actions": self.num_actions,
                "observation": self.observation, "channels": self.channels, "num_blocks": self.num_blocks,
                "branch_channels": list(self.branch_channels), "large_kernel": self.large_kernel,
                "reward_hidden": self.reward_hidden, "reward_kernel": self.reward_kernel,
                "reward_from_frames": self.reward_from_frames, "reward_pool": self.reward_pool,
                "reward_values": list(self.reward_values),
                "palette": None if self.palette is None else [list(c) for c in self.palette],
                "predict_reward": self.predict_reward, "reward_weight": self.reward_weight}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @classmethod
    def from_env_model_config(cls, cfg: EnvModelConfig, **kwargs) -> "EnvModel":
        """Build from an :class:`EnvModelConfig`."""
        return cls(obs_shape=cfg.obs_shape, num_actions=cfg.num_actions, observation=cfg.observation,
                   channels=cfg.channels, num_blocks=cfg.num_blocks, branch_channels=cfg.branch_channels,
                   large_kernel=cfg.large_kernel, reward_hidden=cfg.reward_hidden, reward_kernel=cfg.reward_kernel,
                   reward_from_frames=cfg.reward_from_frames, reward_pool=cfg.reward_pool,
                   reward_values=cfg.reward_values, palette=cfg.palette,
                   predict_reward=cfg.predict_reward, reward_weight=cfg.reward_weight, **kwargs)


def make_no_reward_env_model(**kwargs) -> EnvModel:
    """The paper's no-reward variant (Sec. 4.2): predicts frames only, reward output is 0."""
    return EnvModel(predict_reward=False, **kwargs)


@keras.saving.register_keras_serializable(package="i2a_keras")
class CopyModel(_EnvModelAPI, keras.Model):
    """The paper's copy-model control (Sec. 4.2): the "next" frame is the input frame, reward 0.

    Same interface as :class:`EnvModel`; it has no weights. Frame logits are +/-``logit_scale`` on
    the input's own classes, reward logits are zeros.
    """

    predict_reward = False

    def __init__(self, obs_shape=(7, 7, NUM_TILE_TYPES), num_actions=5, observation="one_hot",
                 reward_values=SOKOBAN_REWARD_VALUES, palette=None, logit_scale=20.0, **kwargs):
        super().__init__(**kwargs)
        self.obs_shape = _validate_obs_shape(observation, obs_shape, palette)
        self.observation = observation
        self.num_actions = int(num_actions)
        self.reward_values = tuple(float(v) for v in reward_values)
        pal = _as_palette(palette)
        self.palette = None if pal is None else tuple(tuple(int(v) for v in c) for c in pal)
        self.logit_scale = float(logit_scale)
        self.num_classes = NUM_TILE_TYPES if observation == "one_hot" else len(self.palette)
        self.built = True

    def build(self, obs_shape=None, actions_shape=None):
        self.built = True

    def _classes(self, obs):
        if self.observation == "one_hot":
            return ops.argmax(obs, axis=-1)
        palette = ops.convert_to_tensor(np.asarray(self.palette, dtype=np.float32))
        diff = ops.cast(obs, "float32")[..., None, :] - palette  # (B, H, W, K, 3)
        return ops.argmin(ops.sum(diff * diff, axis=-1), axis=-1)

    def call(self, obs, actions=None, training=False):
        obs, actions = _split_inputs(obs, actions)
        self._check_inputs(obs, actions)
        onehot = ops.one_hot(self._classes(obs), self.num_classes)
        frame_logits = (2.0 * onehot - 1.0) * self.logit_scale
        reward_logits = ops.zeros((ops.shape(obs)[0], len(self.reward_values)), dtype="float32")
        return {"frame_logits": frame_logits, "reward_logits": reward_logits}

    def predict_next(self, obs, actions, sample=False, seed=None, soft=False):
        """Return ``(obs, zeros)``: the copy model imagines that nothing changes (for any
        decoding: its prediction is certain)."""
        obs = ops.convert_to_tensor(obs)
        self._check_inputs(obs, actions)
        return obs, ops.zeros((ops.shape(obs)[0],), dtype="float32")

    def get_config(self):
        return {**super().get_config(), "obs_shape": list(self.obs_shape), "num_actions": self.num_actions,
                "observation": self.observation, "reward_values": list(self.reward_values),
                "palette": None if self.palette is None else [list(c) for c in self.palette],
                "logit_scale": self.logit_scale}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


# --------------------------------------------------------------------------------------------
# Loss
# --------------------------------------------------------------------------------------------

def env_model_loss(outputs, frame_targets, reward_targets, reward_weight: float = 0.1,
                   predict_reward: bool = True):
    """Negative log-likelihood of the next frame and reward (paper Sec. 3.2 / appendix).

    ``frame_targets``: int class per output cell/pixel ``(B, H', W')``; ``reward_targets``: int
    class ``(B,)``. The frame NLL is summed over cells (the log-likelihood of the whole frame) and
    averaged over the batch; the total is ``frame_nll + reward_weight * reward_nll`` (no reward term
    when ``predict_reward`` is False). Returns a dict of scalars ``total``, ``frame_nll``,
    ``reward_nll``.
    """
    frame_logits = outputs["frame_logits"]
    frame_ce = keras.losses.sparse_categorical_crossentropy(
        ops.cast(frame_targets, "int32"), frame_logits, from_logits=True)
    frame_nll = ops.mean(ops.sum(frame_ce, axis=(1, 2)))
    reward_nll = ops.mean(keras.losses.sparse_categorical_crossentropy(
        ops.cast(reward_targets, "int32"), outputs["reward_logits"], from_logits=True))
    total = frame_nll + reward_weight * reward_nll if predict_reward else frame_nll
    return {"total": total, "frame_nll": frame_nll, "reward_nll": reward_nll}


def load_env_model(path: str):
    """Load an env model (EnvModel, CopyModel or MiniPacmanEnvModel) from a ``.keras`` file with
    safe mode on."""
    import i2a_keras.models.minipacman_env_model  # noqa: F401  (registers MiniPacmanEnvModel)

    model = keras.saving.load_model(path, safe_mode=True, compile=False)
    if not isinstance(model, (EnvModel, CopyModel)):
        raise ValueError(f"{path} does not hold an i2a_keras environment model (got {type(model).__name__})")
    return model


def count_params(model) -> int:
    """Number of weights of a model (0 for CopyModel)."""
    return int(sum(math.prod(w.shape) for w in model.weights))
