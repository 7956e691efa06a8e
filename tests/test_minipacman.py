"""MiniPacman (Sec. 5): every rule on hand-built scenarios, tasks, events and the gymnasium API.

Ghost randomness is injected as per-slot noise (move draw, random-choice draw, random-exit draw),
so each scenario's outcome is exact.
"""
import hashlib
import json
import os

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import i2a_keras.envs as E
from i2a_keras.envs import minipacman as M
from i2a_keras.envs import minipacman_core as C

STAY, RIGHT, UP, LEFT, DOWN = range(5)
D_RIGHT, D_UP, D_LEFT, D_DOWN = 2, 3, 4, 5  # the reference's ghost direction codes


def cell(r, c):
    return r * C.WIDTH + c


def food_at(*cells):
    f = np.zeros((C.HEIGHT, C.WIDTH), bool)
    for r, c in cells:
        f[r, c] = True
    return f


def game(task="regular", max_steps=3000, **state):
    g = C.MiniPacmanBatch(1, task, max_steps, rng=np.random.default_rng(0))
    g.reset()
    state.setdefault("food", food_at())
    g.set_state(0, **state)
    return g


def noise(move=1.0, rand=1.0, exit_=0.0, slots=4):
    """Per-slot noise: ``move`` < speed moves the ghost (1.0: never, up to level 6)."""
    n = np.empty((1, slots, 3))
    n[0, :, 0], n[0, :, 1], n[0, :, 2] = move, rand, exit_
    return n


def step(g, action, **kw):
    events, term, trunc = g.step(np.array([action]), noise(**kw))
    return events[0], bool(term[0]), bool(trunc[0])


def ghosts(g):
    alive = np.flatnonzero(g.ghost_alive[0])
    return [(int(g.ghost_pos[0, k]), int(g.ghost_dir[0, k])) for k in alive]


# ---------------------------------------------------------------- maze, Pacman, food

def test_maze_and_pacman_moves():
    assert C.STANDARD_MAP.shape == (15, 19) and (C.STANDARD_MAP == 0).sum() == 138
    assert C.ACTIONS == ("stay", "right", "up", "left", "down")
    g = game(pacman=(1, 1))
    # from the corner (1,1): walls above and left; (2,2) below (1,2) is a wall
    for action, expected in [(UP, (1, 1)), (LEFT, (1, 1)), (RIGHT, (1, 2)), (DOWN, (1, 2)),
                             (LEFT, (1, 1)), (DOWN, (2, 1)), (STAY, (2, 1))]:
        step(g, action)
        assert divmod(int(g.pacman[0]), C.WIDTH) == expected, action


def test_food_is_eaten_once_and_counts_as_event():
    g = game(pacman=(1, 1), food=food_at((1, 2), (1, 1)))
    ev, _, _ = step(g, RIGHT)
    assert ev.tolist() == [1, 1, 0, 0, 0] and not g.food[0, cell(1, 2)]
    ev, _, _ = step(g, STAY)  # no food left on his cell
    assert ev.tolist() == [1, 0, 0, 0, 0]
    ev, _, _ = step(g, LEFT)
    assert ev.tolist() == [1, 1, 0, 0, 0]
    assert g.level[0] == 2 and g.food[0].sum() == 138  # regular: all food eaten -> new level


# ---------------------------------------------------------------- power pills

def test_pill_gives_power_for_20_steps_and_halves_ghost_speed():
    g = game(pacman=(1, 1), pills=[(1, 2), (13, 17)], ghosts=[(13, 1, D_UP)])
    ev, _, _ = step(g, RIGHT)
    assert ev.tolist() == [1, 0, 1, 0, 0] and g.power[0] == 20
    assert g.pill_alive[0].tolist() == [False, True]
    for k in range(19):  # powered on the eating step and the 19 following ones
        step(g, STAY)
        assert g.power[0] == 19 - k
    step(g, STAY)
    assert g.power[0] == 0
    # speed 0.5 at level 1: a move draw of 0.3 moves the ghost, but not while powered (0.25)
    g = game(pacman=(1, 1), ghosts=[(13, 1, D_UP)], power=5)
    step(g, STAY, move=0.3)
    assert ghosts(g) == [(cell(13, 1), D_UP)]
    g = game(pacman=(1, 1), ghosts=[(13, 1, D_UP)], power=0)
    step(g, STAY, move=0.3)
    assert ghosts(g) == [(cell(12, 1), D_UP)]


