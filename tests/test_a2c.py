"""A2C loss, n-step returns, learner and rollout runner (Sec. 3.3) on hand-computed examples."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from i2a_keras.algos.a2c import (A2CConfig, A2CLearner, Rollout, RolloutRunner, a2c_loss,
                                 explained_variance, lambda_returns, make_actor, make_optimizer,
                                 make_policy_fn, nstep_returns, sample_actions, vtrace_targets)
from i2a_keras.models import ModelFreeConfig, build_agent

GAMMA = 0.9


def test_nstep_returns_bootstrap_without_episode_end():
    rewards = np.array([[1.0], [2.0], [3.0]])
    false = np.zeros((3, 1), bool)
    out = np.asarray(nstep_returns(rewards, np.array([10.0]), false, false, np.zeros((3, 1)), GAMMA))
    r2 = 3 + GAMMA * 10
    r1 = 2 + GAMMA * r2
    r0 = 1 + GAMMA * r1
    np.testing.assert_allclose(out[:, 0], [r0, r1, r2], rtol=1e-6)


def test_nstep_returns_termination_stops_bootstrap():
    rewards = np.array([[1.0], [2.0], [3.0]])
    terminated = np.array([[False], [True], [False]])
    truncated = np.zeros((3, 1), bool)
    out = np.asarray(nstep_returns(rewards, np.array([10.0]), terminated, truncated,
                                   np.full((3, 1), 99.0), GAMMA))
    # step 1 ends the episode: R_1 = r_1 (no bootstrap; the truncation value must be ignored).
    np.testing.assert_allclose(out[:, 0], [1 + GAMMA * 2, 2, 3 + GAMMA * 10], rtol=1e-6)


def test_nstep_returns_truncation_bootstraps_from_final_obs_value():
    rewards = np.array([[1.0], [2.0], [3.0]])
    terminated = np.zeros((3, 1), bool)
    truncated = np.array([[False], [True], [False]])
    trunc_values = np.array([[0.0], [5.0], [0.0]])
    out = np.asarray(nstep_returns(rewards, np.array([10.0]), terminated, truncated,
                                   trunc_values, GAMMA))
    r1 = 2 + GAMMA * 5.0  # V(final_obs), not the next episode's return
    np.testing.assert_allclose(out[:, 0], [1 + GAMMA * r1, r1, 3 + GAMMA * 10], rtol=1e-6)


def test_nstep_returns_terminated_and_truncated_counts_as_terminated():
    out = np.asarray(nstep_returns(np.array([[1.0]]), np.array([10.0]), np.array([[True]]),
                                   np.array([[True]]), np.array([[5.0]]), GAMMA))
    np.testing.assert_allclose(out, [[1.0]])


def test_nstep_returns_batched_envs_are_independent():
    rewards = np.array([[1.0, 0.0], [0.0, 1.0]])
    terminated = np.array([[True, False], [False, False]])
    truncated = np.array([[False, False], [False, True]])
    trunc_values = np.array([[0.0, 0.0], [0.0, 2.0]])
    out = np.asarray(nstep_returns(rewards, np.array([4.0, 8.0]), terminated, truncated,
                                   trunc_values, GAMMA))
    np.testing.assert_allclose(out, [[1.0, GAMMA * (1 + GAMMA * 2)], [GAMMA * 4, 1 + GAMMA * 2]],
                               rtol=1e-6)


def test_lambda_returns_hand_computed_with_episode_ends():
    """G_t = r_t + gamma * ((1 - lam) V(s_{t+1}) + lam G_{t+1}), cut at terminations and truncations."""
    lam = 0.5
    rewards = np.array([[1.0], [2.0], [3.0], [4.0]])
    values = np.array([[0.5], [1.5], [2.5], [3.5]])
    terminated = np.array([[False], [True], [False], [False]])
    truncated = np.array([[False], [False], [True], [False]])
    trunc_values = np.array([[0.0], [0.0], [7.0], [0.0]])
    out = np.asarray(lambda_returns(rewards, values, np.array([10.0]), terminated, truncated,
                                    trunc_values, GAMMA, lam))
    g3 = 4 + GAMMA * 10.0                                # bootstrap: V(s_T)
    g2 = 3 + GAMMA * 7.0                                 # time limit: V(final_obs)
    g1 = 2.0                                             # terminated
    g0 = 1 + GAMMA * ((1 - lam) * values[1, 0] + lam * g1)
    np.testing.assert_allclose(out[:, 0], [g0, g1, g2, g3], rtol=1e-6)


def test_lambda_returns_one_is_nstep_and_zero_is_td():
    rng = np.random.default_rng(0)
    rewards, values = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    terminated, truncated = rng.random((5, 3)) < 0.2, rng.random((5, 3)) < 0.2
    trunc_values, bootstrap = rng.normal(size=(5, 3)), rng.normal(size=3)
    args = (bootstrap, terminated, truncated, trunc_values, GAMMA)
    np.testing.assert_allclose(np.asarray(lambda_returns(rewards, values, *args, 1.0)),
                               np.asarray(nstep_returns(rewards, *args)), rtol=1e-6)
    td = np.asarray(lambda_returns(rewards, values, *args, 0.0))
    next_v = np.concatenate([values[1:], bootstrap[None]])
    cont = np.where(truncated, trunc_values, next_v) * ~terminated
    np.testing.assert_allclose(td, rewards + GAMMA * cont, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="acting values"):
        lambda_returns(rewards, None, *args, 0.5)


def test_vtrace_on_policy_is_the_lambda_return():
    rng = np.random.default_rng(1)
    T, N = 6, 4
    rewards, values = rng.normal(size=(T, N)), rng.normal(size=(T, N))
    terminated, truncated = rng.random((T, N)) < 0.2, rng.random((T, N)) < 0.2
    trunc_values, bootstrap = rng.normal(size=(T, N)), rng.normal(size=N)
    logits, actions = rng.normal(size=(T, N, 4)), rng.integers(0, 4, (T, N))
    vs, _ = vtrace_targets(logits, logits, actions, rewards, values, bootstrap, terminated, truncated,
                           trunc_values, GAMMA, lam=0.7)
    expected = lambda_returns(rewards, values, bootstrap, terminated, truncated, trunc_values, GAMMA, 0.7)
    np.testing.assert_allclose(np.asarray(vs), np.asarray(expected), rtol=1e-5, atol=1e-5)


def test_vtrace_hand_computed_with_clipped_ratios():
    """Two steps, one env: rho_0 = 2 (clipped to 1), rho_1 = 0.5; lam = 1."""
    mu = np.log(np.array([[[0.25, 0.75]], [[0.5, 0.5]]]))
    pi = np.log(np.array([[[0.5, 0.5]], [[0.25, 0.75]]]))
    actions = np.array([[0], [0]])
    rewards, values, bootstrap = np.array([[1.0], [2.0]]), np.array([[0.5], [1.0]]), np.array([3.0])
    no = np.zeros((2, 1), bool)
    vs, adv = vtrace_targets(mu, pi, actions, rewards, values, bootstrap, no, no, np.zeros((2, 1)), GAMMA)
    d1 = 0.5 * (2 + GAMMA * 3 - 1.0)
    d0 = 1.0 * (1 + GAMMA * 1.0 - 0.5)
    vs1, vs0 = 1.0 + d1, 0.5 + d0 + GAMMA * 1.0 * d1          # c_0 = min(1, 2) = 1
    np.testing.assert_allclose(np.asarray(vs)[:, 0], [vs0, vs1], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(adv)[:, 0], [1 + GAMMA * vs1 - 0.5, 0.5 * (2 + GAMMA * 3 - 1.0)],
                               rtol=1e-6)


def test_a2c_loss_hand_computed():
    logits = np.array([[0.0, np.log(3.0)], [0.0, 0.0]], np.float32)  # probs (.25,.75), (.5,.5)
    values = np.array([1.0, -1.0], np.float32)
    returns = np.array([3.0, -2.0], np.float32)
    actions = np.array([1, 0])
    total, m = a2c_loss({"logits": logits, "value": values}, actions, returns,
                        entropy_coef=0.1, value_coef=0.5)
    adv = returns - values  # (2, -1)
    policy = -np.mean([np.log(0.75) * adv[0], np.log(0.5) * adv[1]])
    value = np.mean(0.5 * adv ** 2)
    ent = np.mean([-(0.25 * np.log(0.25) + 0.75 * np.log(0.75)), np.log(2.0)])
    np.testing.assert_allclose(float(m["policy"]), policy, rtol=1e-5)
    np.testing.assert_allclose(float(m["value"]), value, rtol=1e-5)
    np.testing.assert_allclose(float(m["entropy"]), ent, rtol=1e-5)
    np.testing.assert_allclose(float(total), policy + 0.5 * value - 0.1 * ent, rtol=1e-5)


def test_a2c_loss_normalized_advantages_hand_computed():
    """``normalize_advantages``: the policy term uses (A - mean A) / std A; the value term and the
    entropy are unchanged."""
    logits = np.array([[0.0, np.log(3.0)], [0.0, 0.0], [np.log(3.0), 0.0]], np.float32)
    values = np.array([1.0, -1.0, 0.5], np.float32)
    returns = np.array([4.0, -2.0, 0.5], np.float32)  # advantages (3, -1, 0): mean 2/3
    actions = np.array([1, 0, 0])
    _, plain = a2c_loss({"logits": logits, "value": values}, actions, returns)
    _, m = a2c_loss({"logits": logits, "value": values}, actions, returns, normalize_advantages=True)
    adv = returns - values
    adv = (adv - adv.mean()) / adv.std()  # population std, as keras.ops.std
    policy = -np.mean(np.log([0.75, 0.5, 0.75]) * adv)
    np.testing.assert_allclose(float(m["policy"]), policy, rtol=1e-5)
    for key in ("value", "entropy"):
        np.testing.assert_allclose(float(m[key]), float(plain[key]), rtol=1e-6)


def test_a2c_loss_adds_aux_loss_and_stops_advantage_gradient():
    logits = tf.Variable([[0.3, -0.2, 0.1]])
    values = tf.Variable([0.5])
    with tf.GradientTape() as tape:
        total, m = a2c_loss({"logits": logits, "value": values, "aux_loss": tf.constant(2.0)},
                            np.array([2]), np.array([1.5]), entropy_coef=0.0, value_coef=0.0)
    assert float(m["aux"]) == 2.0
    base, _ = a2c_loss({"logits": logits, "value": values}, np.array([2]), np.array([1.5]),
                       entropy_coef=0.0, value_coef=0.0)
    np.testing.assert_allclose(float(total) - float(base), 2.0, rtol=1e-6)
    g_logits, g_values = tape.gradient(total, [logits, values])
    assert g_values is None or float(tf.reduce_sum(tf.abs(g_values))) == 0.0  # advantage is constant
    assert float(tf.reduce_sum(tf.abs(g_logits))) > 0


def test_explained_variance_hand_computed():
    returns = np.array([1.0, 2.0, 3.0, 6.0], np.float32)  # mean 3, variance 3.5
    ev = lambda v: float(explained_variance(np.asarray(v, np.float32), returns))  # noqa: E731
    assert ev(returns) == pytest.approx(1.0)
    assert ev(np.full(4, 3.0)) == pytest.approx(0.0, abs=1e-6)  # the mean explains nothing
    # errors (0, 1, -1, 0): variance 0.5 -> 1 - 0.5 / 3.5
    assert ev([1.0, 1.0, 4.0, 6.0]) == pytest.approx(1 - 0.5 / 3.5, rel=1e-5)
    assert ev(-returns) < 0  # worse than the mean
    assert float(explained_variance(np.zeros(3, np.float32), np.ones(3, np.float32))) == 0.0


def test_sample_actions_matches_softmax_distribution():
    rng = np.random.default_rng(0)
    logits = np.tile(np.log(np.array([[0.1, 0.2, 0.7]], np.float32)), (20000, 1))
    counts = np.bincount(sample_actions(logits, rng), minlength=3) / 20000
    np.testing.assert_allclose(counts, [0.1, 0.2, 0.7], atol=0.015)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="gamma"):
        A2CConfig(gamma=1.5)
    with pytest.raises(ValueError, match="lr_schedule"):
        A2CConfig(lr_schedule="cosine")
    with pytest.raises(ValueError, match="gae_lambda"):
        A2CConfig(gae_lambda=1.2)
    with pytest.raises(ValueError, match="must divide num_envs"):
        A2CConfig(num_envs=6, num_minibatches=4)


def _learner(num_steps=4, obs_shape=(5, 5, 7), lr=3e-3, **overrides):
    cfg = A2CConfig(**{"num_envs": 3, "num_steps": num_steps, "learning_rate": lr, "entropy_coef": 0.0,
                       **overrides})
    agent = build_agent("model-free", obs_shape, 5, ModelFreeConfig(conv_filters=(8,), fc_units=16))
    opt = make_optimizer(cfg)
    agent.compile(optimizer=opt)
    return A2CLearner(agent, opt, cfg, obs_shape), cfg


def test_make_actor_is_the_policy_argmax_or_its_sample():
    learner, _ = _learner()
    obs = np.random.default_rng(1).integers(0, 2, (64, 5, 5, 7)).astype(np.uint8)
    logits = make_policy_fn(learner.agent)(obs, np.random.default_rng(0))
    greedy = make_actor(learner.agent, greedy=True)(obs, np.random.default_rng(0))
    np.testing.assert_array_equal(greedy, logits.argmax(-1))
    sampled = make_actor(learner.agent)(obs, np.random.default_rng(0))
    np.testing.assert_array_equal(sampled, sample_actions(logits, np.random.default_rng(0)))
    assert sampled.dtype == np.int32 and (sampled != greedy).any()


def test_training_lowers_loss_on_fixed_batch():
    tf.keras.utils.set_random_seed(0)
    learner, cfg = _learner(lr=5e-4)
    rng = np.random.default_rng(0)
    T, N = cfg.num_steps, cfg.num_envs
    obs = rng.integers(0, 2, (T, N, 5, 5, 7)).astype(np.uint8)
    rollout = Rollout(obs=obs, actions=rng.integers(0, 5, (T, N)).astype(np.int32),
                      rewards=rng.normal(size=(T, N)).astype(np.float32),
                      terminated=np.zeros((T, N), bool), truncated=np.zeros((T, N), bool),
                      truncation_values=np.zeros((T, N), np.float32),
                      bootstrap_value=np.zeros(N, np.float32), logits=np.zeros((T, N, 5), np.float32))
    rollout.terminated[-1] = True  # fixed targets (no bootstrap from the moving value estimate)
    first = learner.update(rollout)
    late = [learner.update(rollout) for _ in range(300)][-50:]
    # the policy term chases fixed random advantages, so single steps are noisy: average
    assert np.mean([m["value"] for m in late]) < 0.3 * first["value"]
    assert np.mean([m["total"] for m in late]) < first["total"]


def _random_rollout(T, N, seed=0):
    rng = np.random.default_rng(seed)
    return Rollout(obs=rng.integers(0, 2, (T, N, 5, 5, 7)).astype(np.uint8),
                   actions=rng.integers(0, 5, (T, N)).astype(np.int32),
                   rewards=rng.normal(size=(T, N)).astype(np.float32),
                   terminated=rng.random((T, N)) < 0.2, truncated=np.zeros((T, N), bool),
                   truncation_values=np.zeros((T, N), np.float32),
                   bootstrap_value=rng.normal(size=N).astype(np.float32),
                   logits=np.zeros((T, N, 5), np.float32), values=rng.normal(size=(T, N)).astype(np.float32))


def test_minibatches_are_sequential_steps_on_slices_of_the_envs():
    """num_minibatches=2: two optimizer steps per rollout, the same as two updates on its halves."""
    rollout = _random_rollout(4, 4)
    tf.keras.utils.set_random_seed(0)
    split, _ = _learner(num_envs=4, num_minibatches=2, gae_lambda=0.5)
    tf.keras.utils.set_random_seed(0)
    whole, _ = _learner(num_envs=2, gae_lambda=0.5)
    metrics = split.update(rollout)
    halves = [whole.update(part) for part in rollout.split(2)]
    assert int(split.optimizer.iterations.numpy()) == 2
    for a, b in zip(split.agent.get_weights(), whole.agent.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert metrics["value"] == pytest.approx(np.mean([h["value"] for h in halves]), rel=1e-5)
    np.testing.assert_array_equal(rollout.split(2)[1].values, rollout.values[:, 2:])
    with pytest.raises(ValueError, match="not A3C"):
        split.compute_gradients(rollout)


def test_rollout_concat_inverts_split_on_every_field():
    """What Ray's workers send is joined with Rollout.concat: each field on its own env axis
    (bootstrap_value's is 0, the replay tree's leaves' is 1)."""
    rollout = dataclasses.replace(
        _random_rollout(3, 6), replay={"frames": np.arange(3 * 6 * 2).reshape(3, 6, 2),
                                       "actions": np.arange(3 * 6).reshape(3, 6, 1)})
    parts = rollout.split(3)
    assert [p.bootstrap_value.tolist() for p in parts] == [rollout.bootstrap_value[i:i + 2].tolist()
                                                           for i in (0, 2, 4)]
    np.testing.assert_array_equal(parts[2].replay["frames"], rollout.replay["frames"][:, 4:])
    joined = Rollout.concat(parts)
    for f in dataclasses.fields(Rollout):
        a, b = getattr(joined, f.name), getattr(rollout, f.name)
        if f.name == "replay":
            for key in b:
                np.testing.assert_array_equal(a[key], b[key])
        elif b is None:
            assert a is None
        else:
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("minibatches", [1, 2])
def test_vtrace_learner_targets_are_the_lambda_returns_of_its_own_values_on_policy(minibatches):
    """Acting logits = the trained policy's: V-trace's value targets are the lambda-returns of the
    agent's values (checks that the learner lays the flat rows out as (T, N))."""
    T, N = 4, 4
    learner, cfg = _learner(num_steps=T, num_envs=N, vtrace=True, gae_lambda=0.5, learning_rate=1e-9,
                            num_minibatches=minibatches)
    rollout = _random_rollout(T, N)
    logits, values, _ = learner.act(rollout.obs.reshape((T * N, 5, 5, 7)))
    rollout.logits, rollout.values = logits.reshape(T, N, -1), values.reshape(T, N)
    metrics = learner.update(rollout)
    expected = lambda_returns(rollout.rewards, rollout.values, rollout.bootstrap_value, rollout.terminated,
                              rollout.truncated, rollout.truncation_values, cfg.gamma, 0.5)
    assert metrics["mean_return_target"] == pytest.approx(float(np.mean(expected)), rel=1e-4, abs=1e-5)
    assert abs(metrics["behaviour_kl"]) < 1e-5


def test_vtrace_learner_policy_loss_uses_the_clipped_vtrace_advantages():
    """Acting logits != the trained policy's: the policy loss is -mean(log pi(a|s) * A) with
    V-trace's advantages A (min(1, rho) (r + gamma vs' - V)), not the plain vs - V."""
    T, N = 4, 3
    learner, cfg = _learner(num_steps=T, num_envs=N, vtrace=True, gae_lambda=0.5, learning_rate=1e-9)
    rollout = _random_rollout(T, N, seed=3)
    logits, values, _ = learner.act(rollout.obs.reshape((T * N, 5, 5, 7)))
    logits, values = logits.reshape(T, N, -1), values.reshape(T, N)
    rollout.values = values
    rollout.logits = logits + np.random.default_rng(4).normal(size=logits.shape).astype(np.float32)
    metrics = learner.update(rollout)
    vs, adv = vtrace_targets(rollout.logits, logits, rollout.actions, rollout.rewards, values,
                             rollout.bootstrap_value, rollout.terminated, rollout.truncated,
                             rollout.truncation_values, cfg.gamma, 0.5)
    vs, adv = np.asarray(vs), np.asarray(adv)
    log_pi = np.asarray(tf.nn.log_softmax(logits))
    log_mu = np.asarray(tf.nn.log_softmax(rollout.logits))
    taken = lambda x: np.take_along_axis(x, rollout.actions[..., None], -1)[..., 0]  # noqa: E731
    rho = np.exp(taken(log_pi) - taken(log_mu))
    assert (rho > 1.2).any() and (rho < 0.8).any()  # the clipping and the ratios both matter
    expected = -np.mean(taken(log_pi) * adv)
    assert metrics["policy"] == pytest.approx(float(expected), rel=1e-4, abs=1e-6)
    assert abs(expected + np.mean(taken(log_pi) * (vs - values))) > 1e-2  # R - V would differ
    assert metrics["mean_return_target"] == pytest.approx(float(np.mean(vs)), rel=1e-4, abs=1e-6)


def test_learner_targets_are_the_lambda_returns_with_time_limit_values():
    """Without V-trace the targets are the gae_lambda-returns of the acting values, bootstrapping
    time-limit cuts from V(final_obs) (not from 0, not the n-step returns)."""
    T, N = 4, 3
    learner, cfg = _learner(num_steps=T, num_envs=N, gae_lambda=0.5, learning_rate=1e-9)
    rollout = _random_rollout(T, N, seed=5)
    rng = np.random.default_rng(6)
    rollout.truncated = (rng.random((T, N)) < 0.4) & ~rollout.terminated
    rollout.truncation_values = (2.0 + rng.normal(size=(T, N))).astype(np.float32)
    assert rollout.truncated[:-1].any() and not rollout.terminated.all()
    expected = np.asarray(lambda_returns(rollout.rewards, rollout.values, rollout.bootstrap_value,
                                         rollout.terminated, rollout.truncated,
                                         rollout.truncation_values, cfg.gamma, 0.5))
    np.testing.assert_allclose(learner.batch(rollout)[2], expected.reshape(-1), rtol=1e-5, atol=1e-6)
    metrics = learner.update(rollout)
    assert metrics["mean_return_target"] == pytest.approx(float(np.mean(expected)), rel=1e-5, abs=1e-6)


def test_linear_schedule_counts_the_minibatch_steps():
    cfg = A2CConfig(num_envs=4, num_minibatches=4, lr_schedule="linear", learning_rate=1.0)
    schedule = make_optimizer(cfg, total_updates=10)._learning_rate  # 10 rollouts = 40 steps
    assert float(schedule(20)) == pytest.approx(0.5) and float(schedule(40)) == pytest.approx(0.0)


class FakeVecEnv:
    """Deterministic SAME_STEP vector env: obs encodes the step t; env 0 truncates every 3 steps,
    env 1 terminates (solved) at t = 2; env i's reward at step t is t + 10 i."""

    def __init__(self, num_envs=2, shape=(5, 5, 7)):
        self.num_envs, self.shape, self.t = num_envs, shape, 0

    def _obs(self, value):
        return np.full((self.num_envs,) + self.shape, value, np.uint8)

    def reset(self, seed=None):
        self.t = 0
        return self._obs(0), {}

    def step(self, actions):
        self.t += 1
        truncated = np.array([self.t % 3 == 0, False])
        terminated = np.array([False, self.t == 2])
        info = {"solved": terminated.copy()}
        if (truncated | terminated).any():
            info["final_obs"] = self._obs(1)
        rewards = (self.t + 10 * np.arange(self.num_envs)).astype(np.float32)
        return self._obs(self.t % 2), rewards, terminated, truncated, info


def test_runner_records_truncation_values_and_episodes():
    learner, _ = _learner(num_steps=4)
    runner = RolloutRunner(FakeVecEnv(), learner, 4, np.random.default_rng(0))
    runner.reset()
    rollout = runner.collect()
    np.testing.assert_array_equal(rollout.truncated[:, 0], [False, False, True, False])
    np.testing.assert_array_equal(rollout.terminated[:, 1], [False, True, False, False])
    expected = float(learner.value(np.ones((1, 5, 5, 7), np.uint8))[0])
    np.testing.assert_allclose(rollout.truncation_values[2, 0], expected, rtol=1e-5)
    assert rollout.truncation_values[1, 1] == 0.0  # terminated: no bootstrap value needed
    episodes = runner.pop_episodes()
    # env 1: 11 + 12; env 0: 1 + 2 + 3
    assert sorted((e["length"], e["solved"], e["return"]) for e in episodes) == [(2, True, 23.0),
                                                                                 (3, False, 6.0)]
    assert rollout.obs.shape == (4, 2, 5, 5, 7) and rollout.bootstrap_value.shape == (2,)
    last_obs = np.zeros((2, 5, 5, 7), np.uint8)  # FakeVecEnv's obs after 4 steps encodes 4 % 2
    np.testing.assert_allclose(rollout.bootstrap_value, learner.value(last_obs), rtol=1e-5)
    # the next episode's return starts from 0: env 0's second episode (steps 4-6) pays 4 + 5 + 6
    runner.collect()
    assert [(e["return"], e["length"]) for e in runner.pop_episodes()] == [(15.0, 3)]
