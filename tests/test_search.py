"""Planners (Sec. 4.2-4.3): clone/restore, perfect model, MC search, MCTS, outer loop, ``search`` CLI.

Hand-made levels with known optimal solutions (compact actions: 0 no-op, 1 up, 2 down, 3 left,
4 right); the search tests use an uninformed evaluator (uniform prior, zero value), so what solves
the levels is the search itself.
"""
import json
import os

import numpy as np
import pytest

from i2a_keras.envs.boxoban import parse_boxoban_text
from i2a_keras.envs.core import SokobanBatch
from i2a_keras.envs.generator import generate_levels
from i2a_keras.envs.observations import rooms_to_observation
from i2a_keras.search import (MCSearch, MCSearchConfig, MCTS, MCTSConfig, PerfectModel,
                              play_levels)
from i2a_keras.train import cli

RIGHT = 4
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAINED = os.path.join(ROOT, "assets", "pretrained")

# One move solves it (push right); every other action bumps a wall or waits.
DEAD_END = "#####\n#@$.#\n#####"
# One push to the right; the player may also wander into the row below.
ONE_PUSH = "#####\n#@$.#\n#   #\n#####"
# Two boxes, targets at both ends: 3 moves (left, right, right or its mirror).
TWO_BOXES = "#######\n#.$@$.#\n#     #\n#######"
# The box must turn a corner: 5 moves (e.g. right, down, left, down, right).
CORNER = "######\n#@   #\n# $  #\n#  . #\n######"
OPTIMAL_MOVES = {TWO_BOXES: 3, CORNER: 5}


def level(text):
    f, s, _ = parse_boxoban_text("; 0\n" + text + "\n", dim_room=None)
    return f[0], s[0]


def uninformed(obs):
    return np.zeros((len(obs), 5), np.float32), np.zeros(len(obs), np.float32)


def uniform_policy(obs):
    return np.zeros((obs.shape[0], 5), np.float32)


def make_mcts(fixed, num_simulations, max_steps=30, evaluate=uninformed):
    return MCTS(evaluate, fixed.shape, max_steps, "compact", "one_hot",
                MCTSConfig(num_simulations=num_simulations))


# ---------------------------------------------------------------------------------------------
# clone / restore


def test_clone_restore_round_trips_exactly():
    f, s = generate_levels(4, (7, 7), 2, seed=3)
    batch = SokobanBatch(4, (7, 7), max_steps=50, action_set="compact")
    batch.load(np.arange(4), f, s)
    rng = np.random.default_rng(0)
    for _ in range(6):
        batch.step(rng.integers(0, 5, 4))
    saved = batch.get_state(2)
    actions = rng.integers(0, 5, (10, 4))
    first = [batch.step(a)[0][2] for a in actions]
    batch.set_state(2, saved)
    restored = batch.get_state(2)
    for name in saved.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(restored, name), getattr(saved, name))
    again = [batch.step(a)[0][2] for a in actions]
    np.testing.assert_array_equal(first, again)
    # restored into another batch (the simulator), the room continues identically
    other = SokobanBatch(1, (7, 7), max_steps=50, action_set="compact")
    other.set_state(0, saved)
    np.testing.assert_array_equal([other.step(a[2:3])[0][0] for a in actions], first)
    assert saved.num_env_steps == 6 and other.num_env_steps[0] == 16


def test_state_key_is_player_and_boxes_only():
    f, s = level(ONE_PUSH)
    batch = SokobanBatch(2, f.shape, max_steps=30, action_set="compact")
    batch.load([0, 1], np.stack([f, f]), np.stack([s, s]))
    batch.step(np.array([0, 2]))  # room 0 waits, room 1 moves down
    batch.step(np.array([0, 1]))  # room 1 comes back up: same position, other step count
    a, b = batch.get_state(0), batch.get_state(1)
    assert a.key == b.key and a.num_env_steps == b.num_env_steps == 2
    batch.step(np.array([2, 0]))
    assert batch.get_state(0).key != batch.get_state(1).key


# ---------------------------------------------------------------------------------------------
# perfect model and MC search


def test_perfect_model_equals_the_env():
    # a box that starts on its target: pushing it off pays -1.1, as in the real env
    f, s = level("######\n#@*  #\n#$  .#\n######")
    env = SokobanBatch(5, f.shape, max_steps=30, action_set="compact")
    env.load(np.arange(5), np.stack([f] * 5), np.stack([s] * 5))
    env.boxes_on_target[:] = env.num_boxes - env.uncovered
    obs = rooms_to_observation(env.rooms(), "one_hot")
    model = PerfectModel("one_hot", "compact")
    next_obs, reward = model.predict_next(obs.astype(np.float32), np.arange(5))
    true_reward, *_ = env.step(np.arange(5))
    np.testing.assert_array_equal(np.asarray(next_obs), rooms_to_observation(env.rooms(), "one_hot"))
    np.testing.assert_allclose(np.asarray(reward), true_reward)
    assert np.isclose(true_reward[RIGHT], -1.1) and model.transitions == 5


