"""Rollout-policy distillation (Weber et al., 2017, Sec. 3.1).

The rollout policy pi_hat used inside the imagination core is a small model-free network trained
to imitate the imagination-augmented policy pi: the total loss gets an auxiliary cross-entropy
term ``lambda * CE(pi(o_t), pi_hat(o_t))`` computed on the same real observation. The I2A policy is
the (stop-gradient) target: this term moves pi_hat towards pi and never pulls pi towards pi_hat.
"""
from __future__ import annotations

from keras import ops


def _check_logits(i2a_logits, rollout_logits):
    if len(i2a_logits.shape) != 2 or len(rollout_logits.shape) != 2:
        raise ValueError(
            "distillation expects (batch, num_actions) logits, got shapes "
            f"{tuple(i2a_logits.shape)} and {tuple(rollout_logits.shape)}")
    a, b = i2a_logits.shape[-1], rollout_logits.shape[-1]
    if a is not None and b is not None and a != b:
        raise ValueError(f"I2A policy has {a} actions but the rollout policy has {b}")


def distillation_cross_entropy(i2a_logits, rollout_logits):
    """Per-example cross-entropy H(stop_gradient(pi), pi_hat), shape (B,). Sec. 3.1."""
    _check_logits(i2a_logits, rollout_logits)
    target = ops.stop_gradient(ops.softmax(ops.cast(i2a_logits, "float32"), axis=-1))
    log_pi_hat = ops.log_softmax(ops.cast(rollout_logits, "float32"), axis=-1)
    return -ops.sum(target * log_pi_hat, axis=-1)


def distillation_loss(i2a_logits, rollout_logits, weight: float = 1.0):
    """Weighted, batch-averaged distillation loss (the agent's ``aux_loss``). Sec. 3.1.

    Minimising it over the rollout policy's parameters minimises KL(pi || pi_hat) (the target's
    entropy is a constant); no gradient reaches ``i2a_logits``.
    """
    if weight < 0:
        raise ValueError(f"distillation weight must be >= 0, got {weight}")
    return weight * ops.mean(distillation_cross_entropy(i2a_logits, rollout_logits))


def policy_kl(i2a_logits, rollout_logits):
    """Mean KL(pi || pi_hat) between the two policies (a diagnostic, not a loss)."""
    _check_logits(i2a_logits, rollout_logits)
    log_p = ops.log_softmax(ops.cast(i2a_logits, "float32"), axis=-1)
    log_q = ops.log_softmax(ops.cast(rollout_logits, "float32"), axis=-1)
    return ops.mean(ops.sum(ops.exp(log_p) * (log_p - log_q), axis=-1))


__all__ = ["distillation_cross_entropy", "distillation_loss", "policy_kl"]
