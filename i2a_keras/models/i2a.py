"""The Imagination-Augmented Agent (Weber et al., 2017, Sec. 2-3, Fig. 1c).

``I2AAgent`` = imagination path + model-free path + policy/value heads:

- imagination core (Sec. 3.1, :mod:`i2a_keras.models.imagination_core`): one rollout of length tau
  per action through the frozen environment model, later actions chosen by the rollout policy;
- rollout encoder (Sec. 3.2, :mod:`i2a_keras.models.rollout_encoder`): CNN + LSTM (reverse order)
  turning each rollout into an embedding e_i;
- aggregator (Sec. 3.2): concatenation of the ``A`` embeddings;
- model-free path (Sec. 3.2): the model-free baseline's conv tower
  (:func:`i2a_keras.models.model_free.build_conv_torso`) + a fully connected layer;
- output policy network: FC on [aggregate, model-free features] -> policy logits and value;
- rollout policy pi_hat (Sec. 3.1): a small model-free network inside the agent, trained only by
  the distillation loss (:mod:`i2a_keras.algos.distillation`) returned as ``aux_loss``.

Checkpoints: the frozen environment model is a (non-trainable) part of the agent, so a ``.keras``
file of the agent is self-contained (its config embeds the env model's config, its weights the env
model's weights); no path to the env model is needed to reload or resume.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import keras
from keras import layers, ops

from i2a_keras.algos.distillation import distillation_loss
from i2a_keras.models.imagination_core import (FRAME_DECODING_MODES, ROLLOUT_SAMPLING_MODES,
                                               SOLVE_REWARD, ImaginationCore, freeze)
from i2a_keras.models.model_free import (PIXEL_INPUT_MIN_SIZE, ModelFreeConfig, apply_conv_torso,
                                         build_conv_torso, default_model_free_config,
                                         fit_conv_sizes)
from i2a_keras.models import register_agent
from i2a_keras.models.env_model import CopyModel, EnvModel, load_env_model
from i2a_keras.models import minipacman_env_model  # noqa: F401  (registers its env model class)
from i2a_keras.models.rollout_encoder import REWARD_INPUTS, RolloutEncoder

__all__ = ["I2AConfig", "I2AAgent", "RolloutPolicy", "I2A_PRESETS", "GRID_SIZES", "PIXEL_SIZES"]

_TUPLE_FIELDS = ("encoder_filters", "encoder_kernel_sizes", "encoder_strides", "mf_conv_filters",
                 "mf_kernel_sizes", "mf_strides", "rp_conv_filters", "rp_kernel_sizes", "rp_strides")


@dataclass
class I2AConfig:
    """Architecture and imagination settings of the I2A (Sec. 3).

    Fields left ``None`` are filled for the observation shape by :meth:`resolve`; the presets
    (:data:`I2A_PRESETS`) name every size.
    """

    rollout_length: int = 5
    """tau: imagined steps per rollout (Sec. 3.1; the paper's Sokoban agent uses 5)"""
    rollout_sampling: str = "sample"
    """how the rollout policy picks imagined actions after the first: 'sample' or 'argmax'"""
    reverse: bool = True
    """encode each rollout from its last imagined step to its first (Sec. 3.2)"""
    reward_input: str = "plane"
    """where the encoder reads the imagined reward: 'plane' (an input plane) or 'after_cnn' (the appendix)"""
    stop_on_solve: bool = False
    """an imagined solve ends the imagined episode (later steps repeat the solved frame, reward 0)"""
    frame_decoding: str = "argmax"
    """'argmax' imagined frames, or the expected frames ('probs': uncertain objects such as ghosts stay visible)"""
    lstm_units: int | None = None
    """units of the rollout encoder's LSTM"""
    encoder_filters: tuple | None = None
    """channels of the rollout encoder's CNN layers"""
    encoder_kernel_sizes: tuple | None = None
    """kernel sizes of the rollout encoder's CNN"""
    encoder_strides: tuple | None = None
    """strides of the rollout encoder's CNN"""
    mf_size: str = "standard"
    """'standard' or 'large': defaults of the model-free path (the baseline's tower)"""
    mf_conv_filters: tuple | None = None
    """channels of the model-free path's convs"""
    mf_kernel_sizes: tuple | None = None
    """kernel sizes of the model-free path's convs"""
    mf_strides: tuple | None = None
    """strides of the model-free path's convs"""
    mf_fc_units: int | None = None
    """units of the model-free path's fully connected layer"""
    mf_residual: bool = False
    """identity skips in the model-free path (ModelFreeConfig.residual)"""
    rp_conv_filters: tuple | None = None
    """channels of the rollout policy's convs (the distilled policy, Sec. 3.1)"""
    rp_kernel_sizes: tuple | None = None
    """kernel sizes of the rollout policy's convs"""
    rp_strides: tuple | None = None
    """strides of the rollout policy's convs"""
    rp_fc_units: int | None = None
    """units of the rollout policy's fully connected layer"""
    head_units: int | None = None
    """units of the layer after the aggregator (imagination + model-free features), before the policy and value heads"""
    distill_weight: float = 1.0
    """weight of the distillation loss that fits the rollout policy to the agent's policy"""
    obs_scale: float | None = None
    """multiplies the uint8 observation (None: 1/255 for RGB, 1 for one-hot)"""
    seed: int | None = None
    """seed of the imagination's action-sampling stream (None: unseeded; the trainer seeds Keras globally)"""
    env_model_path: str = ""
    """pretrained .keras environment model (i2a, i2a-no-reward; unused by i2a-copy-model)"""
    reward_task: str = ""
    """MiniPacman only: the task whose weights turn predicted events into imagined rewards (set to env.task by the trainer)"""

    def __post_init__(self):
        for name in _TUPLE_FIELDS:
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, tuple(int(v) for v in value))
        if int(self.rollout_length) < 1:
            raise ValueError(f"rollout_length must be >= 1, got {self.rollout_length}")
        if self.rollout_sampling not in ROLLOUT_SAMPLING_MODES:
            raise ValueError(f"rollout_sampling must be one of {ROLLOUT_SAMPLING_MODES}, "
                             f"got {self.rollout_sampling!r}")
        if self.frame_decoding not in FRAME_DECODING_MODES:
            raise ValueError(f"frame_decoding must be one of {FRAME_DECODING_MODES}, "
                             f"got {self.frame_decoding!r}")
        if self.reward_input not in REWARD_INPUTS:
            raise ValueError(f"reward_input must be one of {REWARD_INPUTS}, got {self.reward_input!r}")
        if float(self.distill_weight) < 0:
            raise ValueError(f"distill_weight must be >= 0, got {self.distill_weight}")
        if self.reward_task and self.stop_on_solve:
            raise ValueError("stop_on_solve is a Sokoban setting: MiniPacman (reward_task) has no solve")
        if self.mf_size == "resnet":
            raise ValueError("mf_size='resnet' (the learned-planner ResNet's residual blocks) is a "
                             "tower of the model-free agent only; the I2A's model-free path takes "
                             "'standard' or 'large', or mf_residual=true with mf_conv_filters and "
                             "mf_strides for a deeper residual path")

    @classmethod
    def preset(cls, name: str, **overrides) -> "I2AConfig":
        """``tiny`` (tests), ``small`` (CPU, 7x7 one-hot), ``boxoban`` (10x10 one-hot) or ``paper``
        (GPU, 80x80 RGB)."""
        if name not in I2A_PRESETS:
            raise ValueError(f"unknown I2A preset {name!r}; choose from {sorted(I2A_PRESETS)}")
        return dataclasses.replace(I2A_PRESETS[name], **overrides)

    def resolve(self, observation_shape: Sequence[int]) -> "I2AConfig":
        """Fill every ``None`` field for an observation of shape (H, W, C): the sizes from
        :data:`PIXEL_SIZES` or :data:`GRID_SIZES`, the model-free path from the baseline's tower.

        Kernel sizes and strides left out follow the chosen filters: the defaults, cut to their
        number or extended with 3x3 stride-1 convs (as the baseline's tower does).
        """
        if len(observation_shape) != 3:
            raise ValueError(f"observation_shape must be (H, W, C), got {tuple(observation_shape)}")
        mf = default_model_free_config(observation_shape, ModelFreeConfig(
            size=self.mf_size, conv_filters=self.mf_conv_filters, kernel_sizes=self.mf_kernel_sizes,
            strides=self.mf_strides, fc_units=self.mf_fc_units, obs_scale=self.obs_scale))
        pixels = min(int(s) for s in observation_shape[:2]) >= PIXEL_INPUT_MIN_SIZE
        sizes = PIXEL_SIZES if pixels else GRID_SIZES
        filled = {name: sizes[name] if getattr(self, name) is None else getattr(self, name)
                  for name in sizes}
        for filters, kernels, strides in (("encoder_filters", "encoder_kernel_sizes", "encoder_strides"),
                                          ("rp_conv_filters", "rp_kernel_sizes", "rp_strides")):
            n = len(filled[filters])
            for field, pad in ((kernels, 3), (strides, 1)):
                if getattr(self, field) is None:
                    filled[field] = fit_conv_sizes(sizes[field], n, pad)
                elif len(filled[field]) != n:
                    raise ValueError(f"{field} {filled[field]} must give one value per entry of "
                                     f"{filters} {filled[filters]}")
        return dataclasses.replace(
            self, **filled, mf_conv_filters=mf.conv_filters, mf_kernel_sizes=mf.kernel_sizes,
            mf_strides=mf.strides, mf_fc_units=mf.fc_units, obs_scale=mf.obs_scale)