@pytest.mark.parametrize("tau", [1, 3])
def test_mc_search_with_a_perfect_model_pushes_the_box(tau):
    f, s = level(ONE_PUSH)
    obs = rooms_to_observation(s[None], "one_hot")
    search = MCSearch(PerfectModel("one_hot", "compact"), uniform_policy, None, 5,
                      MCSearchConfig(rollout_length=tau, greedy=True))
    scores = search.scores(obs, np.random.default_rng(0))[0]
    assert np.isclose(scores[RIGHT], 10.9)  # step penalty + box on target + solved, then no more
    # a later solve is discounted; with tau = 1 no other first action can solve
    assert scores[RIGHT] > np.delete(scores, RIGHT).max() + (10 if tau == 1 else 0)
    assert search.act(obs, np.random.default_rng(0))[0] == RIGHT


def test_mc_search_counts_imagined_steps_exactly():
    f, s = level(CORNER)
    model = PerfectModel("one_hot", "compact")
    search = MCSearch(model, uniform_policy, None, 5,
                      MCSearchConfig(rollout_length=3, num_rollouts=2, temperature=0.5))
    results = play_levels(search.act, f[None], s[None], 8, "compact", "one_hot",
                          np.random.default_rng(1),
                          imagined_steps_per_decision=search.imagined_steps_per_decision)
    assert search.imagined_steps_per_decision == 5 * 3 * 2
    assert results[0].imagined_steps == model.transitions == results[0].steps * 30


def test_mc_search_with_a_copy_model_sees_no_difference():
    from i2a_keras.models.env_model import CopyModel

    f, s = level(ONE_PUSH)
    obs = rooms_to_observation(s[None], "one_hot")
    search = MCSearch(CopyModel(obs_shape=obs.shape[1:], num_actions=5), uniform_policy, None, 5,
                      MCSearchConfig(rollout_length=2))
    np.testing.assert_allclose(search.scores(obs, np.random.default_rng(0)), 0.0)


@pytest.mark.skipif(not os.path.isfile(os.path.join(PRETRAINED, "env_model_small.keras")),
                    reason="pretrained env model not present")
def test_mc_search_with_the_learned_env_model_pushes_the_box():
    from i2a_keras.models.env_model import load_env_model

    f, s = level("#######\n#     #\n# @$. #\n#     #\n#     #\n#     #\n#######")
    obs = rooms_to_observation(s[None], "one_hot")
    search = MCSearch(load_env_model(os.path.join(PRETRAINED, "env_model_small.keras")),
                      uniform_policy, None, 5, MCSearchConfig(rollout_length=1, greedy=True))
    assert search.act(obs, np.random.default_rng(0))[0] == RIGHT


def test_mc_search_rejects_bad_settings():
    for bad in (dict(rollout_length=0), dict(rollout_length=6), dict(temperature=0.0),
                dict(num_rollouts=0)):
        with pytest.raises(ValueError, match="mc\\."):
            MCSearchConfig(**bad)


# ---------------------------------------------------------------------------------------------
# MCTS


@pytest.mark.parametrize("text", [TWO_BOXES, CORNER])
def test_mcts_with_a_large_budget_solves_optimally(text):
    f, s = level(text)
    result = make_mcts(f, 300).play(f, s)
    assert result.solved and result.steps == OPTIMAL_MOVES[text]


def test_mcts_with_a_tiny_budget_fails_the_corner_level():
    f, s = level(CORNER)
    result = make_mcts(f, 1, max_steps=8).play(f, s)
    assert not result.solved and result.steps == 8


def test_mcts_budget_of_k_simulations_costs_k_steps_on_a_dead_end():
    # every action either ends the episode or returns to the root: one step per simulation, and
    # the tree persists across real moves: with 1 simulation per move, each move tries the next
    # untried action (no-op, up, down, left wait in place) until the 5th, right, solves
    f, s = level(DEAD_END)
    for k, moves in ((1, 5), (7, 1), (50, 1)):
        result = make_mcts(f, k).play(f, s)
        assert result.solved and result.steps == moves
        assert result.simulated_steps == k * moves and result.evaluations == 1


def test_mcts_counts_every_simulator_step_and_evaluates_each_position_once():
    f, s = level(CORNER)
    calls = {"step": 0, "evaluate": 0}

    def evaluate(obs):
        calls["evaluate"] += 1
        return uninformed(obs)

    mcts = make_mcts(f, 40, evaluate=evaluate)
    step = mcts.simulator.step

    def counting_step(actions):
        calls["step"] += 1
        return step(actions)

    mcts.simulator.step = counting_step
    result = mcts.play(f, s)
    assert result.simulated_steps == calls["step"] > 40 * result.steps
    # transposition table: one evaluation per distinct position, however often it is reached
    assert result.evaluations == calls["evaluate"] == len(mcts.table)
    positions = {(k[0], k[1]) for k in mcts.table}
    assert len(positions) == len(mcts.table)


