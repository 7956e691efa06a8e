"""The scripted MiniPacman player used to collect env-model data with the rare events (Sec. 5)."""
import numpy as np
import pytest

from i2a_keras import train
from i2a_keras.envs import minipacman_core as C
from i2a_keras.envs.minipacman_scripted import ScriptedPlayer, frame_cells, maze_distances
from i2a_keras.training.collect import CollectConfig, TransitionStore
from i2a_keras.training.config import EnvConfig

STAY, RIGHT, UP, LEFT, DOWN = range(5)


def frame(**state):
    g = C.MiniPacmanBatch(1, "hunt", rng=np.random.default_rng(0))
    g.reset()
    state.setdefault("food", np.zeros((C.HEIGHT, C.WIDTH), bool))
    g.set_state(0, **state)
    return g.frames()


def test_maze_distances_are_shortest_paths():
    dist, first = maze_distances()
    a, b = 1 * C.WIDTH + 1, 13 * C.WIDTH + 17  # opposite corners of the maze
    assert dist[a, a] == 0 and dist[a, a + 1] == 1 and dist[a, b] == dist[b, a] == 12 + 16
    # following first_move from a reaches b in exactly dist[a, b] moves
    cell, moves = a, 0
    while cell != b:
        cell, moves = C.MOVES[cell, first[cell, b]], moves + 1
    assert moves == dist[a, b]
    assert dist[a, 0] > C.NUM_CELLS  # a wall is unreachable


def test_frame_cells_reads_the_palette_and_rejects_other_colours():
    obs = frame(pacman=(1, 1), ghosts=[(3, 5, 2)], pills=[(1, 3)], power=7)
    cells = frame_cells(obs)
    assert cells[0, 1, 1] == C.PACMAN and cells[0, 3, 5] == C.GHOST + 7 and cells[0, 1, 3] == C.PILL
    np.testing.assert_array_equal(frame_cells(C.PALETTE_FLOAT[cells]), cells)  # float frames too
    bad = obs.copy()
    bad[0, 1, 2] = (7, 7, 7)
    with pytest.raises(ValueError, match="palette"):
        frame_cells(bad)
    with pytest.raises(ValueError, match="15, 19, 3"):
        frame_cells(obs[:, :5])


def test_player_chases_edible_ghosts_flees_others_and_goes_for_pills():
    player = ScriptedPlayer()
    # edible ghost two cells to the right on row 1: go right
    assert player(frame(pacman=(1, 1), ghosts=[(1, 3, 2)], power=10))[0] == RIGHT
    # the same ghost unedible and 2 cells away: move away from it (left is a wall, so down)
    assert player(frame(pacman=(1, 1), ghosts=[(1, 3, 2)]))[0] == DOWN
    # no ghost near: walk to the pill below
    assert player(frame(pacman=(1, 1), ghosts=[(13, 17, 2)], pills=[(3, 1)]))[0] == DOWN
    # epsilon = 1: uniform-random actions
    rng_player = ScriptedPlayer(epsilon=1.0, rng=np.random.default_rng(0))
    obs = np.repeat(frame(pacman=(1, 1), ghosts=[(1, 3, 2)], power=10), 400, axis=0)
    assert np.bincount(rng_player(obs), minlength=5).min() > 40
    with pytest.raises(ValueError, match="epsilon"):
        ScriptedPlayer(epsilon=1.5)


def test_scripted_collection_eats_ghosts_that_random_play_does_not(tmp_path):
    counts = {}
    for policy in ("random", "scripted"):
        out = str(tmp_path / policy)
        train.main(["collect", "--preset", "minipacman_tiny", "--out", out, "--policy", policy,
                    "--num-transitions", "4000", "--set", "tasks=hunt", "progress=false"])
        store = TransitionStore([out])
        counts[policy] = store.meta["event_counts"]
        assert store.meta["policy"]["kind"] == policy
        np.testing.assert_array_equal(store.columns["events"].sum(axis=0),
                                      [counts[policy][e] for e in C.EVENTS])
    assert counts["scripted"]["ghost"] >= 20 and counts["scripted"]["ghost"] > 5 * max(1, counts["random"]["ghost"])
    with pytest.raises(ValueError, match="scripted"):
        CollectConfig(env=EnvConfig(), policy="scripted")
