"""Rollout-policy distillation loss (Sec. 3.1): sign and stop-gradient."""
import numpy as np
import pytest
import tensorflow as tf

from i2a_keras.algos.distillation import distillation_cross_entropy, distillation_loss, policy_kl


def test_minimising_moves_rollout_policy_towards_i2a_policy():
    rng = np.random.default_rng(0)
    i2a_logits = tf.constant(rng.normal(size=(16, 5)) * 2, tf.float32)
    features = tf.constant(rng.normal(size=(16, 8)), tf.float32)
    w = tf.Variable(rng.normal(size=(8, 5)) * 0.1, dtype=tf.float32)
    kls = [float(policy_kl(i2a_logits, features @ w))]
    opt = tf.keras.optimizers.SGD(0.5)
    for _ in range(5):
        with tf.GradientTape() as tape:
            loss = distillation_loss(i2a_logits, features @ w, weight=1.0)
        opt.apply_gradients([(tape.gradient(loss, w), w)])
        kls.append(float(policy_kl(i2a_logits, features @ w)))
    assert all(b < a for a, b in zip(kls, kls[1:])), kls


def test_no_gradient_reaches_the_i2a_policy():
    i2a_logits = tf.Variable(np.random.default_rng(1).normal(size=(4, 5)), dtype=tf.float32)
    rollout_logits = tf.Variable(np.zeros((4, 5)), dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = distillation_loss(i2a_logits, rollout_logits, weight=2.0)
    g_i2a, g_rollout = tape.gradient(loss, [i2a_logits, rollout_logits])
    assert g_i2a is None or float(tf.reduce_max(tf.abs(g_i2a))) == 0.0
    assert float(tf.reduce_max(tf.abs(g_rollout))) > 0.0


def test_value_is_weighted_cross_entropy():
    p = np.array([[0.0, np.log(3.0)]], np.float32)  # softmax -> (0.25, 0.75)
    q = np.zeros((1, 2), np.float32)  # uniform
    expected = -(0.25 * np.log(0.5) + 0.75 * np.log(0.5))
    np.testing.assert_allclose(float(distillation_cross_entropy(p, q)[0]), expected, rtol=1e-6)
    np.testing.assert_allclose(float(distillation_loss(p, q, weight=0.5)), 0.5 * expected, rtol=1e-6)
    # CE(p, q) = H(p) + KL(p || q): against itself it is p's entropy, and the KL is 0
    entropy = -(0.25 * np.log(0.25) + 0.75 * np.log(0.75))
    np.testing.assert_allclose(float(distillation_loss(p, p)), entropy, rtol=1e-6)
    np.testing.assert_allclose(float(policy_kl(p, q)), expected - entropy, rtol=1e-5)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="actions"):
        distillation_loss(np.zeros((2, 5), np.float32), np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="weight"):
        distillation_loss(np.zeros((2, 5), np.float32), np.zeros((2, 5), np.float32), weight=-1.0)
    with pytest.raises(ValueError, match="batch"):
        distillation_loss(np.zeros((5,), np.float32), np.zeros((5,), np.float32))