def test_two_pills_on_one_cell_are_eaten_one_per_step():
    g = game(pacman=(1, 1), pills=[(1, 2), (1, 2)])
    assert step(g, RIGHT)[0][2] == 1 and g.pill_alive[0].tolist() == [False, True]
    assert step(g, STAY)[0][2] == 1 and not g.pill_alive[0].any()
    assert g.level[0] == 1  # regular ignores pills for level clears


# ---------------------------------------------------------------- ghosts

def test_ghost_speed_and_count_per_level():
    assert C.num_ghosts([1, 2, 3, 4, 5, 6, 7]).tolist() == [1, 1, 2, 2, 3, 3, 4]
    np.testing.assert_allclose(C.ghost_speed([1, 2, 6, 8]), [0.5, 0.6, 1.0, 1.2])
    for level, draw, moved in [(1, 0.55, False), (2, 0.55, True), (3, 0.69, True),
                               (3, 0.71, False)]:
        g = game(pacman=(1, 1), ghosts=[(13, 1, D_UP)], level=level)
        step(g, STAY, move=draw)
        assert (ghosts(g)[0][0] != cell(13, 1)) == moved, (level, draw)


def test_new_levels_place_ghosts_away_from_pacman():
    g = C.MiniPacmanBatch(400, "regular", rng=np.random.default_rng(1))
    g.reset()
    g.new_level(np.arange(400), np.repeat([1, 3, 5, 9], 100))
    assert g.ghost_alive.sum(axis=1).tolist() == [1] * 100 + [2] * 100 + [3] * 100 + [5] * 100
    pr, pc = np.divmod(g.pacman[:, None], C.WIDTH)
    gr, gc = np.divmod(g.ghost_pos, C.WIDTH)
    def box(d):
        return (gr >= np.maximum(pr - d, 1)) & (gr < pr + d) & (gc >= np.maximum(pc - d, 1)) & (gc < pc + d)
    assert not (box(5) & g.ghost_alive).any()
    assert (box(6) & g.ghost_alive).any()  # and the box is no larger
    assert C.FREE[g.ghost_pos[g.ghost_alive]].all() and C.FREE[g.pill_pos].all()
    assert set(np.unique(g.ghost_dir[g.ghost_alive])) == {0, 1, 2, 3}
    assert (g.food == C.FREE).all() and (g.power == 0).all() and g.pill_alive.all()


def test_ghost_corridor_and_corner_rules():
    g = game(pacman=(13, 17), ghosts=[(1, 6, D_RIGHT), (1, 1, D_UP), (1, 3, D_LEFT)])
    step(g, STAY, move=0.0)
    # corridor (1,6): keeps going right; corner (1,1) reached moving up: turns right, not back
    # down; (1,3) (exits left and down) moving left: keeps going left
    assert ghosts(g) == [(cell(1, 7), D_RIGHT), (cell(1, 2), D_RIGHT), (cell(1, 2), D_LEFT)]
    g = game(pacman=(13, 17), ghosts=[(1, 1, D_LEFT)])
    step(g, STAY, move=0.0)  # arrived moving left: the exit that does not reverse is down
    assert ghosts(g) == [(cell(2, 1), D_DOWN)]


def test_ghost_junction_chases_flees_never_reverses_and_breaks_ties_in_order():
    # (3,1): exits right, up, down. Coming down (reverse = up is closed); Pacman to the right.
    g = game(pacman=(3, 5), ghosts=[(3, 1, D_DOWN)])
    step(g, STAY, move=0.0)
    assert ghosts(g) == [(cell(3, 2), D_RIGHT)]
    g = game(pacman=(3, 5), ghosts=[(3, 1, D_DOWN)], power=10)
    step(g, STAY, move=0.0)
    assert ghosts(g) == [(cell(4, 1), D_DOWN)]  # flees
    # (3,3) has 4 exits; moving right with Pacman behind: left is closed, up/down tie at 0 and
    # right scores -2 -> the first best in the order right, up, left, down is up.
    g = game(pacman=(3, 1), ghosts=[(3, 3, D_RIGHT)])
    step(g, STAY, move=0.0)
    assert ghosts(g) == [(cell(2, 3), D_UP)]