# The sizes a config leaves out (resolve()): grid observations (one cell per pixel: Sokoban
# one-hot, MiniPacman) get 3x3 stride-1 convs; pixel observations such as the paper's 80x80 RGB
# get strided ones.
GRID_SIZES = dict(encoder_filters=(16, 16), encoder_kernel_sizes=(3, 3), encoder_strides=(1, 1),
                  lstm_units=128, rp_conv_filters=(16, 16), rp_kernel_sizes=(3, 3), rp_strides=(1, 1),
                  rp_fc_units=64, head_units=256)
PIXEL_SIZES = dict(encoder_filters=(16, 32), encoder_kernel_sizes=(8, 4), encoder_strides=(4, 2),
                   lstm_units=512, rp_conv_filters=(16, 32), rp_kernel_sizes=(8, 4), rp_strides=(4, 2),
                   rp_fc_units=256, head_units=512)

# Every preset names every size (as the colab's run() does), so a reader sees the whole network.
I2A_PRESETS = {
    # seconds on CPU: for tests only
    "tiny": I2AConfig(rollout_length=2,
                      encoder_filters=(8,), encoder_kernel_sizes=(3,), encoder_strides=(1,), lstm_units=16,
                      mf_conv_filters=(8,), mf_kernel_sizes=(3,), mf_strides=(1,), mf_fc_units=32,
                      rp_conv_filters=(8,), rp_kernel_sizes=(3,), rp_strides=(1,), rp_fc_units=16,
                      head_units=32),
    # CPU, 7x7 one-hot: model-free path = the model-free agent's default tower; a slim encoder
    # (16 channels, LSTM 64): the frozen env model's passes dominate the cost anyway (results.md)
    "small": I2AConfig(rollout_length=5,
                       encoder_filters=(16,), encoder_kernel_sizes=(3,), encoder_strides=(2,), lstm_units=64,
                       mf_conv_filters=(32, 32), mf_kernel_sizes=(3, 3), mf_strides=(1, 2), mf_fc_units=256,
                       rp_conv_filters=(16,), rp_kernel_sizes=(3,), rp_strides=(1,), rp_fc_units=64,
                       head_units=128),
    # 10x10 one-hot Boxoban (4 actions): the small I2A with the boxoban baseline's model-free
    # tower (3 convs 3x3/32, strides 1/1/2, FC 256), so the two agents share that path
    "boxoban": I2AConfig(rollout_length=5,
                         encoder_filters=(16,), encoder_kernel_sizes=(3,), encoder_strides=(1,), lstm_units=64,
                         mf_conv_filters=(32, 32, 32), mf_kernel_sizes=(3, 3, 3), mf_strides=(1, 1, 2),
                         mf_fc_units=256,
                         rp_conv_filters=(16,), rp_kernel_sizes=(3,), rp_strides=(1,), rp_fc_units=64,
                         head_units=128),
    # GPU, 80x80 RGB, tau = 5 (Sec. 4.1), 5 actions; strided encoder CNN, LSTM 512 and FC 512 are
    # our choices (sizes of the same order as the model-free baseline's pixel tower)
    "paper": I2AConfig(rollout_length=5,
                       encoder_filters=(16, 32), encoder_kernel_sizes=(8, 4), encoder_strides=(4, 2),
                       lstm_units=512,
                       mf_conv_filters=(32, 64, 64), mf_kernel_sizes=(8, 4, 3), mf_strides=(4, 2, 1),
                       mf_fc_units=512,
                       rp_conv_filters=(16, 32), rp_kernel_sizes=(8, 4), rp_strides=(4, 2), rp_fc_units=256,
                       head_units=512),
    # MiniPacman, 15x19 RGB cells (Sec. 5): 3x3 convs; the small preset's slim encoder and
    # tau = 3 on CPU, the grid sizes and tau = 5 for the GPU (tau = 2 for the tiny test preset)
    "minipacman_tiny": I2AConfig(rollout_length=2, reward_task="regular",
                                 encoder_filters=(8,), encoder_kernel_sizes=(3,), encoder_strides=(1,),
                                 lstm_units=16,
                                 mf_conv_filters=(8,), mf_kernel_sizes=(3,), mf_strides=(1,), mf_fc_units=32,
                                 rp_conv_filters=(8,), rp_kernel_sizes=(3,), rp_strides=(1,), rp_fc_units=16,
                                 head_units=32),
    "minipacman": I2AConfig(rollout_length=3, reward_task="regular",
                            encoder_filters=(16,), encoder_kernel_sizes=(3,), encoder_strides=(2,),
                            lstm_units=64,
                            mf_conv_filters=(32, 32), mf_kernel_sizes=(3, 3), mf_strides=(1, 2),
                            mf_fc_units=256,
                            rp_conv_filters=(16,), rp_kernel_sizes=(3,), rp_strides=(1,), rp_fc_units=64,
                            head_units=128),
    "minipacman_paper": I2AConfig(rollout_length=5, reward_task="regular",
                                  encoder_filters=(16, 16), encoder_kernel_sizes=(3, 3), encoder_strides=(1, 1),
                                  lstm_units=128,
                                  mf_conv_filters=(32, 32), mf_kernel_sizes=(3, 3), mf_strides=(1, 2),
                                  mf_fc_units=256,
                                  rp_conv_filters=(16, 16), rp_kernel_sizes=(3, 3), rp_strides=(1, 1),
                                  rp_fc_units=64, head_units=256),
}


