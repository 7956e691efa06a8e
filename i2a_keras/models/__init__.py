"""Agents and models (Weber et al., 2017, Sec. 2-3) and the agent registry.

Actor-critic agents are built by name with :func:`build_agent`; every agent follows the agent
contract in docs/design.md (``agent(obs) -> {"logits", "value"[, "aux_loss"]}``).

Extension point: a module registers its agents with :func:`register_agent`::

    @register_agent("i2a")
    def _build_i2a(observation_shape, num_actions, config):
        return I2AAgent(...)

Names listed in ``_LAZY_AGENT_MODULES`` are imported on first use, so ``build_agent("i2a", ...)``
works without importing ``i2a_keras.models.i2a`` first.
"""
from __future__ import annotations

import importlib
from typing import Callable

from i2a_keras.models.model_free import ModelFreeAgent, ModelFreeConfig, default_model_free_config

__all__ = ["register_agent", "build_agent", "agent_names", "agent_config_class",
           "ModelFreeAgent", "ModelFreeConfig", "default_model_free_config"]

_AGENT_BUILDERS: dict[str, Callable] = {}
_AGENT_CONFIGS: dict[str, type] = {}

# Agents defined in modules owned by other issues (imported lazily when first requested).
_LAZY_AGENT_MODULES = {
    "i2a": "i2a_keras.models.i2a",
    "i2a-copy-model": "i2a_keras.models.i2a",
    "i2a-no-reward": "i2a_keras.models.i2a",
}


def register_agent(name: str, config_class: type | None = None):
    """Decorator registering ``builder(observation_shape, num_actions, config) -> keras.Model``.

    ``config_class`` is the dataclass the builder expects (used by the CLI to create defaults).
    """
    def decorator(builder):
        if name in _AGENT_BUILDERS and _AGENT_BUILDERS[name] is not builder:
            raise ValueError(f"agent {name!r} is already registered")
        _AGENT_BUILDERS[name] = builder
        if config_class is not None:
            _AGENT_CONFIGS[name] = config_class
        return builder
    return decorator


def _resolve(name: str) -> Callable:
    if name not in _AGENT_BUILDERS and name in _LAZY_AGENT_MODULES:
        module = _LAZY_AGENT_MODULES[name]
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            raise NotImplementedError(
                f"agent {name!r} is provided by {module}, which could not be imported: {exc}"
            ) from exc
    if name not in _AGENT_BUILDERS:
        raise ValueError(f"unknown agent {name!r}; known agents: {agent_names()}")
    return _AGENT_BUILDERS[name]


def agent_names() -> list[str]:
    """Registered agent names (plus the lazily loaded ones)."""
    return sorted(set(_AGENT_BUILDERS) | set(_LAZY_AGENT_MODULES))


def agent_config_class(name: str) -> type | None:
    """The config dataclass registered for agent ``name`` (None if the builder takes none)."""
    _resolve(name)
    return _AGENT_CONFIGS.get(name)


def build_agent(name: str, observation_shape, num_actions: int, config=None):
    """Build (and build the weights of) agent ``name`` for observations ``(H, W, C)``."""
    agent = _resolve(name)(tuple(observation_shape), int(num_actions), config)
    agent.build((None,) + tuple(observation_shape))
    return agent


@register_agent("model-free", ModelFreeConfig)
def _build_model_free(observation_shape, num_actions, config=None):
    if config is not None and not isinstance(config, ModelFreeConfig):
        raise ValueError(f"model-free agent expects a ModelFreeConfig, got {type(config).__name__}")
    return ModelFreeAgent.from_arch(observation_shape, num_actions, config, name="model_free_agent")


@register_agent("model-free-large", ModelFreeConfig)
def _build_model_free_large(observation_shape, num_actions, config=None):
    import dataclasses
    config = dataclasses.replace(config or ModelFreeConfig(), size="large")
    return ModelFreeAgent.from_arch(observation_shape, num_actions, config, name="model_free_agent")