def test_ghost_random_move_probability_and_exit_choice():
    for rand, exit_, expected in [(0.049, 0.0, (3, 2)), (0.049, 0.99, (4, 1)), (0.051, 0.99, (3, 2))]:
        g = game(pacman=(3, 5), ghosts=[(3, 1, D_DOWN)])
        step(g, STAY, move=0.0, rand=rand, exit_=exit_)
        assert ghosts(g)[0][0] == cell(*expected), (rand, exit_)
    # powered ghosts never move at random
    g = game(pacman=(3, 5), ghosts=[(3, 1, D_DOWN)], power=10)
    step(g, STAY, move=0.0, rand=0.0, exit_=0.0)
    assert ghosts(g)[0][0] == cell(4, 1)


def test_new_ghost_direction_quirk_of_the_reference():
    # A new ghost's direction is drawn from {0, 1, 2, 3}; 0 and 1 match no exit and reverse like
    # "left" and "down". At the corner (1,1) (exits right, down): 0 -> down, 1 -> right.
    for d, expected in [(0, (cell(2, 1), D_DOWN)), (1, (cell(1, 2), D_RIGHT)),
                        (2, (cell(1, 2), D_RIGHT)), (3, (cell(1, 2), D_RIGHT))]:
        g = game(pacman=(13, 17), ghosts=[(1, 1, d)])
        step(g, STAY, move=0.0)
        assert ghosts(g) == [expected], d


# ---------------------------------------------------------------- collisions

@pytest.mark.parametrize("pacman_moves", [True, False])
def test_unpowered_collision_kills(pacman_moves):
    if pacman_moves:  # Pacman walks onto the ghost, which does not move
        g = game(pacman=(1, 5), ghosts=[(1, 6, D_RIGHT)])
        ev, term, trunc = step(g, RIGHT)
    else:  # the ghost walks onto Pacman
        g = game(pacman=(1, 7), ghosts=[(1, 6, D_RIGHT)])
        ev, term, trunc = step(g, STAY, move=0.0)
    assert ev.tolist() == [1, 0, 0, 0, 1] and term and not trunc


def test_death_on_pacmans_cell_can_count_twice():
    # Reference quirk: a ghost met before its move (death) keeps its direction at a junction when on
    # Pacman's cell; moving left from (3,1) hits the wall, so it meets Pacman again.
    g = game(task="avoid", pacman=(3, 1), ghosts=[(3, 1, D_LEFT)])
    ev, term, _ = step(g, STAY, move=0.0)
    assert ev.tolist() == [1, 0, 0, 0, 2] and term
    assert C.task_rewards(ev, "avoid") == pytest.approx(0.1 - 40)


def test_powered_collision_eats_the_first_ghost_and_stops_the_ghost_loop():
    g = game(pacman=(1, 5), power=10, ghosts=[(1, 6, D_RIGHT), (13, 1, D_UP)])
    ev, term, _ = step(g, RIGHT, move=0.0)
    assert ev.tolist() == [1, 0, 0, 1, 0] and not term
    assert ghosts(g) == [(cell(13, 1), D_UP)]  # the second ghost did not move this step
    ev, _, _ = step(g, STAY, move=0.0)
    assert ghosts(g) == [(cell(12, 1), D_UP)] and ev[3] == 0
    assert g.level[0] == 1  # regular: eating every ghost does not clear the level


def test_ghost_moving_onto_powered_pacman_is_eaten():
    g = game(task="hunt", pacman=(1, 7), power=10, ghosts=[(13, 1, D_UP), (1, 6, D_RIGHT)])
    ev, _, _ = step(g, STAY, move=0.0)
    # slot 0 moved, slot 1 moved onto Pacman and was eaten
    assert ev.tolist() == [1, 0, 0, 1, 0] and ghosts(g) == [(cell(12, 1), D_UP)]