def test_mcts_step_cap_stops_the_level():
    f, s = level(CORNER)
    mcts = MCTS(uninformed, f.shape, 30, "compact", "one_hot",
                MCTSConfig(num_simulations=100, max_simulated_steps=25))
    result = mcts.play(f, s)
    assert not result.solved and result.simulated_steps == 25 and result.steps == 1


# ---------------------------------------------------------------------------------------------
# outer loop (I2A + MC retries)


def cycling_policy():
    calls = {"n": 0}

    def act(obs, rng):
        calls["n"] += 1
        return np.full(len(obs), (calls["n"] - 1) % 5)
    return act


def test_outer_loop_retries_until_the_first_solve():
    f, s = level(DEAD_END)  # max_steps=1: one move per attempt; only the 5th action (right) solves
    [result] = play_levels(cycling_policy(), f[None], s[None], 1, "compact", "one_hot",
                           np.random.default_rng(0), attempts=10, imagined_steps_per_decision=25)
    assert result.solved and result.attempts == 5 and result.steps == 5
    assert result.imagined_steps == 5 * 25 and result.simulated_steps == 5
    [result] = play_levels(cycling_policy(), f[None], s[None], 1, "compact", "one_hot",
                           np.random.default_rng(0), attempts=3, imagined_steps_per_decision=25)
    assert not result.solved and result.attempts == 3 and result.imagined_steps == 75
    [single] = play_levels(cycling_policy(), f[None], s[None], 1, "compact", "one_hot",
                           np.random.default_rng(0), attempts=1, imagined_steps_per_decision=25)
    assert single.simulated_steps == 0 and single.imagined_steps == 25


# ---------------------------------------------------------------------------------------------
# the search subcommand


needs_pretrained = pytest.mark.skipif(
    not os.path.isfile(os.path.join(PRETRAINED, "i2a_small_1box.keras")),
    reason="pretrained checkpoints not present")


@needs_pretrained
def test_search_cli_writes_a_record_per_planner(tmp_path, capsys):
    out = str(tmp_path / "search.jsonl")
    mf = os.path.join(PRETRAINED, "model_free_small_1box.keras")
    i2a = os.path.join(PRETRAINED, "i2a_small_1box.keras")
    common = ["--out", out, "--set", "num_levels=3", "progress=false"]
    runs = [["--planner", "mcts", "--checkpoint", mf, "--set", "mcts.num_simulations=5"],
            ["--planner", "mc", "--checkpoint", mf, "--rollout-policy", i2a,
             "--set", "mc.rollout_length=2"],
            ["--planner", "i2a-retry", "--checkpoint", i2a, "--set", "attempts=2"]]
    for argv in runs:
        assert cli(["search"] + argv + common) == 0
    records = [json.loads(line) for line in open(out)]
    assert [r["planner"] for r in records] == ["mcts", "mc", "i2a-retry"]
    for r in records:
        assert len(r["levels"]["solved"]) == 3 and 0.0 <= r["solve_rate"] <= 1.0
    mcts, mc, retry = records
    assert mcts["simulated_steps_per_level"] >= 5 and mcts["imagined_steps_per_level"] == 0
    assert mc["levels"]["imagined_steps"] == [n * 5 * 2 for n in mc["levels"]["steps"]]
    assert retry["levels"]["imagined_steps"] == [n * 5 * 5 for n in retry["levels"]["steps"]]
    assert retry["levels"]["simulated_steps"] == retry["levels"]["steps"]


@pytest.mark.parametrize("argv,status,message", [
    (["--planner", "astar", "--checkpoint", "x.keras"], 2, "invalid choice: 'astar'"),
    (["--checkpoint", "x.keras", "--set", "planner=astar"], 2, "unknown planner 'astar'"),
    (["--planner", "mcts", "--checkpoint", "missing.keras"], 1, "'missing.keras' does not exist"),
    (["--planner", "mc", "--checkpoint", "x.keras", "--set", "mc.rollout_length=6"], 2,
     "mc.rollout_length (tau) must be in 1..5, got 6"),
])
def test_search_cli_bad_input_is_one_clear_line(argv, status, message, capsys):
    with pytest.raises(SystemExit) as exc:
        code = cli(["search"] + argv)
        raise SystemExit(code)
    assert exc.value.code == status
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and message in err[0]


@needs_pretrained
def test_search_cli_rejects_the_wrong_kind_of_checkpoint(capsys):
    i2a = os.path.join(PRETRAINED, "i2a_small_1box.keras")
    assert cli(["search", "--planner", "mcts", "--checkpoint", i2a, "--out", ""]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs model-free" in err[0]
