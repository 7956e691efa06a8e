"""Oracle tests: our batched rules/renders equal gym-sokoban 0.0.6's on the same rooms and actions."""
import os

import numpy as np
import pytest

from i2a_keras.envs import gym_sokoban_compat as compat
from i2a_keras.envs.core import SokobanBatch, state_to_rooms
from i2a_keras.envs.generator import generate_levels
from i2a_keras.envs.observations import render_rgb, tiny_rgb
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def _boxoban_dir():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    d = os.environ.get("I2A_BOXOBAN_DIR", os.path.join(here, "..", "shared", "data", "boxoban-levels"))
    return d if os.path.isdir(d) else None


def _levels():
    """Generated levels of several sizes + hand-made quirk levels (boxes starting on targets)."""
    out = []
    for dim, nb, seed in [((7, 7), 1, 0), ((7, 7), 2, 1), ((10, 10), 4, 2), ((6, 9), 2, 3)]:
        f, s = generate_levels(12, dim, nb, seed=seed)
        out += list(zip(f, s))
    from i2a_keras.envs.boxoban import parse_boxoban_text
    text = "; 0\n#######\n#  *  #\n# $@. #\n#  +  #\n#######\n"
    text = text.replace("+", " ")  # one player only
    f, s, _ = parse_boxoban_text(text, dim_room=None)
    out.append((f[0], s[0]))
    d = _boxoban_dir()
    if d:
        from i2a_keras.envs.boxoban import load_boxoban
        f, s = load_boxoban(os.path.join(d, "unfiltered", "train", "000.txt"), max_levels=10)
        out += list(zip(f, s))
    return out


def _run_oracle(levels, action_set, steps_per_level, rng, max_steps):
    """Step every level in lockstep in one SokobanBatch and in one gym-sokoban env per level."""
    by_shape = {}
    for f, s in levels:
        by_shape.setdefault(f.shape, []).append((f, s))
    total = 0
    for shape, group in by_shape.items():
        n = len(group)
        fixed = np.stack([g[0] for g in group])
        state = np.stack([g[1] for g in group])
        batch = SokobanBatch(n, shape, max_steps, action_set)
        batch.load(np.arange(n), fixed, state)
        refs = [compat.make_reference_env(f, s, max_steps=max_steps) for f, s in group]
        for _ in range(steps_per_level):
            if action_set == "gym_sokoban":
                actions = rng.integers(0, 9, n)
                gym_actions = actions
            elif action_set == "compact":
                actions = rng.integers(0, 5, n)
                gym_actions = actions  # compact 1-4 are gym-sokoban's push actions 1-4
            else:
                actions = rng.integers(0, 4, n)
                gym_actions = actions + 1  # moves 0-3 are gym-sokoban's push actions 1-4
            reward, solved, truncated, moved, pushed = batch.step(actions)
            for i, ref in enumerate(refs):
                _, r, done, info = ref.step(int(gym_actions[i]), observation_mode="tiny_rgb_array")
                np.testing.assert_array_equal(batch.room_state[i], ref.room_state)
                assert np.allclose(reward[i], r), (i, reward[i], r)
                assert bool(solved[i] or truncated[i]) == bool(done)
                assert bool(moved[i]) == bool(info["action.moved_player"])
                assert bool(pushed[i]) == bool(info["action.moved_box"])
                if done:
                    assert bool(solved[i]) == bool(info["all_boxes_on_target"])
                    batch.load([i], group[i][0][None], group[i][1][None])
                    compat.set_reference_level(ref, group[i][0], group[i][1])
                total += 1
    return total


@pytest.mark.parametrize("action_set", ["gym_sokoban", "compact", "moves"])
def test_oracle_random_actions(action_set):
    rng = np.random.default_rng(0)
    total = _run_oracle(_levels(), action_set, 120, rng, max_steps=40)
    assert total >= 5000


def test_oracle_solution_rewards():
    """Solving a level pays the same +1/-1/+10 sequence in both implementations."""
    from i2a_keras.envs.solver import solve

    f, s = generate_levels(6, (7, 7), 2, seed=5)
    for i in range(len(f)):
        res = solve(f[i], s[i])
        assert res.solved
        batch = SokobanBatch(1, (7, 7), 500, "compact")
        batch.load([0], f[i:i + 1], s[i:i + 1])
        ref = compat.make_reference_env(f[i], s[i], max_steps=500)
        rewards = []
        for a in res.actions:
            r, solved, _, _, _ = batch.step([a])
            _, rr, done, _ = ref.step(a, observation_mode="tiny_rgb_array")
            assert np.isclose(r[0], rr)
            rewards.append(r[0])
        assert solved[0] and done
        assert np.isclose(rewards[-1], -0.1 + 1 + 10)


def test_render_matches_gym_sokoban():
    render_utils = compat.import_render_utils()
    for f, s in _levels()[::7]:
        rooms = state_to_rooms(s, f)
        np.testing.assert_array_equal(render_rgb(rooms), render_utils.room_to_rgb(s, f))
        np.testing.assert_array_equal(tiny_rgb(rooms), render_utils.room_to_tiny_world_rgb(s, f))