# ---------------------------------------------------------------- tasks: rewards and endings

def test_task_reward_vectors():
    w = {k: t.weights for k, t in C.TASKS.items()}
    assert w == {"regular": (0, 1, 2, 5, 0), "avoid": (0.1, -0.1, -5, -10, -20),
                 "hunt": (0, 0, 1, 10, -20), "ambush": (0, -0.1, 0, 10, -20),
                 "rush": (0, -0.1, 10, 0, 0)}
    ev = np.array([1, 1, 1, 1, 0])
    assert [C.task_rewards(ev, t) for t in C.TASKS] == pytest.approx([8, -15, 11, 9.9, 9.9])
    assert C.EVENTS == ("step", "food", "pill", "ghost", "killed")


@pytest.mark.parametrize("task", list(C.TASKS))
def test_death_ends_every_task(task):
    g = game(task=task, pacman=(1, 5), ghosts=[(1, 6, D_RIGHT)])
    ev, term, _ = step(g, RIGHT)
    assert term and ev[4] == 1


@pytest.mark.parametrize("task,clears", [("regular", "food"), ("avoid", "food"), ("hunt", "ghosts"),
                                         ("ambush", "ghosts"), ("rush", "pills")])
def test_level_clear_conditions(task, clears):
    """Each task starts a new level on its own condition only, with more and faster ghosts."""
    def last_food():
        return game(task=task, pacman=(1, 1), food=food_at((1, 2)), ghosts=[(13, 17, D_UP)],
                    pills=[(13, 1)], level=2)

    def last_pill():
        return game(task=task, pacman=(1, 1), pills=[(1, 2)], ghosts=[(13, 17, D_UP)], level=2)

    def last_ghost():
        return game(task=task, pacman=(1, 1), power=5, ghosts=[(1, 2, D_UP)], pills=[(13, 1)], level=2)

    for name, make in [("food", last_food), ("pills", last_pill), ("ghosts", last_ghost)]:
        g = make()
        ev, term, _ = step(g, RIGHT)
        assert not term and ev[{"food": 1, "pills": 2, "ghosts": 3}[name]] == 1
        if name == clears:
            assert g.level[0] == 3 and g.ghost_alive[0].sum() == 2, name
            assert g.food[0].sum() == 138 and g.pill_alive[0].all() and g.power[0] == 0
        else:
            assert g.level[0] == 2, name


def test_avoid_starts_a_new_level_every_128_steps():
    g = game(task="avoid", pacman=(1, 1), ghosts=[(13, 17, D_UP)], timer=126)
    step(g, STAY)
    assert not g.pending_level[0]
    frame = g.frames()[0].copy()
    step(g, STAY)  # the 128th step of the level: its frame still shows the old level
    assert g.pending_level[0] and g.level[0] == 1
    np.testing.assert_array_equal(g.frames()[0], frame)
    ev, term, _ = step(g, STAY)
    assert g.level[0] == 2 and g.timer[0] == 1 and not g.pending_level[0] and not term
    g = game(task="regular", pacman=(1, 1), ghosts=[(13, 17, D_UP)], timer=127)
    step(g, STAY)
    assert not g.pending_level[0]


def test_truncation_at_max_steps():
    g = game(pacman=(1, 1), ghosts=[(13, 17, D_UP)], max_steps=3)
    assert [step(g, STAY)[1:] for _ in range(3)] == [(False, False), (False, False), (False, True)]
    g = game(pacman=(1, 5), ghosts=[(1, 6, D_RIGHT)], max_steps=1)
    assert step(g, RIGHT)[1:] == (True, False)  # a death at the cap is a termination


# ---------------------------------------------------------------- observations

