"""gymnasium API of the Sokoban envs: check_env, seeding, vector env autoreset, observations."""
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import i2a_keras.envs as E
from i2a_keras.envs import observations as O
from i2a_keras.envs.core import validate_levels


@pytest.mark.parametrize("observation", ["one_hot", "tiny_rgb", "rgb"])
@pytest.mark.parametrize("action_set", ["gym_sokoban", "compact", "moves"])
@pytest.mark.filterwarnings("error")
def test_check_env(observation, action_set):
    env = gym.make(E.ENV_ID, dim_room=(7, 7), num_boxes=2, observation=observation,
                   action_set=action_set, render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.uint8
    assert obs.shape == O.observation_shape((7, 7), observation)
    assert env.action_space.n == {"gym_sokoban": 9, "compact": 5, "moves": 4}[action_set]
    assert env.render().shape == (7 * 16, 7 * 16, 3)


def test_paper_preset_shapes():
    env = E.make(preset="paper")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (80, 80, 3) and obs.dtype == np.uint8
    assert env.action_space.n == 9 and env.config.max_steps == 120
    small = E.SokobanConfig.preset("small")
    assert (small.dim_room, small.num_boxes, small.action_set, small.observation, small.max_steps) == \
        ((7, 7), 2, "compact", "one_hot", 50)


def _rollout(env, seed, n=60):
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(123)
    out = [obs]
    for _ in range(n):
        obs, r, term, trunc, _ = env.step(int(rng.integers(0, env.action_space.n)))
        out.append(obs)
        if term or trunc:
            obs, _ = env.reset()
            out.append(obs)
    return np.stack(out)


def test_seeding_reproducible():
    env = E.make(preset="tiny", max_steps=10)
    a = _rollout(env, 7)
    b = _rollout(E.make(preset="tiny", max_steps=10), 7)
    c = _rollout(env, 8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_reset_with_level_option_and_truncation():
    f, s = E.generate_levels(1, (7, 7), 2, seed=0)
    env = E.make(preset="small", max_steps=3)
    obs, _ = env.reset(options={"level": (f[0], s[0])})
    np.testing.assert_array_equal(O.one_hot_to_rooms(obs), E.state_to_rooms(s[0], f[0]))
    steps = [env.step(0) for _ in range(3)]
    assert [st[2:4] for st in steps] == [(False, False), (False, False), (False, True)]
    assert all(st[1] == -0.1 and isinstance(st[1], float) for st in steps)


def test_vector_env_make_vec_and_reproducible():
    v = gym.make_vec(E.ENV_ID, num_envs=4, vectorization_mode="vector_entry_point", preset="small")
    assert isinstance(v, E.SokobanVectorEnv)
    assert v.observation_space.shape == (4, 7, 7, 7) and v.action_space.shape == (4,)
    o1, _ = v.reset(seed=3)
    o2, _ = E.make_vec(4, preset="small", seed=3).reset()
    np.testing.assert_array_equal(o1, o2)
    with pytest.raises(ValueError):
        v.step(np.zeros(3, int))
    with pytest.raises(ValueError):
        v.step(np.full(4, 7))


def test_vector_same_step_autoreset():
    n, max_steps = 6, 5
    v = E.make_vec(n, preset="small", max_steps=max_steps, seed=0)
    v.reset()
    rng = np.random.default_rng(0)
    for t in range(1, max_steps + 1):
        last_rooms = v.rooms().copy()
        obs, r, term, trunc, info = v.step(np.zeros(n, int) if t == max_steps else rng.integers(0, 5, n))
        assert r.dtype == np.float32 and r.shape == (n,)
        assert term.dtype == bool and trunc.dtype == bool
        np.testing.assert_array_equal(info["solved"], term)
        if t < max_steps:
            assert not trunc.any()
    # all envs are truncated at max_steps and reset in the same step
    assert trunc.all() and info["_episode"].all() and info["_final_obs"].all()
    np.testing.assert_array_equal(info["episode"]["l"], max_steps)
    # final_obs is the last obs of the old episode (a no-op was taken), obs the new episode's first
    np.testing.assert_array_equal(O.one_hot_to_rooms(info["final_obs"]), last_rooms)
    np.testing.assert_array_equal(O.one_hot_to_rooms(obs), v.rooms())
    assert not np.array_equal(info["final_obs"], obs)
    assert (v._batch.num_env_steps == 0).all()


def test_vector_autoreset_solved_episode_info():
    """An env solved by a known action sequence reports episode r/l and final obs correctly."""
    from i2a_keras.envs.solver import solve

    f, s = E.generate_levels(1, (7, 7), 2, seed=11)
    res = solve(f[0], s[0])
    for mode in ["same_step", "next_step"]:
        v = E.make_vec(2, preset="small", max_steps=200, autoreset_mode=mode, seed=1)
        v.reset(options={"level": (f[0], s[0])})
        total = 0.0
        for k, a in enumerate(res.actions):
            obs, r, term, trunc, info = v.step(np.array([a, 0]))
            total += r[0]
            if k < len(res.actions) - 1:
                assert not term[0] and "episode" not in info
        assert term[0] and not term[1] and info["solved"][0]
        assert info["_episode"].tolist() == [True, False]
        assert np.isclose(info["episode"]["r"][0], total)
        assert info["episode"]["l"][0] == len(res.actions)
        if mode == "same_step":
            final_rooms = O.one_hot_to_rooms(info["final_obs"][0])
            assert not (final_rooms == E.TARGET).any() and not (final_rooms == E.PLAYER_ON_TARGET).any()
            assert info["final_info"]["solved"][0]
            assert (v._batch.num_env_steps[0] == 0)
        else:
            assert "final_obs" not in info
            obs2, r2, term2, trunc2, _ = v.step(np.array([1, 0]))
            assert r2[0] == 0.0 and not term2[0] and not trunc2[0]
            assert v._batch.num_env_steps[0] == 0


def test_observation_helpers_roundtrip():
    f, s = E.generate_levels(5, (10, 10), 4, seed=0)
    rooms = E.state_to_rooms(s, f)
    rooms[0][rooms[0] == E.PLAYER] = E.PLAYER_ON_TARGET  # include code 6
    for kind in O.OBSERVATIONS:
        obs = O.rooms_to_observation(rooms, kind)
        assert obs.dtype == np.uint8
        assert obs.shape == (5, *O.observation_shape((10, 10), kind))
        np.testing.assert_array_equal(O.observation_to_rooms(obs, kind), rooms)
    frames = O.rgb(rooms)
    assert frames.shape == (5, 80, 80, 3)
    pal = O.RGB_PALETTE
    assert pal.dtype == np.uint8 and pal.ndim == 2 and pal.shape[1] == 3 and pal.shape[0] <= 16
    idx = O.rgb_to_palette_index(frames)
    np.testing.assert_array_equal(O.palette_index_to_rgb(idx), frames)
    np.testing.assert_array_equal(O.rooms_to_palette_index(rooms), idx)
    # sprites are the stride-2 subsampling of gym-sokoban's 16 px sprites
    np.testing.assert_array_equal(O.rgb(rooms), O.render_rgb(rooms)[:, ::2, ::2])
    with pytest.raises(ValueError):
        O.rgb_to_palette_index(np.full((2, 2, 3), 7, np.uint8))
    with pytest.raises(ValueError):
        O.rooms_to_observation(rooms, "pixels")
    with pytest.raises(ValueError):
        O.one_hot(np.full((3, 3), 9))
    validate_levels(*E.rooms_to_state(rooms[1:]))


def test_bad_config_errors():
    with pytest.raises(ValueError, match="observation"):
        E.SokobanConfig(observation="rgb80")
    with pytest.raises(ValueError, match="action_set"):
        E.SokobanConfig(action_set="push")
    with pytest.raises(ValueError, match="too many boxes"):
        E.make(dim_room=(5, 5), num_boxes=8)
    with pytest.raises(ValueError, match="preset"):
        E.SokobanConfig.preset("huge")


@pytest.mark.parametrize("observation", ["one_hot", "tiny_rgb", "rgb"])
@pytest.mark.parametrize("mode", ["same_step", "next_step"])
def test_vector_incremental_obs_matches_full_encoding(observation, mode):
    v = E.make_vec(16, dim_room=(6, 6), num_boxes=1, observation=observation, action_set="compact",
                   max_steps=12, autoreset_mode=mode, seed=0)
    obs, _ = v.reset()
    rng = np.random.default_rng(1)
    for _ in range(60):
        obs, r, term, trunc, info = v.step(rng.integers(0, 5, 16))
        np.testing.assert_array_equal(obs, O.rooms_to_observation(v.rooms(), observation))