@keras.saving.register_keras_serializable(package="i2a_keras")
class RolloutPolicy(keras.layers.Layer):
    """The rollout policy pi_hat: a small model-free net, observations -> logits (Sec. 3.1)."""

    def __init__(self, num_actions, conv_filters, kernel_sizes, strides, fc_units, obs_scale=1.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_actions = int(num_actions)
        self.arch = ModelFreeConfig(conv_filters=conv_filters, kernel_sizes=kernel_sizes,
                                    strides=strides, fc_units=int(fc_units), obs_scale=float(obs_scale))
        self.convs = build_conv_torso(self.arch, name="rollout_policy")
        self.flatten = layers.Flatten(name="rollout_policy_flatten")
        self.fc = layers.Dense(self.arch.fc_units, activation="relu", name="rollout_policy_fc")
        self.logits = layers.Dense(self.num_actions, name="rollout_policy_logits", dtype="float32")

    def call(self, obs):
        x = apply_conv_torso(self.convs, obs, self.arch.obs_scale, self.compute_dtype)
        return self.logits(self.fc(self.flatten(x)))

    def get_config(self):
        config = super().get_config()
        config.update(num_actions=self.num_actions, conv_filters=list(self.arch.conv_filters),
                      kernel_sizes=list(self.arch.kernel_sizes), strides=list(self.arch.strides),
                      fc_units=self.arch.fc_units, obs_scale=self.arch.obs_scale)
        return config


@keras.saving.register_keras_serializable(package="i2a_keras")
class I2AAgent(keras.Model):
    """Imagination-augmented actor-critic agent (Sec. 2-3) following the agent contract.

    ``agent(obs)`` with ``obs (B, H, W, C)`` (uint8 or float, the env's encoding) returns
    ``{"logits": (B, A), "value": (B,), "imagined": {...}}``; with ``training=True`` also
    ``"aux_loss"`` (weighted distillation loss) and ``"rollout_logits"``. ``env_model`` (with
    ``predict_next``) is frozen. See :meth:`call` for exact (replayed) imagination.
    """

    def __init__(self, observation_shape, num_actions, env_model, config=None, **kwargs):
        kwargs.setdefault("autocast", False)  # the rollout noise stays float32 in mixed precision
        super().__init__(**kwargs)
        self.observation_shape = tuple(int(s) for s in observation_shape)
        self.num_actions = int(num_actions)
        if self.num_actions < 1:
            raise ValueError(f"num_actions must be >= 1, got {num_actions}")
        if config is None:
            config = I2AConfig()
        elif isinstance(config, dict):
            config = I2AConfig(**config)
        elif not isinstance(config, I2AConfig):
            raise ValueError(f"config must be an I2AConfig or dict, got {type(config).__name__}")
        cfg = self.config = config.resolve(self.observation_shape)
        self.env_model = freeze(env_model)
        self.rollout_policy = RolloutPolicy(
            self.num_actions, cfg.rp_conv_filters, cfg.rp_kernel_sizes, cfg.rp_strides, cfg.rp_fc_units,
            obs_scale=cfg.obs_scale, name="rollout_policy")
        self.imagination = ImaginationCore(
            env_model, self.rollout_policy, self.num_actions, rollout_length=cfg.rollout_length,
            rollout_sampling=cfg.rollout_sampling, seed=cfg.seed,
            stop_reward=SOLVE_REWARD if cfg.stop_on_solve else None,
            frame_decoding=cfg.frame_decoding, name="imagination_core")
        self.encoder = RolloutEncoder(
            cfg.encoder_filters, cfg.encoder_kernel_sizes, cfg.encoder_strides, cfg.lstm_units,
            reverse=cfg.reverse, frame_scale=cfg.obs_scale, reward_input=cfg.reward_input,
            name="rollout_encoder")
        mf_arch = ModelFreeConfig(conv_filters=cfg.mf_conv_filters, kernel_sizes=cfg.mf_kernel_sizes,
                                  strides=cfg.mf_strides, fc_units=cfg.mf_fc_units,
                                  residual=bool(cfg.mf_residual))
        self.mf_convs = build_conv_torso(mf_arch, name="model_free")
        self.mf_flatten = layers.Flatten(name="model_free_flatten")
        self.mf_fc = layers.Dense(cfg.mf_fc_units, activation="relu", name="model_free_fc")
        self.head_fc = layers.Dense(cfg.head_units, activation="relu", name="head_fc")
        self.policy_head = layers.Dense(self.num_actions, name="policy_logits", dtype="float32")
        self.value_head = layers.Dense(1, name="value", dtype="float32")

    def build(self, input_shape=None):
        if self.built:
            return
        # Calling the sublayers on a dummy batch creates every variable (also the env model's),
        # which ``.keras`` loading needs before it restores the weights.
        self.call(ops.zeros((1,) + self.observation_shape, dtype="uint8"), training=True)
        freeze(self.env_model)
        self.built = True

    def model_free_features(self, obs):
        """Model-free path: conv tower + FC (Sec. 3.2)."""
        x = apply_conv_torso(self.mf_convs, obs, self.config.obs_scale, self.compute_dtype,
                             residual=bool(self.config.mf_residual))
        return self.mf_fc(self.mf_flatten(x))

    @property
    def rollout_noise_shape(self) -> tuple | None:
        """Per-observation shape of the uniforms that drive the rollout policy's samples, or
        ``None`` when the imagination is deterministic (tau = 1 or argmax rollouts)."""
        shape = self.imagination.noise_shape()
        return shape if shape[-1] > 0 and self.config.rollout_sampling == "sample" else None

    def imagine(self, obs, rollout_noise=None):
        """The imagined rollouts of a batch (Sec. 3.1) in a compact, storable form:
        ``{"frames": uint8 (B, A, tau, H, W, C), "rewards": float32 (B, A, tau)}`` (argmax frames
        are one-hot or palette colours, so uint8 holds them exactly; expected frames, with
        ``frame_decoding="probs"``, are float16). Acting and the update both read this form."""
        imagined = self.imagination(obs, noise=rollout_noise)
        frames = imagined["frames"]
        if self.config.frame_decoding == "probs":
            frames = ops.cast(frames, "float16")
        else:
            frames = ops.cast(ops.round(frames), "uint8")
        return {"frames": frames, "rewards": imagined["rewards"]}

    def imagination_features(self, obs, rollout_noise=None, imagined=None):
        """Encode each rollout, concatenate the A embeddings (aggregator, Sec. 3.2). ``imagined``
        (from :meth:`imagine`) replays stored rollouts instead of imagining again."""
        if imagined is None:
            imagined = self.imagine(obs, rollout_noise)
        frames, rewards = imagined["frames"], imagined["rewards"]
        tau = self.config.rollout_length
        frames = ops.reshape(frames, (-1, tau) + tuple(frames.shape[3:]))
        rewards = ops.reshape(ops.cast(rewards, "float32"), (-1, tau))
        embeddings = self.encoder(frames, rewards)
        return ops.reshape(embeddings, (-1, self.num_actions * self.config.lstm_units))

    def call(self, obs, training=False, rollout_noise=None, imagined=None):
        """Policy logits and value (Sec. 3). Acting (``training=False``) also returns the
        rollouts it imagined as ``"imagined"``; the update (``training=True``) passes them back as
        ``imagined`` and gets the distillation loss of pi_hat towards pi on ``obs`` as
        ``"aux_loss"`` (Sec. 3.1)."""
        if tuple(obs.shape[1:]) != self.observation_shape:
            raise ValueError(f"I2AAgent built for observations {self.observation_shape}, "
                             f"got batch shape {tuple(obs.shape)}")
        if imagined is None:
            imagined = self.imagine(obs, rollout_noise)
        h = ops.concatenate([self.imagination_features(obs, imagined=imagined),
                             self.model_free_features(obs)], axis=-1)
        h = self.head_fc(h)
        logits = self.policy_head(h)
        value = ops.squeeze(self.value_head(h), axis=-1)
        out = {"logits": logits, "value": value}
        if training:
            rollout_logits = self.rollout_policy(obs)
            out["aux_loss"] = distillation_loss(logits, rollout_logits, self.config.distill_weight)
            out["rollout_logits"] = rollout_logits
        else:
            out["imagined"] = imagined
        return out

    def parameter_groups(self) -> dict:
        """Trainable variables by loss: the distilled rollout policy's and the rest (the RL
        loss's); the learner clips each group's gradient norm separately."""
        rollout = {id(v) for v in self.rollout_policy.trainable_variables}
        return {"rollout_policy": [v for v in self.trainable_variables if id(v) in rollout],
                "policy": [v for v in self.trainable_variables if id(v) not in rollout]}

    def get_config(self):
        config = super().get_config()
        config.update(observation_shape=list(self.observation_shape), num_actions=self.num_actions,
                      env_model=keras.saving.serialize_keras_object(self.env_model),
                      config={k: (list(v) if isinstance(v, tuple) else v)
                              for k, v in dataclasses.asdict(self.config).items()})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["env_model"] = keras.saving.deserialize_keras_object(config["env_model"])
        return cls(**config)


# ---------------------------------------------------------------------------------------------
# Agent registry (``python -m i2a_keras.train i2a --agent NAME``)


def _observation_kind(observation_shape):
    height, _, channels = observation_shape
    if channels == 7:
        return "one_hot", None
    if channels == 3:
        from i2a_keras.envs.observations import RGB_PALETTE, TINY_COLORS
        return ("rgb", RGB_PALETTE) if height >= PIXEL_INPUT_MIN_SIZE else ("tiny_rgb", TINY_COLORS)
    raise ValueError(f"cannot infer the observation kind of shape {tuple(observation_shape)}")


def _load_frozen_env_model(config: I2AConfig, observation_shape, num_actions, agent_name: str):
    if not config.env_model_path:
        raise ValueError(f"agent {agent_name!r} needs a pretrained environment model: pass "
                         "--env-model PATH (or --set model.env_model_path=PATH)")
    env_model = load_env_model(config.env_model_path)
    if not isinstance(env_model, EnvModel):
        raise ValueError(f"{config.env_model_path} holds a {type(env_model).__name__}, "
                         f"agent {agent_name!r} needs an EnvModel")
    if tuple(env_model.obs_shape) != tuple(observation_shape) or env_model.num_actions != num_actions:
        raise ValueError(
            f"env model {config.env_model_path} was trained for observations {env_model.obs_shape} "
            f"and {env_model.num_actions} actions, the environment has {tuple(observation_shape)} "
            f"and {num_actions}")
    events = hasattr(env_model, "set_task")
    if events != bool(config.reward_task):
        raise ValueError(f"env model {config.env_model_path} is a {type(env_model).__name__}; "
                         + ("MiniPacman (reward_task) needs one trained on MiniPacman events" if
                            config.reward_task else "it predicts MiniPacman events, not Sokoban rewards"))
    if events:
        env_model.set_task(config.reward_task)  # the same model serves every task (Sec. 5)
    return env_model


@register_agent("i2a", I2AConfig)
def _build_i2a(observation_shape, num_actions, config=None):
    """I2A with the pretrained environment model at ``config.env_model_path`` (Sec. 3)."""
    config = config or I2AConfig()
    env_model = _load_frozen_env_model(config, observation_shape, num_actions, "i2a")
    if not env_model.predict_reward:
        raise ValueError(f"{config.env_model_path} predicts no rewards: use agent 'i2a-no-reward'")
    return I2AAgent(observation_shape, num_actions, env_model, config, name="i2a_agent")


@register_agent("i2a-no-reward", I2AConfig)
def _build_i2a_no_reward(observation_shape, num_actions, config=None):
    """I2A whose environment model was trained without reward prediction (Sec. 4.2)."""
    config = config or I2AConfig()
    env_model = _load_frozen_env_model(config, observation_shape, num_actions, "i2a-no-reward")
    if env_model.predict_reward:
        raise ValueError(
            f"agent 'i2a-no-reward' needs an env model trained with predict_reward=False, but "
            f"{config.env_model_path} predicts rewards")
    return I2AAgent(observation_shape, num_actions, env_model, config, name="i2a_agent")


@register_agent("i2a-copy-model", I2AConfig)
def _build_i2a_copy_model(observation_shape, num_actions, config=None):
    """Copy-model I2A (Sec. 4.2): same architecture, the "imagined" frames are the input frame."""
    config = config or I2AConfig()
    observation, palette = _observation_kind(observation_shape)
    if config.reward_task:  # MiniPacman: one pixel per cell in its own colours
        from i2a_keras.envs.minipacman_core import PALETTE_UINT8
        palette = PALETTE_UINT8
    copy_model = CopyModel(obs_shape=tuple(observation_shape), num_actions=num_actions,
                           observation=observation, palette=palette, name="copy_model")
    return I2AAgent(observation_shape, num_actions, copy_model, config, name="i2a_agent")