def test_frame_colours():
    g = game(pacman=(1, 1), food=food_at((1, 2)), pills=[(1, 3)], ghosts=[(13, 1, D_UP), (1, 1, D_UP)],
             power=0)
    f = g.frames(np.float32)[0]
    assert f.dtype == np.float32 and f.shape == (15, 19, 3)
    assert f[0, 0].tolist() == [1, 1, 1] and f[1, 2].tolist() == [0, 0, 1]
    assert f[1, 3].tolist() == [0, 1, 1] and f[13, 1].tolist() == [1, 0, 0]
    assert f[1, 1].tolist() == [0, 1, 0] and f[1, 4].tolist() == [1, 1, 1] and f[2, 3].tolist() == [0, 0, 0]
    for power, green, green8 in [(20, 1.0, 255), (10, 0.5, 128), (14, 0.7, 179), (1, 0.05, 13)]:
        g.power[0] = power
        assert g.frames(np.float32)[0, 13, 1].tolist() == pytest.approx([1, green, 0])
        assert g.frames(np.uint8)[0, 13, 1].tolist() == [255, green8, 0]
    np.testing.assert_allclose(C.PALETTE_UINT8 / 255.0, C.PALETTE_FLOAT, atol=0.5 / 255 + 1e-6)


# ---------------------------------------------------------------- the reference's trajectories

REFERENCE = os.path.join(os.path.dirname(__file__), "fixtures", "minipacman_reference.json")


def _replay(layouts):
    """A ``draw_level`` that returns the reference's recorded level layouts in order."""
    queue = list(layouts)

    def draw_level(levels):
        lay = queue.pop(0)
        assert lay["level"] == int(levels[0])
        pos = np.zeros((1, 8), np.int64)
        dirs = np.zeros((1, 8), np.int64)
        for k, (p, d) in enumerate(lay["ghosts"]):
            pos[0, k], dirs[0, k] = p, d
        return {"pills": np.array([lay["pills"]]), "pacman": np.array([lay["pacman"]]),
                "ghost_pos": pos, "ghost_dir": dirs}
    return draw_level


@pytest.mark.parametrize("task", list(C.TASKS))
def test_matches_recorded_reference_trajectories(task):
    """Replays 4 episodes per task recorded from DeepMind's PillEater fed the same actions, ghost
    noise and level layouts: rewards, episode ends and every float frame (SHA-256) agree."""
    with open(REFERENCE) as f:
        rec = next(t for t in json.load(f)["tasks"] if t["task"] == task)
    g = C.MiniPacmanBatch(1, task, rec["max_steps"])
    noise_rng = np.random.default_rng(rec["noise_seed"])
    for ep in rec["episodes"]:
        g.draw_level = _replay(ep["layouts"])
        g.reset()
        if ep["start_level"] > 1:
            g.new_level([0], ep["start_level"])
        digest = hashlib.sha256(g.frames(np.float32)[0].tobytes())
        for t, action in enumerate(ep["actions"]):
            events, term, trunc = g.step(np.array([action]), noise_rng.random((rec["noise_slots"], 3))[None])
            assert C.task_rewards(events[0], task) == pytest.approx(ep["rewards"][t], abs=1e-9)
            assert bool(term[0] or trunc[0]) == (t == len(ep["actions"]) - 1)
            digest.update(g.frames(np.float32)[0].tobytes())
        assert bool(term[0]) == ep["terminated"]
        assert digest.hexdigest() == ep["frames_sha256"]


# ---------------------------------------------------------------- gymnasium API

@pytest.mark.parametrize("observation", M.OBSERVATIONS)
@pytest.mark.filterwarnings("error")
def test_check_env(observation):
    env = gym.make(E.MINIPACMAN_ENV_ID, task="hunt", observation=observation, render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)
    obs, info = env.reset(seed=0)
    assert obs.shape == (15, 19, 3) and obs.dtype == (np.uint8 if observation == "rgb" else np.float32)
    assert env.action_space.n == 5 and info["level"] == 1
    assert env.render().shape == (15 * 8, 19 * 8, 3)


@pytest.mark.parametrize("task", list(C.TASKS))
def test_events_consistent_with_rewards(task):
    v = M.make_vec(32, task=task, max_steps=60, seed=3)
    v.reset()
    rng = np.random.default_rng(0)
    seen = np.zeros(5, np.int64)
    for _ in range(150):
        obs, r, term, trunc, info = v.step(rng.integers(0, 5, 32))
        ev = info["events"]
        assert ev.shape == (32, 5) and (ev[:, 0] == 1).all()
        np.testing.assert_allclose(r, ev @ np.array(C.TASKS[task].weights), rtol=0, atol=1e-5)
        np.testing.assert_array_equal(term, ev[:, 4] > 0)
        seen += ev.sum(axis=0)
    assert (seen[[1, 4]] > 0).all()
    single = gym.make(E.MINIPACMAN_ENV_ID, task=task)
    single.reset(seed=1)
    for _ in range(40):
        _, r, term, trunc, info = single.step(int(rng.integers(0, 5)))
        assert r == pytest.approx(float(info["events"] @ np.array(C.TASKS[task].weights)))
        if term or trunc:
            single.reset()


def _rollout(env, seed, n=80):
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(5)
    out = [obs]
    for _ in range(n):
        obs, *_ = env.step(rng.integers(0, 5, env.num_envs))
        out.append(obs)
    return np.stack(out)


def test_seeding_reproducible():
    a = _rollout(M.make_vec(4, task="rush", max_steps=30), 7)
    b = _rollout(gym.make_vec(E.MINIPACMAN_ENV_ID, num_envs=4, vectorization_mode="vector_entry_point",
                              task="rush", max_steps=30), 7)
    c = _rollout(M.make_vec(4, task="rush", max_steps=30), 8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    e1, e2 = M.MiniPacmanEnv(task="avoid", seed=3), M.MiniPacmanEnv(task="avoid", seed=3)
    o1, o2 = e1.reset()[0], e2.reset()[0]
    for k in range(50):
        np.testing.assert_array_equal(o1, o2)
        o1, r1, t1, u1, _ = e1.step(k % 5)
        o2, r2, t2, u2, _ = e2.step(k % 5)
        assert (r1, t1, u1) == (r2, t2, u2)
        if t1 or u1:
            o1, o2 = e1.reset()[0], e2.reset()[0]


@pytest.mark.parametrize("mode", ["same_step", "next_step"])
def test_vector_autoreset(mode):
    n = 8
    v = M.make_vec(n, task="regular", max_steps=4, autoreset_mode=mode, seed=0)
    v.reset()
    for t in range(4):
        last = v.game.frames().copy()
        obs, r, term, trunc, info = v.step(np.zeros(n, int))
    done = term | trunc
    assert done.all() and info["_episode"].all()
    np.testing.assert_array_equal(info["episode"]["l"], np.where(term, info["episode"]["l"], 4))
    if mode == "same_step":
        assert info["_final_obs"].all() and (v.game.steps == 0).all()
        assert not np.array_equal(info["final_obs"], obs)
        np.testing.assert_array_equal(obs, v.game.frames())
        np.testing.assert_array_equal(info["final_info"]["events"], info["events"])
        # a stay action changes only ghosts and Pacman's cell: the old episode's frame
        assert (info["final_obs"] == last).mean() > 0.95
    else:
        assert "final_obs" not in info
        obs, r, term, trunc, info = v.step(np.ones(n, int))
        assert (r == 0).all() and not (term | trunc).any() and (v.game.steps == 0).all()
        assert (info["events"] == 0).all()


def test_bad_input_errors():
    with pytest.raises(ValueError, match="unknown MiniPacman task"):
        gym.make(E.MINIPACMAN_ENV_ID, task="chase")
    with pytest.raises(ValueError, match="unknown MiniPacman task"):
        C.MiniPacmanBatch(2, "Regular")
    with pytest.raises(ValueError, match="observation"):
        M.MiniPacmanConfig(observation="pixels")
    env = M.MiniPacmanEnv(task="rush")
    env.reset(seed=0)
    for bad in [5, -1, 1.5, True]:
        with pytest.raises(ValueError, match="actions must"):
            env.step(bad)
    v = M.make_vec(3, seed=0)
    v.reset()
    with pytest.raises(ValueError, match="shape"):
        v.step(np.zeros(2, int))
    with pytest.raises(RuntimeError, match="reset"):
        C.MiniPacmanBatch(1).step(np.zeros(1, int))
    with pytest.raises(ValueError, match="free cell"):
        game(pacman=(0, 0))
